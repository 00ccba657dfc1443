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

import itertools
import sqlite3
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import psycopg
import psycopg_pool

from services.shared.sqlite_wal import enable_wal

Row = tuple[Any, ...]

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


RowSource = Sequence[Any] | Callable[[], Sequence[Any]]
"""A deferred statement's parameters, or a function giving them when the write is sent."""


class Transaction(Protocol):
    """One read-model transaction. Besides plain statements it can hold writes back and send
    them together (`defer`, then `flush`, which commit and savepoints do): on PostgreSQL one
    round trip per statement for a whole batch instead of one per row.

    A table written through `defer` is read back in the same transaction only through `memo`
    (what the transaction has read or written, kept by the code that owns the table) or after
    `flush()`: the deferred rows are not in the database until then."""

    memo: dict[str, Any]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def defer(self, sql: str, params: RowSource, *, key: Hashable = None) -> None: ...

    def flush(self) -> None: ...

    def discard(self) -> None: ...


_savepoints = itertools.count(1)


@contextmanager
def savepoint(tx: Transaction) -> Iterator[None]:
    """A nested all-or-nothing step inside `tx` (SQL SAVEPOINT, on both engines): if the block
    raises, only its own writes are undone (deferred ones included) and the transaction goes
    on. The memo is dropped then: it may describe the undone writes."""
    tx.flush()
    name = f"step_{next(_savepoints)}"
    tx.execute(f"SAVEPOINT {name}")
    try:
        yield
        tx.flush()
    except BaseException:
        tx.discard()
        tx.execute(f"ROLLBACK TO SAVEPOINT {name}")
        tx.execute(f"RELEASE SAVEPOINT {name}")
        raise
    tx.execute(f"RELEASE SAVEPOINT {name}")


class _BufferedTransaction:
    """Deferred writes and the memo, common to both engines. Deferred rows are sent statement
    by statement in the order each statement was first deferred; a row deferred again under the
    same `key` replaces the earlier one (a whole-row upsert written several times in a batch is
    sent once, with its last value)."""

    def __init__(self) -> None:
        self.memo: dict[str, Any] = {}
        self._pending: dict[str, dict[Hashable, RowSource]] = {}
        self._unkeyed = itertools.count()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def defer(self, sql: str, params: RowSource, *, key: Hashable = None) -> None:
        rows = self._pending.setdefault(sql, {})
        rows[("row", next(self._unkeyed)) if key is None else key] = params

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for sql, rows in pending.items():
            values = [row() if callable(row) else row for row in rows.values()]
            self.execute_many(sql, values)

    def discard(self) -> None:
        self._pending = {}
        self.memo = {}


class _DeferredWrites:
    """A view of a transaction whose statements are all deferred under one key: for code that
    writes a whole row with one upsert (and reads nothing back), so that writing the row again
    later in the batch replaces the pending write instead of adding a round trip."""

    def __init__(self, tx: Transaction, key: Hashable) -> None:
        self._tx = tx
        self._key = key
        self.memo = tx.memo

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._tx.defer(sql, tuple(params), key=self._key)
        return []

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self.execute(sql, params)
        return None

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._tx.execute_many(sql, rows)

    def defer(self, sql: str, params: RowSource, *, key: Hashable = None) -> None:
        self._tx.defer(sql, params, key=key)

    def flush(self) -> None:
        self._tx.flush()

    def discard(self) -> None:
        self._tx.discard()


def deferred_upserts(tx: Transaction, key: Hashable) -> Transaction:
    """`tx`, with every statement run through it deferred under `key` (see _DeferredWrites)."""
    return _DeferredWrites(tx, key)


class _SqliteTransaction(_BufferedTransaction):
    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__()
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._connection.execute(sql, tuple(params)).fetchall()

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._connection.executemany(sql, [tuple(row) for row in rows])


class _PostgresTransaction(_BufferedTransaction):
    def __init__(self, connection: Any) -> None:
        super().__init__()
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self._connection.execute(sql.replace("?", "%s"), tuple(params))
        return list(cursor.fetchall()) if cursor.description else []

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        # psycopg sends executemany's rows in pipeline mode: one round trip, not one per row.
        with self._connection.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), [tuple(row) for row in rows])

    def flush(self) -> None:
        if not self._pending:
            return
        with self._connection.pipeline():  # every deferred statement in one round trip
            super().flush()


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
                    sqlite_tx = _SqliteTransaction(self._sqlite)
                    yield sqlite_tx
                    sqlite_tx.flush()
                except BaseException:
                    self._sqlite.execute("ROLLBACK")
                    raise
                self._sqlite.execute("COMMIT")
        else:
            with self._pool.connection() as connection, connection.transaction():
                postgres_tx = _PostgresTransaction(connection)
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
