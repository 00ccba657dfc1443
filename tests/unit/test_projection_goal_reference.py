"""The projections' goal fold against the goals service's own aggregate: generated command
sequences run on the Goal aggregate, each recorded event goes through its public contract and
into the fold, and at every version the folded state says what the aggregate says then."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from northstar_contracts.registry import EVENTS
from services.goals.goal import Goal
from services.goals.metrics import Metric
from services.goals.publishing import public_type_name
from services.projections.audit import State
from services.projections.goal_state import (
    fold_goal_event,
    key_result_source,
    own_progress,
    progress_source,
)
from services.shared.errors import NorthstarError

START = date(2026, 1, 1)
OTHER_GOALS = [UUID(int=n) for n in (101, 102, 103)]
KEY_RESULT_IDS = [UUID(int=n) for n in (1, 2, 3)]
KPI_IDS = [UUID(int=n) for n in (201, 202)]

Command = tuple[str, dict[str, Any]]


def command(name: str, **arguments: st.SearchStrategy[Any]) -> st.SearchStrategy[Command]:
    """A Goal method and generated keyword arguments for it (shown as such when a case fails)."""
    return st.tuples(st.just(name), st.fixed_dictionaries(arguments))


texts = st.text(alphabet="abcdef ", min_size=1, max_size=10).filter(str.strip)
reasons = st.sampled_from(["board asked", "new plan"])
by = st.sampled_from(["hr-1", "owner-1"])
key_result_ids = st.sampled_from(KEY_RESULT_IDS)
kpi_ids = st.sampled_from(KPI_IDS)
maybe_key_result = st.one_of(st.none(), key_result_ids)
amounts = st.integers(0, 150).map(float)
metrics = st.one_of(
    st.integers(1, 100).map(lambda target: Metric("number", "increase", 0.0, float(target))),
    st.integers(0, 99).map(lambda target: Metric("percentage", "decrease", 100.0, float(target))),
    st.integers(0, 100).map(lambda limit: Metric("number", "stay_below", 50.0, float(limit))),
)

# Lifecycle steps apart: closing a goal early refuses most later commands, so they come rarer.
lifecycle_steps: st.SearchStrategy[Command] = st.one_of(
    command("activate", by=by),
    command("complete", by=by),
    command("cancel", reason=reasons, by=by),
    command("archive", by=by),
    command("reopen", reason=reasons, by=by),
)
changes: st.SearchStrategy[Command] = st.one_of(
    command("rename", title=texts, by=by),
    command("describe", description=st.text(alphabet="xyz ", max_size=8), by=by),
    command(
        "reassign",
        owner_id=st.sampled_from(["owner-1", "owner-2"]),
        team_id=st.sampled_from(["team-a", "team-b"]),
        by=by,
    ),
    command("change_visibility", visibility=st.sampled_from(["public", "team", "private"]), by=by),
    command("align", parent_goal_id=st.sampled_from(OTHER_GOALS), reason=reasons, by=by),
    command(
        "set_contributions",
        contributions=st.dictionaries(
            st.sampled_from(OTHER_GOALS), st.integers(1, 5).map(float), max_size=3
        ),
        reason=reasons,
        by=by,
    ),
    command("define_metric", metric=metrics, by=by, measured_by_own_metric=st.booleans()),
    command(
        "add_key_result",
        title=texts,
        metric=metrics,
        weight=st.integers(1, 4).map(float),
        by=by,
        key_result_id=key_result_ids,
    ),
    command(
        "add_key_result",
        title=texts,
        metric=metrics,
        weight=st.integers(1, 4).map(float),
        by=by,
        key_result_id=key_result_ids,
        progress_source=st.just("kpi"),
        kpi_id=kpi_ids,
    ),
    command(
        "change_key_result_progress_source",
        key_result_id=key_result_ids,
        progress_source=st.just("kpi"),
        reason=reasons,
        by=by,
        kpi_id=kpi_ids,
    ),
    command(
        "change_key_result_progress_source",
        key_result_id=key_result_ids,
        progress_source=st.just("metric"),
        reason=reasons,
        by=by,
    ),
    command(
        "check_in_kpi_measurement",
        kpi_id=kpi_ids,
        kpi_version=st.integers(1, 9),
        period=st.sampled_from(["2026-01", "2026-02"]),
        value=amounts,
        by=st.just("kpi-feed"),
    ),
    command("remove_key_result", key_result_id=key_result_ids, reason=reasons, by=by),
    command(
        "change_progress_source",
        progress_source=st.sampled_from(["metric", "key_results", "children"]),
        reason=reasons,
        by=by,
    ),
    command(
        "check_in",
        value=st.one_of(st.none(), amounts),
        confidence=st.integers(0, 10).map(lambda tenths: tenths / 10),
        note=st.just(""),
        by=by,
        key_result_id=maybe_key_result,
    ),
    command(
        "change_target",
        new_target=amounts,
        reason=reasons,
        by=by,
        key_result_id=maybe_key_result,
    ),
    command(
        "change_due_date",
        new_due_date=st.integers(0, 400).map(lambda days: START + timedelta(days=days)),
        reason=reasons,
        by=by,
    ),
    command(
        "flag_for_reassignment",
        departed_person_id=st.sampled_from(["owner-1", "owner-2"]),
        manager_id=st.just("manager-1"),
        leave_date=st.just(date(2026, 3, 31)),
        by=st.just("directory"),
    ),
    command("roll_over", next_goal_id=st.sampled_from(OTHER_GOALS), by=by),
)
# Most goals are activated first: check-ins need an active goal.
sequences = st.tuples(
    st.booleans(),
    st.lists(
        st.integers(0, 9).flatmap(lambda n: lifecycle_steps if n == 0 else changes),
        min_size=5,
        max_size=40,
    ),
).map(lambda drawn: [("activate", {"by": "hr-1"})] * drawn[0] + drawn[1])

new_goals = st.fixed_dictionaries(
    {
        "tenant_id": st.just("acme"),
        "title": texts,
        "description": st.just(""),
        "owner_id": st.just("owner-1"),
        "team_id": st.just("team-a"),
        "level": st.sampled_from(["company", "team", "personal"]),
        "start_date": st.just(START),
        "due_date": st.one_of(st.none(), st.just(date(2026, 12, 31))),
        "metric": st.one_of(st.none(), metrics),
        "parent_goal_id": st.one_of(st.none(), st.sampled_from(OTHER_GOALS)),
        "visibility": st.sampled_from(["public", "private"]),
        "created_by": st.just("hr-1"),
        "measured_by_own_metric": st.booleans(),
        "recurring": st.booleans(),
    }
)


def recorded_events(
    arguments: dict[str, Any], sequence: Sequence[Command], *, refusals_allowed: bool
) -> list[Goal.Event]:
    """The events the aggregate records for the sequence; refused commands record nothing."""
    goal = Goal.create(**arguments)
    for name, command_arguments in sequence:
        try:
            getattr(goal, name)(**command_arguments)
        except NorthstarError:
            if not refusals_allowed:
                raise
    return [event for event in goal.collect_events() if isinstance(event, Goal.Event)]


def aggregate_says(goal: Goal) -> dict[str, Any]:
    """The aggregate's state, in the plain values the public events carry."""
    flag = goal.reassignment
    return {
        "tenant_id": goal.tenant_id,
        "title": goal.title,
        "description": goal.description,
        "owner_id": goal.owner_id,
        "team_id": goal.team_id,
        "level": goal.level,
        "visibility": goal.visibility,
        "lifecycle": goal.lifecycle,
        "outcome": goal.outcome,
        "parent_goal_id": None if goal.parent_goal_id is None else str(goal.parent_goal_id),
        "contributions": [(str(target), weight) for target, weight in goal.contributions.items()],
        "metric": None if goal.metric is None else goal.metric.to_data(),
        "measured_by_own_metric": goal.measured_by_own_metric,
        "key_results": [
            (
                str(kr.key_result_id),
                kr.title,
                kr.metric.to_data(),
                kr.weight,
                kr.progress_source,
                None if kr.kpi_id is None else str(kr.kpi_id),
            )
            for kr in goal.key_results
        ],
        "confidence": goal.latest_confidence,
        "check_ins": goal.check_in_count,
        "start_date": goal.start_date,
        "due_date": goal.due_date,
        "recurring": goal.recurring,
        "next_goal_id": None if goal.next_goal_id is None else str(goal.next_goal_id),
        "reassignment": None
        if flag is None
        else (flag.departed_person_id, flag.manager_id, flag.leave_date),
        "own_progress": goal.own_progress(),
        "progress_source": goal.progress_source,
    }


