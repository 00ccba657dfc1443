"""Read-your-writes on SQLite and PostgreSQL: a wait ends once the caller's tenant sees the
position; another tenant's aggregate is never reached and answers exactly like an unknown one,
after the same wait, so no answer tells which ids exist in other tenants."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.projections.consistency import wait_for_positions
from services.projections.goals_projection import GoalsProjection
from services.shared.errors import DeadlineExceeded
from services.shared.position import encode_position_token
from tests.builders import created, envelope, goal_event
from tests.integration.conftest import STORES, read_model_databases

SHORT_WAIT_SECONDS = 0.2


@pytest.fixture(params=STORES)
def projection(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GoalsProjection]:
    with read_model_databases(request, tmp_path) as new_database:
        yield GoalsProjection(new_database())


async def wait(projection: GoalsProjection, tenant_id: str, *tokens: str) -> None:
    await wait_for_positions(
        projection.db,
        projection.name,
        tenant_id,
        list(tokens),
        SHORT_WAIT_SECONDS,
        audit_tables=[projection.audit.entries],
    )


async def timed_failure(
    projection: GoalsProjection, tenant_id: str, token: str
) -> tuple[DeadlineExceeded, float]:
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as caught:
        await wait(projection, tenant_id, token)
    return caught.value, time.monotonic() - started


async def test_another_tenants_position_answers_like_an_unknown_one_after_the_same_wait(
    projection: GoalsProjection,
) -> None:
    ours, theirs, unknown = (str(uuid.uuid4()) for _ in range(3))
    await projection.apply(envelope(ours, 1, created("Ours")))
    await projection.apply(envelope(theirs, 1, created("Theirs"), tenant_id="globex"))
    await wait(projection, "acme", encode_position_token(ours, 1))
    await wait(projection, "globex", encode_position_token(theirs, 1))

    foreign, foreign_took = await timed_failure(
        projection, "acme", encode_position_token(theirs, 1)
    )
    unseen, unseen_took = await timed_failure(projection, "acme", encode_position_token(unknown, 1))

    assert (foreign.field, foreign.reason.replace(theirs, unknown)) == (unseen.field, unseen.reason)
    assert foreign.field == "consistency_tokens[0]"
    assert min(foreign_took, unseen_took) >= SHORT_WAIT_SECONDS


async def test_a_wait_ends_when_the_position_is_applied_and_names_the_token_still_missing(
    projection: GoalsProjection,
) -> None:
    goal_id = str(uuid.uuid4())
    await projection.apply(envelope(goal_id, 1, created()))
    first, second = encode_position_token(goal_id, 1), encode_position_token(goal_id, 2)

    waiting = asyncio.create_task(
        wait_for_positions(
            projection.db,
            lambda: [projection.name],  # asked on every poll, as the service's live versions are
            "acme",
            [first, second],
            30.0,
            audit_tables=lambda: [projection.audit.entries],
        )
    )
    await projection.apply(envelope(goal_id, 2, goal_event("Activated", by="hr-1")))
    await asyncio.wait_for(waiting, timeout=30.0)

    late, _took = await timed_failure(projection, "acme", encode_position_token(goal_id, 3))
    assert late.field == "consistency_tokens[0]"
    assert f"version 3 of {goal_id}" in late.reason
