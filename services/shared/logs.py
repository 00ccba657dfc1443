"""Structured logs: one JSON object per line, with the correlation id of the current command;
the Kafka client's repeated warnings rate-limited."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from services.shared.eventstore import current_command_context


class JsonLogFormatter(logging.Formatter):
    """Every record as one JSON line; a traceback stays inside the object, never on extra lines."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = current_command_context()
        if context is not None:
            entry["correlation_id"] = context.correlation_id
            entry["tenant_id"] = context.tenant_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


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
