"""Read-model storage on SQLite (embedded default) or PostgreSQL (production), one code path.

SQL is written once with `?` placeholders and the common dialect both engines accept
(INSERT ... ON CONFLICT ... DO UPDATE, TEXT/BIGINT/DOUBLE PRECISION). Every projection write
goes through `apply_once` (or `apply_once_each`, several events in one transaction), which records
the aggregate version in the same transaction as the read-model change: a redelivered event is
skipped, and a crash never leaves half a write. Projections fed in order per aggregate (the
sequenced ledger, `services/shared/sequencing.py`) also record each applied event's id per
version (`applied_events`, so a different event at an applied version is a conflict, not a
duplicate) and the Kafka positions they consumed (`consumed_offsets`), in the same transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import psycopg
import psycopg_pool

from services.shared.readmodel_transaction import PostgresTransaction, SqliteTransaction
from services.shared.readmodel_transaction import Row as Row
from services.shared.readmodel_transaction import RowSource as RowSource
from services.shared.readmodel_transaction import Transaction as Transaction
from services.shared.readmodel_transaction import savepoint as savepoint
from services.shared.sqlite_wal import enable_wal

# Errors that say the read-model store cannot be reached (not that the message is bad).
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sqlite3.OperationalError,
    psycopg.OperationalError,
    psycopg_pool.PoolTimeout,
)
# SQLite raises OperationalError for outages and for bugs alike ("no such table"): only these
# mean the store is busy or unreachable; a bug must reach the dead-letter topic, not stall.
SQLITE_OUTAGE_MESSAGES = (
    "database is locked",
    "database table is locked",
    "unable to open",
    "disk i/o error",
    "database or disk is full",
)


def store_unavailable(error: BaseException) -> bool:
    """True when `error` says the store is out of reach (retry later), not that the data or the
    code is wrong."""
    if isinstance(error, sqlite3.OperationalError):
        return any(text in str(error).lower() for text in SQLITE_OUTAGE_MESSAGES)
    return isinstance(error, STORE_UNAVAILABLE)


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
            enable_wal(self._sqlite)
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
                    sqlite_tx = SqliteTransaction(self._sqlite)
                    yield sqlite_tx
                    sqlite_tx.flush()
                except BaseException:
                    self._sqlite.execute("ROLLBACK")
                    raise
                self._sqlite.execute("COMMIT")
        else:
            with self._pool.connection() as connection, connection.transaction():
                postgres_tx = PostgresTransaction(connection)
                yield postgres_tx
                postgres_tx.flush()

    @contextmanager
    def snapshot(self) -> Iterator[Transaction]:
        """A consistent, read-only view for queries. On SQLite it neither takes the write lock
        nor waits for the writer (WAL); on PostgreSQL it is a read-only transaction."""
        if self.engine == "sqlite":
            reader = self._reader()
            reader.execute("BEGIN")
            try:
                yield SqliteTransaction(reader)
            finally:
                reader.execute("ROLLBACK")
        else:
            with self._pool.connection() as connection, connection.transaction():
                connection.execute("SET TRANSACTION READ ONLY")
                yield PostgresTransaction(connection)

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


APPLIED_EVENTS_DDL = """
CREATE TABLE IF NOT EXISTS applied_events (
    projection TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (projection, aggregate_id, version)
)
"""

CONSUMED_OFFSETS_DDL = """
CREATE TABLE IF NOT EXISTS consumed_offsets (
    projection TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition_number BIGINT NOT NULL,
    next_offset BIGINT NOT NULL,
    PRIMARY KEY (projection, topic, partition_number)
)
"""


def ensure_applied_versions(db: ReadModelDatabase) -> None:
    with db.transaction() as tx:
        tx.execute(APPLIED_VERSIONS_DDL)
        tx.execute(APPLIED_EVENTS_DDL)
        tx.execute(CONSUMED_OFFSETS_DDL)


_APPLIED_VERSIONS = "applied_versions"
_APPLIED_EVENTS = "applied_events"
_IN_CLAUSE_CHUNK = 500  # bound parameters per IN (...) list, well inside both engines' limits

_UPSERT_APPLIED_VERSION = (
    "INSERT INTO applied_versions (projection, aggregate_id, version) VALUES (?, ?, ?) "
    "ON CONFLICT (projection, aggregate_id) DO UPDATE SET version = excluded.version"
)
_INSERT_APPLIED_EVENT = (
    "INSERT INTO applied_events (projection, aggregate_id, version, event_id) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (projection, aggregate_id, version) DO NOTHING"
)


def _versions_memo(tx: Transaction) -> dict[tuple[str, str], int]:
    memo: dict[tuple[str, str], int] = tx.memo.setdefault(_APPLIED_VERSIONS, {})
    return memo


def _events_memo(tx: Transaction) -> dict[tuple[str, str, int], str]:
    memo: dict[tuple[str, str, int], str] = tx.memo.setdefault(_APPLIED_EVENTS, {})
    return memo


def applied_event_id(tx: Transaction, projection: str, aggregate_id: str, version: int) -> str:
    """The id of the event applied at that version; "" when unknown (applied before ids were
    recorded, or never applied)."""
    recorded = _events_memo(tx).get((projection, aggregate_id, version))
    if recorded:  # "" (not found by a batch read) is looked up again: cheap and always right
        return recorded
    row = tx.one(
        "SELECT event_id FROM applied_events "
        "WHERE projection = ? AND aggregate_id = ? AND version = ?",
        (projection, aggregate_id, version),
    )
    return str(row[0]) if row else ""


def load_applied_event_ids(
    tx: Transaction, projection: str, versions: Iterable[tuple[str, int]]
) -> None:
    """Reads the applied event ids of several (aggregate id, version) pairs in one query per
    500 pairs into the transaction's memo, for `applied_event_id` (redeliveries of a batch)."""
    memo = _events_memo(tx)
    wanted = sorted({(a, v) for a, v in versions if (projection, a, v) not in memo})
    for start in range(0, len(wanted), _IN_CLAUSE_CHUNK // 2):
        chunk = wanted[start : start + _IN_CLAUSE_CHUNK // 2]
        rows = tx.execute(
            "SELECT aggregate_id, version, event_id FROM applied_events WHERE projection = ? "
            f"AND (aggregate_id, version) IN (VALUES {', '.join(['(?, ?)'] * len(chunk))})",
            (projection, *(value for pair in chunk for value in pair)),
        )
        found = {(str(r[0]), int(r[1])): str(r[2]) for r in rows}
        for aggregate_id, version in chunk:
            memo[(projection, aggregate_id, version)] = found.get((aggregate_id, version), "")


def record_applied(
    tx: Transaction, projection: str, aggregate_id: str, version: int, event_id: str
) -> None:
    """Marks `version` of the aggregate applied, by the event `event_id`. The rows are written
    with the transaction's other deferred writes (`applied_version` and `applied_event_id` see
    them at once)."""
    _versions_memo(tx)[(projection, aggregate_id)] = version
    _events_memo(tx)[(projection, aggregate_id, version)] = event_id
    tx.defer(
        _UPSERT_APPLIED_VERSION,
        (projection, aggregate_id, version),
        key=(projection, aggregate_id),
    )
    tx.defer(_INSERT_APPLIED_EVENT, (projection, aggregate_id, version, event_id))


def record_consumed(
    tx: Transaction, projection: str, next_offsets: Mapping[tuple[str, int], int]
) -> None:
    """The next offset to consume per (topic, partition); a position never moves backwards (a
    consumer that lost its partitions mid-batch may commit after the new owner)."""
    for (topic, partition), offset in next_offsets.items():
        if not topic:
            continue  # applied directly, not consumed from Kafka: no position to record
        tx.defer(
            "INSERT INTO consumed_offsets (projection, topic, partition_number, next_offset) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (projection, topic, partition_number) DO UPDATE SET "
            "next_offset = CASE WHEN excluded.next_offset > consumed_offsets.next_offset "
            "THEN excluded.next_offset ELSE consumed_offsets.next_offset END",
            (projection, topic, partition, offset),
        )


def consumed_offsets(db: ReadModelDatabase, projection: str) -> dict[tuple[str, int], int]:
    """What the projection's store says it consumed: the next offset per (topic, partition)."""
    rows = db.read(
        "SELECT topic, partition_number, next_offset FROM consumed_offsets WHERE projection = ?",
        (projection,),
    )
    return {(str(r[0]), int(r[1])): int(r[2]) for r in rows}


def applied_version(tx: Transaction, projection: str, aggregate_id: str) -> int:
    known = _versions_memo(tx).get((projection, aggregate_id))
    if known is not None:
        return known
    row = tx.one(
        "SELECT version FROM applied_versions WHERE projection = ? AND aggregate_id = ?",
        (projection, aggregate_id),
    )
    version = int(row[0]) if row else 0
    _versions_memo(tx)[(projection, aggregate_id)] = version
    return version


def load_applied_versions(
    tx: Transaction, projection: str, aggregate_ids: Iterable[str]
) -> dict[str, int]:
    """The applied version of each aggregate (0 when none), read in one query per 500 ids, and
    remembered in the transaction's memo for `applied_version`."""
    memo = _versions_memo(tx)
    aggregate_ids = list(aggregate_ids)
    wanted = sorted({a for a in aggregate_ids if (projection, a) not in memo})
    for start in range(0, len(wanted), _IN_CLAUSE_CHUNK):
        chunk = wanted[start : start + _IN_CLAUSE_CHUNK]
        rows = tx.execute(
            "SELECT aggregate_id, version FROM applied_versions WHERE projection = ? "
            f"AND aggregate_id IN ({', '.join('?' * len(chunk))})",
            (projection, *chunk),
        )
        found = {str(r[0]): int(r[1]) for r in rows}
        for aggregate_id in chunk:
            memo[(projection, aggregate_id)] = found.get(aggregate_id, 0)
    return {a: memo[(projection, a)] for a in aggregate_ids}


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
        load_applied_versions(tx, projection, (item.aggregate_id for item in writes))
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
    _versions_memo(tx)[(projection, aggregate_id)] = version
    tx.defer(
        _UPSERT_APPLIED_VERSION, (projection, aggregate_id, version), key=(projection, aggregate_id)
    )
    return True