def fold_says(state: State) -> dict[str, Any]:
    """The folded state, in the same shape as `aggregate_says`."""
    flag = state["reassignment"]
    return {
        **{
            name: state[name]
            for name in (
                "tenant_id",
                "title",
                "description",
                "owner_id",
                "team_id",
                "level",
                "visibility",
                "lifecycle",
                "outcome",
                "parent_goal_id",
                "measured_by_own_metric",
                "confidence",
                "recurring",
                "next_goal_id",
            )
        },
        "check_ins": state["check_ins"],
        "contributions": [(link["goal_id"], link["weight"]) for link in state["contributions"]],
        "metric": None if state["metric"] is None else Metric.from_data(state["metric"]).to_data(),
        "key_results": [
            (
                kr["key_result_id"],
                kr["title"],
                Metric.from_data(kr["metric"]).to_data(),
                kr["weight"],
                key_result_source(kr),
                kr.get("kpi_id"),
            )
            for kr in state["key_results"]
        ],
        "start_date": date.fromisoformat(state["start_date"]),
        "due_date": None if state["due_date"] is None else date.fromisoformat(state["due_date"]),
        "reassignment": None
        if flag is None
        else (
            flag["departed_person_id"],
            flag["manager_id"],
            date.fromisoformat(flag["leave_date"]),
        ),
        "own_progress": own_progress(state),
        "progress_source": progress_source(state),
    }


