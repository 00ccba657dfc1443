"""Read-your-writes: wait (bounded) until the read model has applied the given positions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from services.shared.errors import DeadlineExceeded, NotFound
from services.shared.position import decode_position_token
from services.shared.readmodel import ReadModelDatabase, applied_version

FIRST_POLL_SECONDS = 0.005
MAX_POLL_SECONDS = 0.1


async def wait_for_positions(
    db: ReadModelDatabase,
    projection: str | Sequence[str] | Callable[[], Sequence[str]],
    tenant_id: str,
    tokens: Sequence[str],
    timeout_seconds: float,
    *,
    audit_tables: Sequence[str] = ("audit_entries",),
) -> None:
    """Return once every token's aggregate version is applied; DEADLINE_EXCEEDED otherwise.

    With several projections (the live versions of every read model) a position counts as
    reached when any of them has applied it: aggregate ids are unique across read models. A
    callable is asked again on every poll, so a wait that spans a rebuild's switch follows the
    new live version (the old one stops consuming).
    A token naming another tenant's aggregate is answered as not found, like any other id of
    another tenant; `audit_tables` are where the aggregate's tenant is looked up.
    """

    def projections() -> list[str]:
        if isinstance(projection, str):
            return [projection]
        return list(projection() if callable(projection) else projection)

    positions = [
        decode_position_token(token, field=f"consistency_tokens[{index}]")
        for index, token in enumerate(tokens)
    ]
    deadline = time.monotonic() + timeout_seconds
    delay = FIRST_POLL_SECONDS
    while True:
        pending = await asyncio.to_thread(_pending, db, projections(), positions)
        if not pending:
            break
        if time.monotonic() >= deadline:
            aggregate_id, version = pending[0]
            raise DeadlineExceeded(
                f"read model has not reached version {version} of {aggregate_id} "
                f"within {timeout_seconds:g}s; retry later",
                field="consistency_tokens",
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_POLL_SECONDS)
    for index, (aggregate_id, _version) in enumerate(positions):
        owners = await asyncio.to_thread(_owners, db, audit_tables, aggregate_id)
        if owners and owners != {tenant_id}:
            raise NotFound(
                f"position of unknown aggregate {aggregate_id}",
                field=f"consistency_tokens[{index}]",
            )


def _pending(
    db: ReadModelDatabase, projections: Sequence[str], positions: Sequence[tuple[str, int]]
) -> list[tuple[str, int]]:
    with db.transaction() as tx:
        return [
            (aggregate_id, version)
            for aggregate_id, version in positions
            if max(applied_version(tx, p, aggregate_id) for p in projections) < version
        ]


def _owners(db: ReadModelDatabase, tables: Sequence[str], aggregate_id: str) -> set[str]:
    with db.transaction() as tx:
        return {
            str(row[0])
            for table in tables
            for row in tx.execute(
                f"SELECT tenant_id FROM {table} WHERE aggregate_id = ? LIMIT 1", (aggregate_id,)
            )
        }
