"""One read-model transaction, on either engine: plain statements, and writes held back and sent
together (`defer`, then `flush`), with the memo that lets a batch read back what it deferred.
`ReadModelDatabase.transaction()` (services/shared/readmodel.py) hands these out."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

Row = tuple[Any, ...]

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


class SqliteTransaction(_BufferedTransaction):
    """A transaction on the SQLite connection (the database holds its write lock)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__()
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._connection.execute(sql, tuple(params)).fetchall()

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._connection.executemany(sql, [tuple(row) for row in rows])


class PostgresTransaction(_BufferedTransaction):
    """A transaction on a pooled PostgreSQL connection; deferred writes go in one pipeline."""

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
