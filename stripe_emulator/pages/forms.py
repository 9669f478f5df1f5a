"""Reading a page's form posts, and answering them."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of an `application/x-www-form-urlencoded` post (first value of each)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {name: values[0] for name, values in parse_qs(body, keep_blank_values=True).items()}


def see_other(url: str) -> RedirectResponse:
    # 303: the browser follows a form post with a GET, as after Stripe's pages.
    return RedirectResponse(url, status_code=303)
