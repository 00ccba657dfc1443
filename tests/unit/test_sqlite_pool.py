"""The SQLite event store's pool: a load gets a connection while a writer waits its turn, and
writers still take turns."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.persistence import ConnectionUnavailableError
from eventsourcing.sqlite import SQLiteConnectionPool

from services.shared.eventstore import persistence_env
from services.shared.sqlite_pool import NorthstarSQLiteFactory, WritersQueueApartPool


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[SQLiteConnectionPool]:
    made = WritersQueueApartPool(db_name=str(tmp_path / "store.db"), pool_timeout=5.0)
    yield made
    made.close()


def _writer_waiting(pool: SQLiteConnectionPool) -> tuple[threading.Thread, threading.Event]:
    """A second writer, blocked behind the first one's connection until it is returned."""
    got_it = threading.Event()

    def write() -> None:
        conn = pool.get_connection(is_writer=True)
        got_it.set()
        pool.put_connection(conn)

    waiting = threading.Thread(target=write)
    waiting.start()
    return waiting, got_it


def test_a_load_is_served_while_a_writer_waits_for_the_writer_in_progress(
    pool: SQLiteConnectionPool,
) -> None:
    writing = pool.get_connection(is_writer=True)
    waiting, second_writer_in = _writer_waiting(pool)
    assert not second_writer_in.wait(0.2)

    reading = pool.get_connection(timeout=1.0, is_writer=False)
    assert reading.is_writer is False
    pool.put_connection(reading)

    pool.put_connection(writing)
    waiting.join(5.0)
    assert second_writer_in.is_set()


def test_writers_still_take_turns(pool: SQLiteConnectionPool) -> None:
    writing = pool.get_connection(is_writer=True)
    with pytest.raises(ConnectionUnavailableError):
        pool.get_connection(timeout=0.1, is_writer=True)
    pool.put_connection(writing)

    # The refused writer left no turn taken behind it.
    again = pool.get_connection(timeout=1.0, is_writer=True)
    pool.put_connection(again)


def test_the_service_store_uses_that_pool(tmp_path: Path) -> None:
    factory = NorthstarSQLiteFactory(persistence_env("goals", f"sqlite:///{tmp_path}/goals.db"))
    try:
        assert isinstance(factory.datastore.pool, WritersQueueApartPool)
    finally:
        factory.close()
