"""Structured logs: one JSON object per line, for every line a service process writes.

Each line names the service and, inside a command, its correlation id and tenant. The
libraries' loggers are routed here too: FastStream installs coloured plain-text handlers of its
own (and stops propagation), Python warnings and uncaught exceptions would print tracebacks;
after `configure_logging` all of them come out as JSON lines. The Kafka client's repeated
warnings are rate-limited.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import types
from collections.abc import Callable
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


KAFKA_CLIENT_LOGGER = "aiokafka"
DEFAULT_REPEAT_INTERVAL_SECONDS = 30.0


class RepeatedWarningsFilter(logging.Filter):
    """Lets through one warning (or error) per logger and message template per interval, and
    says in that line how many like it were held back since the last one.

    While the broker is unreachable the Kafka client logs every reconnect attempt of every
    connection, 130 to 170 lines a second per service, which buries everything else. The
    template (the message before its arguments) groups "Unable connect to node with id 1" with
    "... id 2": the line let through tells the kind of failure and how often it happened.
    Lines below WARNING pass untouched.
    """

    def __init__(
        self,
        interval_seconds: float = DEFAULT_REPEAT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval_seconds = interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last_shown: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self._clock()
        with self._lock:
            shown = self._last_shown.get(key)
            if shown is not None and now - shown < self.interval_seconds:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            self._last_shown[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed and shown is not None:
            # Appended to the template, so the record's own arguments still fill it.
            record.msg = (
                f"{record.msg} ({suppressed} more like this in the last {now - shown:.0f} s "
                "were not logged)"
            )
        return True


def rate_limit_kafka_client_logs(
    interval_seconds: float = DEFAULT_REPEAT_INTERVAL_SECONDS,
) -> RepeatedWarningsFilter:
    """Installs one RepeatedWarningsFilter on every logger of the Kafka client (a logger's
    filters see only its own records, not its children's); installing again replaces it."""
    import aiokafka  # noqa: F401 (imports its modules, which create their loggers)

    limiter = RepeatedWarningsFilter(interval_seconds)
    names = [KAFKA_CLIENT_LOGGER] + [
        name
        for name in list(logging.root.manager.loggerDict)
        if name.startswith(KAFKA_CLIENT_LOGGER + ".")
    ]
    for name in names:
        logger = logging.getLogger(name)
        for existing in [f for f in logger.filters if isinstance(f, RepeatedWarningsFilter)]:
            logger.removeFilter(existing)
        logger.addFilter(limiter)
    return limiter
