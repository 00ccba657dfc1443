"""Read-your-writes: wait (bounded) until the read model has applied the given positions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from services.shared.errors import DeadlineExceeded
from services.shared.position import decode_position_token
from services.shared.readmodel import ReadModelDatabase, Transaction, applied_version

FIRST_POLL_SECONDS = 0.005
MAX_POLL_SECONDS = 0.1

Names = str | Sequence[str] | Callable[[], Sequence[str]]


async def wait_for_positions(
    db: ReadModelDatabase,
    projection: Names,
    tenant_id: str,
    tokens: Sequence[str],
    timeout_seconds: float,
    *,
    audit_tables: Names = ("audit_entries",),
) -> None:
    """Return once the caller's tenant sees every token's aggregate version; DEADLINE_EXCEEDED
    otherwise.

    With several projections (the live versions of every read model) a position counts as
    reached when any of them has applied it: aggregate ids are unique across read models. A
    position counts only for an aggregate of `tenant_id` (its audit entries, in `audit_tables`,
    say whose it is), checked on every poll: a token naming another tenant's aggregate is never
    reached, so it waits out the timeout and answers DEADLINE_EXCEEDED exactly like an aggregate
    not applied yet. Answering sooner would tell the caller that the id exists elsewhere.
    Callables are asked again on every poll, so a wait that spans a rebuild's switch follows the
    new live version (the old one stops consuming).
    """
    positions = [
        decode_position_token(token, field=f"consistency_tokens[{index}]")
        for index, token in enumerate(tokens)
    ]
    deadline = time.monotonic() + timeout_seconds
    delay = FIRST_POLL_SECONDS
    while True:
        pending = await asyncio.to_thread(
            _pending, db, _names(projection), _names(audit_tables), tenant_id, positions
        )
        if not pending:
            return
        if time.monotonic() >= deadline:
            index, (aggregate_id, version) = pending[0]
            raise DeadlineExceeded(
                f"read model has not reached version {version} of {aggregate_id} "
                f"within {timeout_seconds:g}s; retry later",
                field=f"consistency_tokens[{index}]",
            )
        await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
        delay = min(delay * 2, MAX_POLL_SECONDS)


def _names(names: Names) -> list[str]:
    if isinstance(names, str):
        return [names]
    return list(names() if callable(names) else names)


def _pending(
    db: ReadModelDatabase,
    projections: Sequence[str],
    audit_tables: Sequence[str],
    tenant_id: str,
    positions: Sequence[tuple[str, int]],
) -> list[tuple[int, tuple[str, int]]]:
    """The positions (with their token index) the tenant does not see yet, in token order."""
    with db.snapshot() as tx:
        return [
            (index, (aggregate_id, version))
            for index, (aggregate_id, version) in enumerate(positions)
            if max(applied_version(tx, p, aggregate_id) for p in projections) < version
            or _owners(tx, audit_tables, aggregate_id) != {tenant_id}
        ]


def _owners(tx: Transaction, tables: Sequence[str], aggregate_id: str) -> set[str]:
    return {
        str(row[0])
        for table in tables
        for row in tx.execute(
            f"SELECT tenant_id FROM {table} WHERE aggregate_id = ? LIMIT 1", (aggregate_id,)
        )
    }
