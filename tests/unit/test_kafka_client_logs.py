"""The Kafka client's repeated warnings reach the log once per interval, with a count."""

from __future__ import annotations

import logging

import pytest

from services.shared.logs import RepeatedWarningsFilter, rate_limit_kafka_client_logs


def record(message: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("aiokafka", level, "client.py", 435, message, args, None)


def test_repeats_within_the_interval_are_held_back_and_counted_in_the_next_line() -> None:
    clock = [0.0]
    limiter = RepeatedWarningsFilter(30.0, clock=lambda: clock[0])
    template = "Unable connect to node with id %s: %s"

    assert limiter.filter(record(template, 1, "refused"))
    shown = [limiter.filter(record(template, node, "refused")) for node in (1, 2) * 50]
    clock[0] = 31.0
    next_line = record(template, 2, "refused")

    assert not any(shown)
    assert limiter.filter(next_line)
    assert next_line.getMessage() == (
        "Unable connect to node with id 2: refused (100 more like this in the last 31 s were "
        "not logged)"
    )


def test_other_kinds_of_warning_and_info_lines_pass() -> None:
    limiter = RepeatedWarningsFilter(30.0, clock=lambda: 0.0)

    assert limiter.filter(record("Unable connect to %s", "a"))
    assert limiter.filter(record("Unable to update metadata from %s", [1]))
    assert all(limiter.filter(record("Discovered coordinator", level=logging.INFO)) for _ in "ab")


def test_installed_on_every_kafka_client_logger(caplog: pytest.LogCaptureFixture) -> None:
    rate_limit_kafka_client_logs(60.0)
    conn = logging.getLogger("aiokafka.conn")
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(20):
                conn.warning("Connection to %s lost", "127.0.0.1:9092")
                logging.getLogger("aiokafka").error("Unable connect to %s", "node 1")
        assert [r.getMessage() for r in caplog.records] == [
            "Connection to 127.0.0.1:9092 lost",
            "Unable connect to node 1",
        ]
    finally:
        rate_limit_kafka_client_logs(0.0)  # leave the loggers as open as other tests expect
