"""Putting a SQLite connection in WAL mode when other processes open the same file at once.

Two replicas starting together on one new file both switch it to WAL. SQLite answers that
switch SQLITE_BUSY ("database is locked") at once, without waiting for its busy timeout, when
the other connection is switching or recovering the write-ahead log at that moment, which
stopped the second replica at start-up. The switch is retried for a bounded time instead.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Protocol

WAL_SWITCH_PATIENCE_SECONDS = 30.0


class _Executes(Protocol):
    def execute(self, sql: str, /) -> object: ...


def enable_wal(
    connection: _Executes,
    *,
    patience_seconds: float = WAL_SWITCH_PATIENCE_SECONDS,
    sleep: float = 0.02,
) -> None:
    """Switch `connection` to WAL journaling, retrying while another connection holds it."""
    deadline = time.monotonic() + patience_seconds
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(sleep)
        sleep = min(sleep * 2, 0.5)
