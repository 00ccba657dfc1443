"""Read-model storage on SQLite (embedded default) or PostgreSQL (production), one code path.

SQL is written once with `?` placeholders and the common dialect both engines accept
(INSERT ... ON CONFLICT ... DO UPDATE, TEXT/BIGINT/DOUBLE PRECISION). Every projection write
goes through `apply_once` (or `apply_once_each`, several events in one transaction), which records
the aggregate version in the same transaction as the read-model change: a redelivered event is
skipped, and a crash never leaves half a write.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

Row = tuple[Any, ...]


class Transaction(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...


class _SqliteTransaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._connection.execute(sql, tuple(params)).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None


class _PostgresTransaction:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self._connection.execute(sql.replace("?", "%s"), tuple(params))
        return list(cursor.fetchall()) if cursor.description else []

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None


class ReadModelDatabase:
    """A small transactional SQL facade; `url` is sqlite:///path or postgresql://...?schema=x."""

    def __init__(self, url: str, *, schema: str = "projections") -> None:
        self.url = url
        parsed = urlparse(url)
        self.engine = "sqlite" if parsed.scheme == "sqlite" else "postgresql"
        self._lock = threading.RLock()
        if self.engine == "sqlite":
            path = Path(unquote(parsed.path))
            path.parent.mkdir(parents=True, exist_ok=True)
            self._sqlite = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=30
            )
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("PRAGMA synchronous=NORMAL")
            self._sqlite_path = path
            # Readers get a connection per thread: in WAL mode they never wait for the writer.
            self._readers = threading.local()
            self._reader_connections: list[sqlite3.Connection] = []
            self._readers_lock = threading.Lock()  # not the writer's lock: readers never wait
        else:
            from psycopg_pool import ConnectionPool

            self._schema = schema
            self._pool = ConnectionPool(
                url,
                min_size=1,
                max_size=4,
                open=True,
                configure=self._configure_postgres,
            )
            with self._pool.connection() as connection:
                connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')

    def _configure_postgres(self, connection: Any) -> None:
        connection.autocommit = True
        connection.execute(f'SET search_path TO "{self._schema}"')
        connection.autocommit = False

    def describe(self) -> str:
        if self.engine == "sqlite":
            return f"SQLite file {urlparse(self.url).path}"
        parsed = urlparse(self.url)
        return f"PostgreSQL {parsed.hostname}:{parsed.port}{parsed.path} schema {self._schema}"

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """All or nothing: committed when the block ends, rolled back if it raises."""
        if self.engine == "sqlite":
            with self._lock:
                self._sqlite.execute("BEGIN IMMEDIATE")
                try:
                    yield _SqliteTransaction(self._sqlite)
                except BaseException:
                    self._sqlite.execute("ROLLBACK")
                    raise
                self._sqlite.execute("COMMIT")
        else:
            with self._pool.connection() as connection, connection.transaction():
                yield _PostgresTransaction(connection)

    @contextmanager
    def snapshot(self) -> Iterator[Transaction]:
        """A consistent, read-only view for queries. On SQLite it neither takes the write lock
        nor waits for the writer (WAL); on PostgreSQL it is a read-only transaction."""
        if self.engine == "sqlite":
            reader = self._reader()
            reader.execute("BEGIN")
            try:
                yield _SqliteTransaction(reader)
            finally:
                reader.execute("ROLLBACK")
        else:
            with self._pool.connection() as connection, connection.transaction():
                connection.execute("SET TRANSACTION READ ONLY")
                yield _PostgresTransaction(connection)

    def _reader(self) -> sqlite3.Connection:
        reader: sqlite3.Connection | None = getattr(self._readers, "connection", None)
        if reader is None:
            reader = sqlite3.connect(
                self._sqlite_path, isolation_level=None, timeout=30, check_same_thread=False
            )
            reader.execute("PRAGMA query_only = ON")
            self._readers.connection = reader
            with self._readers_lock:
                self._reader_connections.append(reader)
        return reader

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.snapshot() as tx:
            return tx.execute(sql, params)

    def close(self) -> None:
        if self.engine == "sqlite":
            with self._readers_lock:
                for reader in self._reader_connections:
                    reader.close()
                self._reader_connections.clear()
            self._sqlite.close()
        else:
            self._pool.close()


APPLIED_VERSIONS_DDL = """
CREATE TABLE IF NOT EXISTS applied_versions (
    projection TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (projection, aggregate_id)
)
"""


def ensure_applied_versions(db: ReadModelDatabase) -> None:
    with db.transaction() as tx:
        tx.execute(APPLIED_VERSIONS_DDL)


def applied_version(tx: Transaction, projection: str, aggregate_id: str) -> int:
    row = tx.one(
        "SELECT version FROM applied_versions WHERE projection = ? AND aggregate_id = ?",
        (projection, aggregate_id),
    )
    return int(row[0]) if row else 0


def apply_once(
    db: ReadModelDatabase,
    projection: str,
    aggregate_id: str,
    version: int,
    write: Callable[[Transaction], None],
) -> bool:
    """Run `write` unless this aggregate version (or a newer one) was applied; True if applied.

    Offsets are not enough to deduplicate: a relay retry republishes at a new offset.
    """
    with db.transaction() as tx:
        return apply_once_in(tx, projection, aggregate_id, version, write)


@dataclass(frozen=True)
class VersionedWrite:
    """One event's read-model change, keyed for deduplication by aggregate id and version."""

    aggregate_id: str
    version: int
    write: Callable[[Transaction], None]


def apply_once_each(
    db: ReadModelDatabase, projection: str, writes: Sequence[VersionedWrite]
) -> list[bool]:
    """`apply_once` for several events, in order, in ONE transaction: all commit or none does.

    Each event is checked against the versions recorded so far, including those of earlier
    events in `writes`, so a batch that holds a redelivery applies it once. One commit for many
    events is what lets a consumer catch up fast.
    """
    with db.transaction() as tx:
        return [
            apply_once_in(tx, projection, item.aggregate_id, item.version, item.write)
            for item in writes
        ]


def apply_once_in(
    tx: Transaction,
    projection: str,
    aggregate_id: str,
    version: int,
    write: Callable[[Transaction], None],
) -> bool:
    """`apply_once` inside the caller's transaction."""
    if applied_version(tx, projection, aggregate_id) >= version:
        return False
    write(tx)
    tx.execute(
        "INSERT INTO applied_versions (projection, aggregate_id, version) VALUES (?, ?, ?) "
        "ON CONFLICT (projection, aggregate_id) DO UPDATE SET version = excluded.version",
        (projection, aggregate_id, version),
    )
    return True
