"""Structured logs: one JSON object per line, with the request id of the RPC being served.

Lines are bounded: each text field is cut to `MAX_LOG_FIELD_CHARS` (a traceback to
`MAX_LOG_EXC_CHARS`), and a line still longer than `MAX_LOG_LINE_CHARS` keeps only its standard
fields and says it was cut, so no request (a 3 MB name) is ever written back at full size.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from foundry.runtime.errors import bounded

MAX_LOG_FIELD_CHARS = 2000
MAX_LOG_EXC_CHARS = 8000
MAX_LOG_LINE_CHARS = 16000
_STANDARD = ("ts", "level", "service", "logger", "msg", "request_id")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged.
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        entry = {bounded(str(k), 100): _field(v) for k, v in entry.items()}
        if record.exc_info:
            entry["exc"] = bounded(self.formatException(record.exc_info), MAX_LOG_EXC_CHARS)
        line = json.dumps(entry, default=str, ensure_ascii=False)
        if len(line) <= MAX_LOG_LINE_CHARS:
            return line
        kept = {k: entry[k] for k in _STANDARD if k in entry}
        kept["truncated"] = f"line of {len(line)} chars cut to its standard fields"
        return json.dumps(kept, default=str, ensure_ascii=False)


class BoundedFormatter(logging.Formatter):
    """The plain-text format, each line cut to `MAX_LOG_LINE_CHARS`."""

    def format(self, record: logging.LogRecord) -> str:
        return bounded(super().format(record), MAX_LOG_LINE_CHARS)


def _field(value: Any) -> Any:
    """`value` with its text cut to `MAX_LOG_FIELD_CHARS` (numbers, booleans, None kept)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, default=str, ensure_ascii=False)
        return value if len(text) <= MAX_LOG_FIELD_CHARS else bounded(text, MAX_LOG_FIELD_CHARS)
    return bounded(value if isinstance(value, str) else str(value), MAX_LOG_FIELD_CHARS)


def configure_logging(service: str, level: str = "INFO", json_lines: bool = True) -> None:
    """Route the root logger to stderr, as JSON lines or as plain text."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(BoundedFormatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
