"""Structured logs: one JSON object per line, with the correlation id of the current command."""

from __future__ import annotations

import json
import logging
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
