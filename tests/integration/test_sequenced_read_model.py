"""The goals read model applies each goal's events in version order, on SQLite and PostgreSQL:
a failed event parks itself and every later event of its goal (others flow on); an unknown type
at the next version is parked, never folded as "no change"; a different event at an applied
version is a conflict, parked with both ids; a duplicate is skipped; a gap is held, then filled
or parked. Operators retry or skip (recorded), and a rebuild replays the skips."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta

from northstar_contracts.envelope import EventEnvelope
from services.projections.audit import load_entries, load_head, verify_chain
from services.projections.content_hash import content_hash
from services.projections.goals_projection import GoalsProjection
from services.shared.canonical import utc_now
from services.shared.readmodel import ReadModelDatabase
from services.shared.sequencing import HoldLimits
from tests.builders import GoalEvent, created, envelope, goal_event
from tests.integration.conftest import NewDatabase


def renamed(title: str) -> GoalEvent:
    return goal_event("Renamed", title=title, by="hr-1")


def history(goal_id: str, versions: int) -> list[EventEnvelope]:
    return [
        envelope(goal_id, v, created("Goal") if v == 1 else renamed(f"v{v}"))
        for v in range(1, versions + 1)
    ]


def apply_all(projection: GoalsProjection, events: Sequence[EventEnvelope]) -> list[bool]:
    async def run() -> list[bool]:
        return [await projection.apply(e) for e in events]

    return asyncio.run(run())


def chain(
    db: ReadModelDatabase, projection: GoalsProjection, goal_id: str
) -> tuple[bool, list[tuple[int, str]]]:
    with db.snapshot() as tx:
        entries = load_entries(tx, goal_id, tables=projection.audit)
        head = load_head(tx, goal_id, projection.audit)
    return verify_chain(entries, head).intact, [(e.version, e.event_type) for e in entries]


def test_a_failed_event_parks_its_goal_and_others_flow_on_then_a_skip_completes_it(
    new_db: NewDatabase,
) -> None:
    db = new_db()
    projection = GoalsProjection(db)
    goal, other = str(uuid.uuid4()), str(uuid.uuid4())
    broken = envelope(goal, 3, ("goals.GoalRenamed", {"by": "hr-1"}))  # no title: the write fails
    applied = apply_all(
        projection,
        [
            envelope(goal, 1, created("Goal")),
            envelope(goal, 2, renamed("Two")),
            broken,
            envelope(goal, 4, renamed("Four")),
            envelope(other, 1, created("Other")),
            envelope(goal, 5, renamed("Five")),
            envelope(other, 2, renamed("Other two")),
        ],
    )

    assert applied == [True, True, False, False, True, False, True]
    intact, entries = chain(db, projection, goal)
    assert intact
    assert [v for v, _ in entries] == [1, 2]  # nothing applied past the failure
    assert chain(db, projection, other)[1] == [(1, "goals.GoalCreated"), (2, "goals.GoalRenamed")]
    parked = projection.ledger.parked_events()
    assert [(e.version, e.kind) for e in parked] == [(3, "failed"), (4, "behind"), (5, "behind")]
    assert "KeyError" in parked[0].reason

    outcome = projection.ledger.skip(goal, broken.id, "producer bug, title lost", "ops-1")

    assert [e.aggregate_version for e in outcome.applied] == [4, 5]
    intact, entries = chain(db, projection, goal)
    assert intact
    assert entries == [
        (1, "goals.GoalCreated"),
        (2, "goals.GoalRenamed"),
        (3, "projections.EventSkipped"),
        (4, "goals.GoalRenamed"),
        (5, "goals.GoalRenamed"),
    ]
    with db.snapshot() as tx:
        skip_entry = load_entries(tx, goal, tables=projection.audit)[2]
    assert (skip_entry.actor_id, skip_entry.reason) == ("ops-1", "producer bug, title lost")
    assert skip_entry.data["skipped_event_id"] == broken.id
    assert projection.ledger.parked_events() == []


def test_an_unknown_type_at_the_next_version_is_parked_and_the_real_event_is_not_dropped(
    new_db: NewDatabase,
) -> None:
    db = new_db()
    projection = GoalsProjection(db)
    goal = str(uuid.uuid4())
    stray = envelope(goal, 2, ("goals.GoalCheered", {"by": "someone"})).model_copy(
        update={"id": str(uuid.uuid4())}
    )
    real = envelope(goal, 2, renamed("Real two"))

    third = envelope(goal, 3, renamed("3"))
    applied = apply_all(projection, [envelope(goal, 1, created("Goal")), stray, real, third])

    assert applied == [True, False, False, False]
    parked = projection.ledger.parked_events()
    assert sorted((e.version, e.event_id, e.kind) for e in parked) == sorted(
        [
            (2, stray.id, "unknown type"),
            (2, real.id, "behind"),
            (3, third.id, "behind"),
        ]
    )

    projection.ledger.skip(goal, stray.id, "not ours", "ops-1")

    intact, entries = chain(db, projection, goal)
    assert intact
    assert [v for v, _ in entries] == [1, 2, 3]
    with db.snapshot() as tx:
        assert load_entries(tx, goal, tables=projection.audit)[1].event_id == real.id


def test_a_different_event_at_an_applied_version_is_a_conflict_a_redelivery_a_duplicate(
    new_db: NewDatabase,
) -> None:
    db = new_db()
    projection = GoalsProjection(db)
    goal = str(uuid.uuid4())
    first, second = envelope(goal, 1, created("Goal")), envelope(goal, 2, renamed("Two"))
    impostor = envelope(goal, 2, renamed("Other two")).model_copy(update={"id": str(uuid.uuid4())})

    applied = apply_all(projection, [first, second, second, impostor])
    outcome = projection.ledger.take([envelope(goal, 3, renamed("Three"))])

    assert applied == [True, True, False, False]
    assert outcome == [False]  # parked behind the conflict
    parked = projection.ledger.parked_events()
    assert [(e.version, e.kind) for e in parked] == [(2, "conflict"), (3, "behind")]
    assert (parked[0].event_id, parked[0].applied_event_id) == (impostor.id, second.id)
    assert impostor.id in parked[0].reason
    assert second.id in parked[0].reason

    projection.ledger.skip(goal, impostor.id, "replayed from a restored store", "ops-1")

    intact, entries = chain(db, projection, goal)
    assert intact
    assert [v for v, _ in entries] == [1, 2, 3]  # a conflict's skip fills nothing


def test_a_gap_is_held_until_the_missing_version_arrives_then_applied_in_order(
    new_db: NewDatabase,
) -> None:
    db = new_db()
    projection = GoalsProjection(db)
    goal = str(uuid.uuid4())
    events = [
        envelope(goal, v, created("Goal") if v == 1 else renamed(f"v{v}")) for v in (1, 2, 3, 4)
    ]

    applied = apply_all(projection, [events[0], events[2], events[3]])
    held = projection.ledger.counts()
    late = apply_all(projection, [events[1]])

    assert applied == [True, False, False]
    assert held == {"held": 2, "parked": 0}
    assert late == [True]
    intact, entries = chain(db, projection, goal)
    assert intact
    assert [v for v, _ in entries] == [1, 2, 3, 4]
    assert projection.ledger.counts() == {"held": 0, "parked": 0}


def test_a_gap_past_its_bounds_is_parked_and_a_retry_completes_it_once_the_event_is_back(
    new_db: NewDatabase,
) -> None:
    db = new_db()
    projection = GoalsProjection(db, limits=HoldLimits(max_held=2, max_hold_seconds=60))
    goal, slow = str(uuid.uuid4()), str(uuid.uuid4())
    events = [
        envelope(goal, v, created("Goal") if v == 1 else renamed(f"v{v}")) for v in range(1, 6)
    ]

    apply_all(projection, [events[0], events[2], events[3], events[4]])  # 3 held > 2: parked
    apply_all(projection, [envelope(slow, 1, created("Slow")), envelope(slow, 3, renamed("3"))])
    swept = projection.ledger.sweep(utc_now() + timedelta(seconds=61))  # the time bound

    kinds = [(e.aggregate_id, e.version, e.kind) for e in projection.ledger.parked_events()]
    assert sorted(kinds) == sorted(
        [(goal, 3, "gap"), (goal, 4, "behind"), (goal, 5, "behind"), (slow, 3, "gap")]
    )
    assert swept.parked == {"gap": 1}
    assert apply_all(projection, [events[1]]) == [False]  # parked behind: an operator decides

    outcome = projection.ledger.retry(goal)

    assert [e.aggregate_version for e in outcome.applied] == [2, 3, 4, 5]
    intact, entries = chain(db, projection, goal)
    assert intact
    assert [v for v, _ in entries] == [1, 2, 3, 4, 5]


def test_a_rebuild_replays_the_skips_and_reaches_the_same_content(new_db: NewDatabase) -> None:
    db = new_db()
    live, rebuilt = GoalsProjection(db, "goals-v1"), GoalsProjection(db, "goals-v2")
    goal = str(uuid.uuid4())
    history = [
        envelope(goal, 1, created("Goal")),
        envelope(goal, 2, ("goals.GoalRenamed", {"by": "hr-1"})),
        envelope(goal, 3, renamed("Three")),
    ]
    apply_all(live, history)
    live.ledger.skip(goal, history[1].id, "title lost", "ops-1")

    apply_all(rebuilt, history)

    assert rebuilt.ledger.parked_events() == []
    assert (
        content_hash(db, "goals-v2", rebuilt.tables()).sha256
        == content_hash(db, "goals-v1", live.tables()).sha256
    )
