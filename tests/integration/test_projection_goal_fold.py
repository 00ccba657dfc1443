"""The goals read model on generated histories, on SQLite and PostgreSQL: the state at every
version is the fold of the public goal events up to it, whatever the sequence; each entry's
changes take the state before it to the state after it; a redelivered history changes nothing."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.projections.alignment import tenant_graph
from services.projections.audit import State, fold_entries, load_entries
from services.projections.goal_state import fold_goal_event, own_progress
from services.projections.goals_projection import GoalsProjection
from services.shared.readmodel import ReadModelDatabase
from tests.builders import (
    KEY_RESULT_IDS,
    OTHER_GOALS,
    GoalEvent,
    apply_history,
    created,
    goal_event,
    metric,
)
from tests.integration.conftest import NewDatabase

# ---- generated histories ----

texts = st.text(alphabet="abcdefgh ", min_size=1, max_size=12)
targets = st.integers(1, 100).map(float)
values = st.integers(0, 120).map(float)
key_result_ids = st.sampled_from(KEY_RESULT_IDS)
maybe_key_result = st.one_of(st.none(), key_result_ids)
reasons = st.text(alphabet="xyz ", max_size=8)

later_events: st.SearchStrategy[GoalEvent] = st.one_of(
    texts.map(lambda t: goal_event("Renamed", title=t, by="hr-1")),
    texts.map(lambda d: goal_event("Described", description=d, by="hr-1")),
    st.sampled_from(["owner-1", "owner-2"]).map(
        lambda o: goal_event("Reassigned", owner_id=o, team_id="team-b", by="hr-1")
    ),
    st.sampled_from(["public", "team", "private"]).map(
        lambda v: goal_event("VisibilityChanged", visibility=v, by="hr-1")
    ),
    st.just(goal_event("Activated", by="hr-1")),
    st.just(goal_event("Completed", by="hr-1")),
    reasons.map(lambda r: goal_event("Cancelled", reason=r, by="hr-1")),
    st.just(goal_event("Archived", by="hr-1")),
    reasons.map(lambda r: goal_event("Reopened", reason=r, by="hr-1")),
    st.sampled_from(OTHER_GOALS).map(
        lambda p: goal_event(
            "Aligned", parent_goal_id=p, previous_parent_goal_id=None, reason="", by="hr-1"
        )
    ),
    st.lists(
        st.tuples(st.sampled_from(OTHER_GOALS), st.integers(1, 5)),
        max_size=3,
        unique_by=lambda c: c[0],
    ).map(
        lambda links: goal_event(
            "ContributionsSet",
            contributions=[{"goal_id": g, "weight": float(w)} for g, w in links],
            reason="",
            by="hr-1",
        )
    ),
    st.tuples(targets, st.booleans()).map(
        lambda m: goal_event(
            "MetricDefined", metric=metric(m[0]), measured_by_own_metric=m[1], by="hr-1"
        )
    ),
    st.tuples(key_result_ids, texts, targets, st.integers(1, 4)).map(
        lambda k: goal_event(
            "KeyResultAdded",
            key_result_id=k[0],
            title=k[1],
            metric=metric(k[2]),
            weight=float(k[3]),
            by="hr-1",
        )
    ),
    key_result_ids.map(
        lambda k: goal_event("KeyResultRemoved", key_result_id=k, reason="obsolete", by="hr-1")
    ),
    st.tuples(key_result_ids, st.sampled_from([None, str(uuid.UUID(int=201))])).map(
        lambda k: goal_event(
            "KeyResultProgressSourceChanged",
            key_result_id=k[0],
            progress_source="metric" if k[1] is None else "kpi",
            kpi_id=k[1],
            previous_progress_source=None,
            previous_kpi_id=None,
            reason="the feed measures it",
            by="hr-1",
        )
    ),
    st.tuples(st.one_of(st.none(), values), st.integers(0, 10), maybe_key_result).map(
        lambda c: goal_event(
            "CheckedIn",
            value=c[0],
            confidence=c[1] / 10,
            note="",
            by="hr-1",
            key_result_id=c[2],
        )
    ),
    st.tuples(maybe_key_result, targets).map(
        lambda t: goal_event(
            "TargetChanged",
            key_result_id=t[0],
            old_target=1.0,
            new_target=t[1],
            reason="board",
            by="hr-1",
        )
    ),
    st.integers(0, 200).map(
        lambda days: goal_event(
            "DueDateChanged",
            old_due_date=None,
            new_due_date=date(2026, 2, 1) + timedelta(days=days),
            reason="slip",
            by="hr-1",
        )
    ),
    st.just(
        goal_event(
            "FlaggedForReassignment",
            departed_person_id="owner-1",
            manager_id="manager-1",
            leave_date=date(2026, 3, 31),
            by="directory",
        )
    ),
)
histories = st.tuples(targets, st.lists(later_events, max_size=25)).map(
    lambda h: [created(measure=metric(h[0])), *h[1]]
)


# An oracle independent of the fold: what a reader of docs/goals.md expects of a few fields,
# one hand-written rule per event type (the last rename wins, lifecycle transitions as listed).
LIFECYCLE_AFTER = {
    "goals.GoalActivated": "active",
    "goals.GoalCompleted": "completed",
    "goals.GoalCancelled": "cancelled",
    "goals.GoalReopened": "active",
    "goals.GoalArchived": "archived",
}


def expected_summary(events: list[GoalEvent]) -> dict[str, Any]:
    (_, created_data), *later = events
    summary: dict[str, Any] = {
        "title": created_data["title"],
        "owner_id": created_data["owner_id"],
        "visibility": created_data["visibility"],
        "lifecycle": "draft",
        "check_ins": 0,
    }
    for event_type, data in later:
        if event_type == "goals.GoalRenamed":
            summary["title"] = data["title"]
        elif event_type == "goals.GoalReassigned":
            summary["owner_id"] = data["owner_id"]
        elif event_type == "goals.GoalVisibilityChanged":
            summary["visibility"] = data["visibility"]
        elif event_type in LIFECYCLE_AFTER:
            summary["lifecycle"] = LIFECYCLE_AFTER[event_type]
        elif event_type == "goals.GoalCheckedIn":
            summary["check_ins"] += 1
    return summary


@pytest.fixture
def read_model_db(new_db: NewDatabase) -> ReadModelDatabase:
    return new_db()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=histories)
def test_state_at_every_version_equals_folding_the_goal_events_up_to_it(
    read_model_db: ReadModelDatabase, events: list[GoalEvent]
) -> None:
    db = read_model_db  # one store for every example: each history is a goal of its own
    projection = GoalsProjection(db)
    goal_id = str(uuid.uuid4())
    assert all(apply_history(projection, goal_id, events))

    expected: list[State] = []
    state: State = {}
    for event_type, data in events:
        state = fold_goal_event(state, event_type, data)
        expected.append(state)
    with db.transaction() as tx:
        entries = load_entries(tx, goal_id, tables=projection.audit)
        for version in range(1, len(events) + 1):
            assert fold_entries(entries[:version], fold_goal_event) == expected[version - 1]
        head = tx.one(
            f"SELECT state_json FROM {projection.audit.heads} WHERE aggregate_id = ?", (goal_id,)
        )
    oracle = expected_summary(events)
    assert {name: expected[-1][name] for name in oracle} == oracle
    before: State = {}
    for entry, after in zip(entries, expected, strict=True):
        assert {**before, **{c.field: c.after for c in entry.changes}} == after
        before = after
    assert head is not None
    node = tenant_graph(db, projection.alignment, "acme", date(2026, 6, 1))[uuid.UUID(goal_id)]
    assert (node.title, node.version, node.owner_id) == (
        expected[-1]["title"],
        len(events),
        expected[-1]["owner_id"],
    )
    assert node.own_progress == own_progress(expected[-1])
    assert not any(apply_history(projection, goal_id, events)), "a redelivery changes nothing"
