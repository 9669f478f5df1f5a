"""Log set-up: JSON lines in production, readable text in development.

Every record carries the current request id and trace id, so that one
request can be followed through every line it wrote. Logs go to stderr;
rotation and shipping are the platform's business.
"""

from __future__ import annotations

import atexit
import logging
import queue
import sys
from logging.handlers import QueueHandler, QueueListener

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from paymentsvc_observability import request_ids

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s"


class RequestContext(logging.Filter):
    """Adds request_id and trace_id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_ids.current() or "-"
        span = trace.get_current_span().get_span_context()
        record.trace_id = format(span.trace_id, "032x") if span.is_valid else "-"
        return True


_listener: QueueListener | None = None


def configure_logging(level: str, *, as_json: bool) -> None:
    """Request threads only queue their records; one thread formats and writes
    them, so that many threads logging at once do not queue on a stream lock."""
    global _listener
    stop_logging()
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(
            JsonFormatter(
                JSON_FIELDS,
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    enqueue = QueueHandler(records)
    # Runs on the logging thread, where the request's context is.
    enqueue.addFilter(RequestContext())
    _listener = QueueListener(records, handler)
    _listener.start()
    atexit.register(stop_logging)
    root = logging.getLogger()
    root.handlers[:] = [enqueue]
    root.setLevel(level)
    # The stripe library logs request bodies (customer emails among them) at
    # DEBUG; nothing below INFO leaves it.
    logging.getLogger("stripe").setLevel(max(root.level, logging.INFO))


def stop_logging() -> None:
    """Writes out what is queued and stops the writer thread."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
