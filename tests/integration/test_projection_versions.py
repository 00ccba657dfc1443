"""Read-model versions on one store (SQLite and PostgreSQL): own tables per version, content
hashes independent of the version's name and of the order aggregates interleave, views that
follow the live version."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.projections.content_hash import content_hash
from services.projections.goals_projection import GoalsProjection, goals_version_tables
from services.projections.versions import (
    LIVE,
    add_version,
    adopt_unversioned_tables,
    ensure_versions_table,
    load_versions,
    point_views,
    switch_live,
)
from services.shared.readmodel import ReadModelDatabase
from tests.builders import created, envelope, goal_event, metric
from tests.integration.conftest import STORES, read_model_databases


@pytest.fixture(params=STORES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReadModelDatabase]:
    with read_model_databases(request, tmp_path) as new_database:
        yield new_database()


def histories() -> dict[str, list[tuple[str, dict[str, object]]]]:
    return {
        str(uuid.UUID(int=index)): [
            created(f"Goal {index}", measure=metric(10)),
            goal_event("Activated", by="hr-1"),
            goal_event(
                "CheckedIn",
                value=float(index),
                confidence=0.8,
                note="",
                by="hr-1",
                key_result_id=None,
            ),
        ]
        for index in range(1, 4)
    }


async def apply(projection: GoalsProjection, order: list[tuple[str, int]]) -> None:
    events = histories()
    for goal_id, version in order:
        await projection.apply(envelope(goal_id, version, events[goal_id][version - 1]))


def test_two_versions_built_from_the_same_events_hash_alike_whatever_the_interleaving(
    db: ReadModelDatabase,
) -> None:
    goal_ids = list(histories())
    by_aggregate = [(g, v) for g in goal_ids for v in (1, 2, 3)]
    by_version = [(g, v) for v in (1, 2, 3) for g in reversed(goal_ids)]
    first, second = GoalsProjection(db, "goals-v1"), GoalsProjection(db, "goals-v2")
    asyncio.run(apply(first, by_aggregate))
    asyncio.run(apply(second, by_version + by_aggregate))  # with every event redelivered

    one = content_hash(db, "goals-v1", first.tables())
    two = content_hash(db, "goals-v2", second.tables())
    assert one.sha256 == two.sha256
    assert one.row_count == two.row_count == 9 + 3 + 3 + 3

    with db.transaction() as tx:
        tx.execute(
            "UPDATE goals_v2_alignment_goals SET title = 'forged' WHERE goal_id = ?", (goal_ids[0],)
        )
    assert content_hash(db, "goals-v2", second.tables()).sha256 != one.sha256


def test_views_follow_the_live_version_when_it_switches(db: ReadModelDatabase) -> None:
    ensure_versions_table(db)
    first, second = GoalsProjection(db, "goals-v1"), GoalsProjection(db, "goals-v2")
    goal_id = str(uuid.uuid4())
    asyncio.run(first.apply(envelope(goal_id, 1, created("Only in version 1"))))

    def views_for(name: str) -> dict[str, list[str]]:
        return {t.logical: [t.physical] for t in goals_version_tables(name)}

    with db.transaction() as tx:
        add_version(tx, "goals", 1, LIVE, "2026-01-01T00:00:00+00:00")
        add_version(tx, "goals", 2, "building", "2026-01-02T00:00:00+00:00")
        point_views(tx, db.engine, views_for(first.name))
    assert db.read("SELECT title FROM alignment_goals") == [("Only in version 1",)]

    asyncio.run(second.apply(envelope(goal_id, 1, created("Rebuilt"))))
    with db.transaction() as tx:
        switch_live(tx, "goals", 2, "2026-01-03T00:00:00+00:00")
        point_views(tx, db.engine, views_for(second.name))
    assert db.read("SELECT title FROM alignment_goals") == [("Rebuilt",)]
    assert [(v.number, v.state) for v in load_versions(db, "goals")] == [
        (1, "retired"),
        (2, "live"),
    ]


def test_plain_tables_of_a_store_written_before_versions_become_version_one(
    db: ReadModelDatabase,
) -> None:
    legacy = GoalsProjection(db, "goals-v1")
    goal_id = str(uuid.uuid4())
    asyncio.run(legacy.apply(envelope(goal_id, 1, created("Written before versions"))))
    with db.transaction() as tx:
        for table in legacy.tables():
            tx.execute(f"ALTER TABLE {table.physical} RENAME TO {table.logical}")

    adopt_unversioned_tables(db, goals_version_tables("goals-v1"))

    assert db.read("SELECT title FROM goals_v1_alignment_goals") == [("Written before versions",)]
    rebuilt = GoalsProjection(db, "goals-v1")
    assert not asyncio.run(rebuilt.apply(envelope(goal_id, 1, created("Written before versions"))))
