"""Structured logs: one JSON object per line, for every line a service process writes.

Each line names the service and, inside a command, its correlation id and tenant. The
libraries' loggers are routed here too: FastStream installs coloured plain-text handlers of its
own (and stops propagation), Python warnings and uncaught exceptions would print tracebacks;
after `configure_logging` all of them come out as JSON lines.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import types
from datetime import UTC, datetime
from typing import Any

from services.shared.eventstore import current_command_context

# Attributes every LogRecord has; anything else on a record came from `extra=` (ours, or the
# topic and group FastStream attaches) and is worth keeping.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Loggers of libraries that bring their own handlers (FastStream: a coloured text handler).
LIBRARY_LOGGERS = ("faststream",)


class JsonLogFormatter(logging.Formatter):
    """Every record as one JSON line; a traceback stays inside the object, never on extra lines."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.service is not None:
            entry["service"] = self.service
        context = current_command_context()
        if context is not None:
            entry["correlation_id"] = context.correlation_id
            entry["tenant_id"] = context.tenant_id
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry and value not in ("", None):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def configure_logging(level: int = logging.INFO, *, service: str | None = None) -> None:
    """JSON lines on standard output for the root logger and every library logger."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLogFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in LIBRARY_LOGGERS:
            route_to_root(logging.getLogger(name))
    for name in LIBRARY_LOGGERS:
        route_to_root(logging.getLogger(name))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def route_to_root(library_logger: logging.Logger) -> None:
    library_logger.handlers.clear()
    library_logger.propagate = True
    library_logger.setLevel(logging.NOTSET)


def library_logger(name: str) -> logging.Logger:
    """A logger for a library that takes one (FastStream's brokers): it writes through ours."""
    return logging.getLogger(f"faststream.{name}")


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: types.TracebackType | None
) -> None:
    logging.getLogger("northstar").critical("uncaught exception", exc_info=(kind, error, traceback))


def _log_uncaught_in_thread(args: Any) -> None:
    if args.exc_type is SystemExit:
        return
    logging.getLogger("northstar").critical(
        "uncaught exception in thread %s",
        getattr(args.thread, "name", "?"),
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
