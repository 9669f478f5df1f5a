"""The one type alias every module shares: a Stripe object as JSON."""

from typing import Any

JSON = dict[str, Any]
