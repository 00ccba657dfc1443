"""Read-your-writes: wait (bounded) until the read model has applied the given positions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from services.shared.errors import DeadlineExceeded, NotFound
from services.shared.position import decode_position_token
from services.shared.readmodel import ReadModelDatabase, applied_version

FIRST_POLL_SECONDS = 0.005
MAX_POLL_SECONDS = 0.1


async def wait_for_positions(
    db: ReadModelDatabase,
    projection: str,
    tenant_id: str,
    tokens: Sequence[str],
    timeout_seconds: float,
) -> None:
    """Return once every token's aggregate version is applied; DEADLINE_EXCEEDED otherwise.

    A token naming another tenant's aggregate is answered as not found, like any other id of
    another tenant.
    """
    positions = [
        decode_position_token(token, field=f"consistency_tokens[{index}]")
        for index, token in enumerate(tokens)
    ]
    deadline = time.monotonic() + timeout_seconds
    delay = FIRST_POLL_SECONDS
    while True:
        pending = await asyncio.to_thread(_pending, db, projection, positions)
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
        owner = await asyncio.to_thread(
            db.read,
            "SELECT tenant_id FROM audit_entries WHERE aggregate_id = ? LIMIT 1",
            (aggregate_id,),
        )
        if owner and owner[0][0] != tenant_id:
            raise NotFound(
                f"position of unknown aggregate {aggregate_id}",
                field=f"consistency_tokens[{index}]",
            )


def _pending(
    db: ReadModelDatabase, projection: str, positions: Sequence[tuple[str, int]]
) -> list[tuple[str, int]]:
    with db.transaction() as tx:
        return [
            (aggregate_id, version)
            for aggregate_id, version in positions
            if applied_version(tx, projection, aggregate_id) < version
        ]
