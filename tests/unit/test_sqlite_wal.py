"""A replica opening a SQLite file another one is switching to WAL waits its turn."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from services.shared.sqlite_wal import enable_wal


class BusyAtFirst:
    """A connection that answers "database is locked" the first `busy` times, as SQLite does
    (without waiting for its busy timeout) while another process switches the journal."""

    def __init__(self, busy: int, message: str = "database is locked") -> None:
        self.busy = busy
        self.message = message
        self.statements: list[str] = []

    def execute(self, sql: str, /) -> object:
        self.statements.append(sql)
        if len(self.statements) <= self.busy:
            raise sqlite3.OperationalError(self.message)
        return None


def test_a_locked_switch_is_retried_until_it_succeeds() -> None:
    connection = BusyAtFirst(busy=3)
    enable_wal(connection, sleep=0.001)
    assert connection.statements == ["PRAGMA journal_mode=WAL"] * 4


def test_a_switch_still_locked_after_the_patience_is_an_error() -> None:
    connection = BusyAtFirst(busy=10_000)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enable_wal(connection, patience_seconds=0.05, sleep=0.001)


def test_another_error_is_not_retried() -> None:
    connection = BusyAtFirst(busy=1, message="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk"):
        enable_wal(connection, sleep=0.001)
    assert len(connection.statements) == 1


def test_a_real_file_ends_in_wal_mode(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "read-model.db", isolation_level=None)
    enable_wal(connection)
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
