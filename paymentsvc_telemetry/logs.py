"""Log set-up: JSON lines in production, readable text in development.

Every record carries the current request id and trace id, so that one
request can be followed through every line it wrote. Logs go to stderr;
rotation and shipping are the platform's business.
"""

from __future__ import annotations

import logging
import sys

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from paymentsvc_telemetry import request_ids

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s"


class RequestContext(logging.Filter):
    """Adds request_id and trace_id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_ids.current() or "-"
        span = trace.get_current_span().get_span_context()
        record.trace_id = format(span.trace_id, "032x") if span.is_valid else "-"
        return True


def configure_logging(level: str, *, as_json: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestContext())
    if as_json:
        handler.setFormatter(
            JsonFormatter(
                JSON_FIELDS,
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The stripe library logs request bodies (customer emails among them) at
    # DEBUG; nothing below INFO leaves it.
    logging.getLogger("stripe").setLevel(max(root.level, logging.INFO))
