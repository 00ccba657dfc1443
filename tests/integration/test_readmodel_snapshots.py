"""Read-only snapshots: queries never wait for the writer and cannot write."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from services.shared.readmodel import ReadModelDatabase
from tests.integration.conftest import conninfo_to_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReadModelDatabase]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rm.db'}"
    else:
        url = conninfo_to_url(request.getfixturevalue("postgres_schema_dsn"))
    database = ReadModelDatabase(url, schema="snapshots")
    with database.transaction() as tx:
        tx.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n BIGINT)")
        tx.execute("INSERT INTO counters (name, n) VALUES (?, ?)", ("a", 1))
    yield database
    database.close()


def test_a_query_reads_committed_data_while_a_write_is_open(db: ReadModelDatabase) -> None:
    writing, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with db.transaction() as tx:
            tx.execute("UPDATE counters SET n = ? WHERE name = ?", (2, "a"))
            writing.set()
            release.wait(10)

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert writing.wait(10)
        assert db.read("SELECT n FROM counters WHERE name = ?", ("a",)) == [(1,)]
    finally:
        release.set()
        writer.join()
    assert db.read("SELECT n FROM counters WHERE name = ?", ("a",)) == [(2,)]


def test_a_snapshot_cannot_write(db: ReadModelDatabase) -> None:
    refused = (sqlite3.OperationalError, psycopg.errors.ReadOnlySqlTransaction)
    with pytest.raises(refused), db.snapshot() as tx:
        tx.execute("UPDATE counters SET n = ? WHERE name = ?", (5, "a"))
    assert db.read("SELECT n FROM counters WHERE name = ?", ("a",)) == [(1,)]
