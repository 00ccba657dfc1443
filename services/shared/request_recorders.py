"""Application recorders that store a command's request record in the transaction of its events.

The eventsourcing recorders write a save's events in one transaction; these subclasses add the
save's RequestRecord (services.shared.idempotency) to that same transaction, in a
`request_records` table of the service's own store, and read records back. A live record of the
same key makes the insert fail, so the whole save fails and nothing of it is stored; a record
older than the retention window is replaced. The same behaviour on SQLite, PostgreSQL and the
in-memory store that tests use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from services.shared.idempotency import REQUEST_RECORD_KWARG, RequestKey, RequestRecord
from services.shared.save_locks import SERIALISED_SAVE_KWARG, SerialisedSave

TABLE = "request_records"
_COLUMNS = "tenant_id, actor_id, request_id, method, fingerprint, result, recorded_at"
_KEY = "tenant_id = {p} AND actor_id = {p} AND request_id = {p}"


def _values(record: RequestRecord) -> tuple[object, ...]:
    key = record.key
    return (
        key.tenant_id,
        key.actor_id,
        key.request_id,
        record.method,
        record.fingerprint,
        json.dumps(record.result, sort_keys=True),
        record.recorded_at,
    )


def _record(row: Sequence[Any]) -> RequestRecord:
    tenant_id, actor_id, request_id, method, fingerprint, result, recorded_at = row
    return RequestRecord(
        key=RequestKey(tenant_id, actor_id, request_id),
        method=method,
        fingerprint=fingerprint,
        result=json.loads(result),
        recorded_at=float(recorded_at),
    )


def _pending(kwargs: dict[str, Any]) -> RequestRecord | None:
    record = kwargs.get(REQUEST_RECORD_KWARG)
    return record if isinstance(record, RequestRecord) else None


class SQLiteRequestRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {TABLE} (tenant_id TEXT NOT NULL, actor_id TEXT NOT NULL, "
            "request_id TEXT NOT NULL, method TEXT NOT NULL, fingerprint TEXT NOT NULL, "
            "result TEXT NOT NULL, recorded_at REAL NOT NULL, "
            "PRIMARY KEY (tenant_id, actor_id, request_id))",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_age ON {TABLE} (recorded_at)",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        record = _pending(kwargs)
        if record is not None:
            key = record.key
            c.execute(
                f"DELETE FROM {TABLE} WHERE {_KEY.format(p='?')} AND recorded_at < ?",
                (key.tenant_id, key.actor_id, key.request_id, record.replaces_before),
            )
            c.execute(
                f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", _values(record)
            )
        return super()._insert_events(c, stored_events, **kwargs)

    def find_request(self, key: RequestKey, recorded_after: float) -> RequestRecord | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT {_COLUMNS} FROM {TABLE} WHERE {_KEY.format(p='?')} AND recorded_at >= ?",
                (key.tenant_id, key.actor_id, key.request_id, recorded_after),
            )
            row = c.fetchone()
        return None if row is None else _record(tuple(row))

    def forget_requests(self, recorded_before: float) -> int:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {TABLE} WHERE recorded_at < ?", (recorded_before,))
            return int(c.sqlite_cursor.rowcount)


class PostgresRequestRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        # The database-function insert path skips _insert_events, hence the record.
        if datastore.enable_db_functions:
            raise ValueError("request records need POSTGRES_ENABLE_DB_FUNCTIONS off")
        self._table = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(TABLE))
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (tenant_id TEXT NOT NULL, actor_id TEXT NOT NULL, "
                "request_id TEXT NOT NULL, method TEXT NOT NULL, fingerprint TEXT NOT NULL, "
                "result TEXT NOT NULL, recorded_at DOUBLE PRECISION NOT NULL, "
                "PRIMARY KEY (tenant_id, actor_id, request_id))"
            ).format(self._table)
        )
        self.sql_create_statements.append(
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (recorded_at)").format(
                Identifier(f"{TABLE}_age"), self._table
            )
        )

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        serialised = kwargs.get(SERIALISED_SAVE_KWARG)
        if isinstance(serialised, SerialisedSave):
            # First in the transaction, before the table lock the events' insert takes, so
            # every serialised save takes the two locks in the same order.
            lock_key = f"{self.datastore.schema}:{serialised.lock_key}"
            curs.execute(SQL("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"), (lock_key,))
            curs.fetchone()  # in pipeline mode this waits until the lock is held
            serialised.check()
        record = _pending(kwargs)
        if record is not None:
            key = record.key
            curs.execute(
                SQL("DELETE FROM {} WHERE " + _KEY.format(p="%s") + " AND recorded_at < %s").format(
                    self._table
                ),
                (key.tenant_id, key.actor_id, key.request_id, record.replaces_before),
            )
            # A live record of the key fails this insert, and with it the events' transaction.
            curs.execute(
                SQL(f"INSERT INTO {{}} ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)").format(
                    self._table
                ),
                _values(record),
            )
        super()._insert_events(curs, stored_events, **kwargs)

    def find_request(self, key: RequestKey, recorded_after: float) -> RequestRecord | None:
        query = SQL(
            f"SELECT {_COLUMNS} FROM {{}} WHERE " + _KEY.format(p="%s") + " AND recorded_at >= %s"
        ).format(self._table)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, (key.tenant_id, key.actor_id, key.request_id, recorded_after))
            row = curs.fetchone()
        return None if row is None else _record([row[c] for c in _COLUMNS.split(", ")])

    def forget_requests(self, recorded_before: float) -> int:
        query = SQL("DELETE FROM {} WHERE recorded_at < %s").format(self._table)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(query, (recorded_before,))
            return int(curs.rowcount)


class InMemoryRequestRecorder(POPOApplicationRecorder):
    def __init__(self) -> None:
        super().__init__()
        self._requests: dict[RequestKey, RequestRecord] = {}

    def _insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        record = _pending(kwargs)
        with self._database_lock:
            if record is not None:
                existing = self._requests.get(record.key)
                if existing is not None and existing.recorded_at >= record.replaces_before:
                    raise IntegrityError(f"request {record.key} is already recorded")
            notification_ids = super()._insert_events(stored_events, **kwargs)
            if record is not None:
                self._requests[record.key] = record
            return notification_ids

    def find_request(self, key: RequestKey, recorded_after: float) -> RequestRecord | None:
        with self._database_lock:
            record = self._requests.get(key)
        return record if record is not None and record.recorded_at >= recorded_after else None

    def forget_requests(self, recorded_before: float) -> int:
        with self._database_lock:
            expired = [k for k, r in self._requests.items() if r.recorded_at < recorded_before]
            for key in expired:
                del self._requests[key]
            return len(expired)
