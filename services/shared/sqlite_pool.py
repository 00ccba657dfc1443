"""The SQLite event store's connections: loads do not queue behind a writer waiting its turn.

eventsourcing's pool lets one writer in at a time, but a writer waits for that turn while
holding the pool's fairness semaphore, which every caller, reader or writer, passes to get a
connection. So with SQLite in WAL mode, where a load could read while another transaction
writes, each load still waited for every writer ahead of it (37% of the concurrent command
path's samples, see docs/benchmarks.md). Here writers first take their turn among writers and
only then join that queue: the writer lock is then free when they reach it, and readers behind
them wait only for the moment it takes to hand out a connection. Writes stay serialised, and
in-memory databases (where reads and writes must exclude each other) keep the library's way.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from eventsourcing.persistence import ConnectionUnavailableError
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteFactory
from eventsourcing.utils import Environment, EnvType


class WritersQueueApartPool(SQLiteConnectionPool):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._writers_turn = threading.Lock()

    def _queues_writers_apart(self) -> bool:
        return not self._mutually_exclusive_read_write

    def get_connection(
        self, timeout: float | None = None, *, is_writer: bool | None = None
    ) -> SQLiteConnection:
        if is_writer is not True or not self._queues_writers_apart():
            return super().get_connection(timeout, is_writer=is_writer)
        allowed = self.pool_timeout if timeout is None else timeout
        started = time.monotonic()
        if not self._writers_turn.acquire(timeout=max(allowed, 0.0)):
            raise ConnectionUnavailableError("Timed out waiting for return of writer")
        try:
            remaining = max(allowed - (time.monotonic() - started), 0.0)
            return super().get_connection(remaining, is_writer=True)
        except BaseException:
            self._writers_turn.release()
            raise

    def put_connection(self, conn: SQLiteConnection) -> None:
        was_writer = conn.is_writer is True and self._queues_writers_apart()
        try:
            super().put_connection(conn)
        finally:
            if was_writer:
                self._writers_turn.release()


class NorthstarSQLiteFactory(SQLiteFactory):
    """eventsourcing's SQLite factory with the pool above, configured as the library's own
    pool was (size, overflow, timeouts, lock timeout, age and pre-ping from the environment)."""

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        default_pool = self.datastore.pool
        self.datastore.pool = WritersQueueApartPool(
            db_name=default_pool.db_name,
            lock_timeout=default_pool.lock_timeout,
            pool_size=default_pool.pool_size,
            max_overflow=default_pool.max_overflow,
            pool_timeout=default_pool.pool_timeout,
            max_age=default_pool.max_age,
            pre_ping=default_pool.pre_ping,
        )
        default_pool.close()
