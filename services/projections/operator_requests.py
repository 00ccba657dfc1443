"""Request ids of the operators' commands (StartRebuild, RetryParkedEvents, SkipParkedEvent).

The projections service has no event store: a command's record (services.shared.idempotency)
lives in an `operator_requests` table of the read-model store, next to the rebuild state and
the parked events, so it survives a restart and every replica sharing the store sees it.
The record is written right after the command succeeds (the command's own writes are the
ledger's or the rebuild's transactions): a process that dies between the two leaves the
command unrecorded, and its retry runs it again, which a retry of parked events tolerates and
a repeated rebuild start or skip refuses as it does without an id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from google.protobuf.message import Message

from services.shared.auth import current_principal
from services.shared.errors import FailedPrecondition, NotFound
from services.shared.idempotency import (
    REQUEST_ID_FIELD,
    REQUEST_RECORD_KWARG,
    RequestAlreadyRecorded,
    RequestKey,
    RequestRecord,
    parse_request_id,
    raise_if_recorded_meanwhile,
    request_kwargs,
    run_once,
)
from services.shared.readmodel import ReadModelDatabase

T = TypeVar("T")

TABLE = "operator_requests"
_COLUMNS = "tenant_id, actor_id, request_id, method, fingerprint, result, recorded_at"
_KEY = "tenant_id = ? AND actor_id = ? AND request_id = ?"
# DOUBLE PRECISION: PostgreSQL's REAL would round epoch seconds to minutes.
DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (tenant_id TEXT NOT NULL, actor_id TEXT NOT NULL, "
    "request_id TEXT NOT NULL, method TEXT NOT NULL, fingerprint TEXT NOT NULL, "
    "result TEXT NOT NULL, recorded_at DOUBLE PRECISION NOT NULL, "
    "PRIMARY KEY (tenant_id, actor_id, request_id))",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_age ON {TABLE} (recorded_at)",
)


def _record(row: Any) -> RequestRecord:
    tenant_id, actor_id, request_id, method, fingerprint, result, recorded_at = row
    return RequestRecord(
        key=RequestKey(tenant_id, actor_id, request_id),
        method=method,
        fingerprint=fingerprint,
        result=json.loads(result),
        recorded_at=float(recorded_at),
    )


class OperatorRequestLog:
    """The records in the read-model store (a services.shared.idempotency.RequestLog)."""

    def __init__(self, db: ReadModelDatabase) -> None:
        self.db = db
        with db.transaction() as tx:
            for statement in DDL:
                tx.execute(statement)

    def find_request(self, key: RequestKey, recorded_after: float) -> RequestRecord | None:
        rows = self.db.read(
            f"SELECT {_COLUMNS} FROM {TABLE} WHERE {_KEY} AND recorded_at >= ?",
            (key.tenant_id, key.actor_id, key.request_id, recorded_after),
        )
        return _record(rows[0]) if rows else None

    def forget_requests(self, recorded_before: float) -> int:
        with self.db.transaction() as tx:
            gone = tx.execute(
                f"DELETE FROM {TABLE} WHERE recorded_at < ? RETURNING request_id",
                (recorded_before,),
            )
        return len(gone)

    def record(self, record: RequestRecord) -> None:
        """Stores `record`, replacing an expired one of its key; raises RequestAlreadyRecorded
        when a live record of the key was stored first (a copy of the request won a race)."""
        key = (record.key.tenant_id, record.key.actor_id, record.key.request_id)
        with self.db.transaction() as tx:
            tx.execute(
                f"DELETE FROM {TABLE} WHERE recorded_at < ?",
                (record.replaces_before,),
            )
            tx.execute(
                f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, actor_id, request_id) DO NOTHING",
                (
                    *key,
                    record.method,
                    record.fingerprint,
                    json.dumps(dict(record.result), sort_keys=True),
                    record.recorded_at,
                ),
            )
            stored = tx.one(f"SELECT {_COLUMNS} FROM {TABLE} WHERE {_KEY}", key)
        if stored is not None and _record(stored).recorded_at != record.recorded_at:
            raise RequestAlreadyRecorded(_record(stored))


class OperatorRequests:
    """Runs an operator's command at most once per request id (per tenant and caller)."""

    def __init__(self, log: OperatorRequestLog, retention: timedelta) -> None:
        self.log = log
        self.retention = retention

    async def once(
        self,
        method: str,
        request: Message,
        run: Callable[[], Coroutine[Any, Any, T]],
        result_of: Callable[[T], Mapping[str, Any]],
        replay: Callable[[Mapping[str, Any]], Coroutine[Any, Any, T]],
    ) -> T:
        """`run()`, recording `result_of` its answer, unless `request` was recorded under its
        request id: then `replay(recorded result)`. Validates the request id first."""
        request_id = parse_request_id(str(getattr(request, REQUEST_ID_FIELD)))
        principal = current_principal()
        loop = asyncio.get_running_loop()

        def run_and_record() -> T:
            # In run_once's worker thread: the command itself runs back on the event loop.
            try:
                answer = asyncio.run_coroutine_threadsafe(run(), loop).result()
            except (FailedPrecondition, NotFound):
                # A copy of this request that ran first makes this one "already running" or
                # "nothing parked": answer the first one's result instead.
                raise_if_recorded_meanwhile(self.log)
                raise
            pending = request_kwargs(result_of(answer)).get(REQUEST_RECORD_KWARG)
            if pending is not None:
                self.log.record(pending)
            return answer

        def replay_recorded(result: Mapping[str, Any]) -> T:
            return asyncio.run_coroutine_threadsafe(replay(result), loop).result()

        return await asyncio.to_thread(
            run_once,
            self.log,
            principal,
            request_id,
            method,
            request,
            self.retention,
            run_and_record,
            replay_recorded,
        )
