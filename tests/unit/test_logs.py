"""Logs are one JSON object per line, tracebacks included, with the command's correlation id."""

from __future__ import annotations

import json
import logging
import sys

from services.shared.eventstore import CommandContext, command_context
from services.shared.logs import JsonLogFormatter


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError('broker "down"')
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord("services.test", logging.ERROR, __file__, 1, message, args, exc_info)


def test_quotes_and_tracebacks_stay_inside_one_json_line() -> None:
    line = JsonLogFormatter().format(record('relay "%s" failed', "goals", exc=True))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == 'relay "goals" failed'
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "services.test"
    assert 'RuntimeError: broker "down"' in entry["exception"]


def test_a_command_context_adds_its_correlation_id_and_tenant() -> None:
    with command_context(CommandContext("acme", "p1", correlation_id="c-42")):
        entry = json.loads(JsonLogFormatter().format(record("saved")))
    assert entry["correlation_id"] == "c-42"
    assert entry["tenant_id"] == "acme"
    outside = json.loads(JsonLogFormatter().format(record("idle")))
    assert "correlation_id" not in outside