def assert_fold_says_what_the_aggregate_says(
    arguments: dict[str, Any], sequence: Sequence[Command], *, refusals_allowed: bool = True
) -> int:
    """Check every version of the goal the sequence leaves; returns how many there are."""
    events = recorded_events(arguments, sequence, refusals_allowed=refusals_allowed)
    replayed: Goal | None = None  # the aggregate at each version, as the repository rebuilds it
    state: State = {}
    for version, event in enumerate(events, start=1):
        replayed = event.mutate(replayed)
        assert replayed is not None
        assert replayed.version == version
        event_type = public_type_name(type(event))
        _, data = EVENTS.outbound_data_of(event_type, event)
        state = fold_goal_event(state, event_type, data)
        assert fold_says(state) == aggregate_says(replayed), f"at version {version} ({event_type})"
    return len(events)


@settings(max_examples=100, deadline=None)
@given(arguments=new_goals, sequence=sequences)
def test_the_fold_of_the_public_events_says_what_the_goal_aggregate_says_at_every_version(
    arguments: dict[str, Any], sequence: list[Command]
) -> None:
    assert_fold_says_what_the_aggregate_says(arguments, sequence)


def test_the_fold_follows_the_aggregate_through_every_kind_of_change() -> None:
    """Generated sequences are only as good as what they reach: this fixed one surely goes
    through key results, check-ins on the goal and a key result, a key result's progress source
    and a KPI measurement checked in on it, retargets, links, a departure
    flag answered by a reassignment, completion and a roll-over, each recording an event."""
    arguments: dict[str, Any] = {
        "tenant_id": "acme",
        "title": "Grow",
        "description": "",
        "owner_id": "owner-1",
        "team_id": "team-a",
        "level": "team",
        "start_date": START,
        "due_date": date(2026, 12, 31),
        "metric": Metric("number", "increase", 0.0, 10.0),
        "parent_goal_id": None,
        "visibility": "public",
        "created_by": "hr-1",
        "measured_by_own_metric": False,
        "recurring": True,
    }
    first, second = KEY_RESULT_IDS[:2]
    measure = Metric("number", "increase", 0.0, 4.0)
    departure = {"departed_person_id": "owner-1", "manager_id": "manager-1"}
    sequence: list[Command] = [
        ("activate", {"by": "hr-1"}),
        ("check_in", {"value": 5.0, "confidence": 0.7, "note": "", "by": "hr-1"}),
        (
            "add_key_result",
            {"title": "A", "metric": measure, "weight": 2.0, "by": "hr-1", "key_result_id": first},
        ),
        (
            "add_key_result",
            {"title": "B", "metric": measure, "weight": 1.0, "by": "hr-1", "key_result_id": second},
        ),
        (
            "check_in",
            {"value": 3.0, "confidence": 0.4, "note": "", "by": "hr-1", "key_result_id": first},
        ),
        (
            "change_key_result_progress_source",
            {
                "key_result_id": second,
                "progress_source": "kpi",
                "reason": "the feed measures it",
                "by": "hr-1",
                "kpi_id": KPI_IDS[0],
            },
        ),
        (
            "check_in_kpi_measurement",
            {"kpi_id": KPI_IDS[0], "kpi_version": 1, "period": "2026-01", "value": 3.0, "by": "k"},
        ),
        (
            "change_key_result_progress_source",
            {"key_result_id": second, "progress_source": "metric", "reason": "no", "by": "x"},
        ),
        ("change_target", {"new_target": 8.0, "reason": "board asked", "by": "hr-1"}),
        (
            "change_target",
            {"new_target": 6.0, "reason": "board asked", "by": "hr-1", "key_result_id": second},
        ),
        ("remove_key_result", {"key_result_id": second, "reason": "obsolete", "by": "hr-1"}),
        ("align", {"parent_goal_id": OTHER_GOALS[0], "reason": "", "by": "hr-1"}),
        ("set_contributions", {"contributions": {OTHER_GOALS[1]: 2.0}, "reason": "", "by": "x"}),
        ("change_due_date", {"new_due_date": date(2027, 1, 31), "reason": "slip", "by": "x"}),
        ("flag_for_reassignment", {**departure, "leave_date": date(2026, 3, 31), "by": "hr-1"}),
        ("reassign", {"owner_id": "owner-2", "team_id": "team-b", "by": "hr-1"}),
        ("change_visibility", {"visibility": "private", "by": "hr-1"}),
        ("complete", {"by": "hr-1"}),
        ("reopen", {"reason": "not done", "by": "hr-1"}),
        ("cancel", {"reason": "dropped", "by": "hr-1"}),
        ("archive", {"by": "hr-1"}),
        ("roll_over", {"next_goal_id": OTHER_GOALS[2], "by": "hr-1"}),
    ]
    versions = assert_fold_says_what_the_aggregate_says(arguments, sequence, refusals_allowed=False)
    assert versions == 1 + len(sequence)
