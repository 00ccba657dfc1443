"""The Goal aggregate: build it, call commands, check events and state; refusals record nothing."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    Transcoding,
    UUIDAsHex,
)

from services.goals.goal import Goal
from services.goals.metrics import Metric
from services.goals.rules import (
    AlignmentCycle,
    AlignmentTarget,
    AlignmentTargetClosed,
    GoalNotActive,
    IllegalTransition,
)
from services.goals.smart import assess_smart, summarise_smart_by_team
from services.shared.errors import FailedPrecondition, InvalidArgument, NorthstarError, NotFound

Q1_START, Q1_DUE = date(2025, 1, 1), date(2025, 3, 31)


def new_goal(**overrides: Any) -> Goal:
    arguments: dict[str, Any] = {
        "tenant_id": "acme",
        "title": "Grow annual recurring revenue",
        "description": "New contracts in the DACH region.",
        "owner_id": "ana",
        "team_id": "sales",
        "level": "team",
        "start_date": Q1_START,
        "due_date": Q1_DUE,
        "metric": Metric("currency", "increase", 100, 200, "EUR"),
        "parent_goal_id": None,
        "visibility": "public",
        "created_by": "ana",
    }
    arguments.update(overrides)
    return Goal.create(**arguments)


def active_goal(**overrides: Any) -> Goal:
    goal = new_goal(**overrides)
    goal.activate(by="ana")
    goal.collect_events()
    return goal


def event_names(events: Iterable[object]) -> list[str]:
    return [type(event).__name__ for event in events]


def refused(goal: Goal, error: type[NorthstarError], field: str, command: Any, *args: Any) -> None:
    """`command` raises `error` naming `field`, and records nothing."""
    version, pending = goal.version, list(goal.pending_events)
    with pytest.raises(error) as raised:
        command(*args)
    assert raised.value.field == field
    assert goal.pending_events == pending
    assert goal.version == version


# ---- creation ----


def test_a_new_goal_is_a_draft_with_its_own_id_and_plain_event_data() -> None:
    goal = new_goal()
    (created,) = goal.collect_events()
    assert isinstance(created, Goal.Created)
    assert isinstance(goal.id, UUID)
    assert goal.lifecycle == "draft"
    assert created.metric == {
        "kind": "currency",
        "direction": "increase",
        "start": 100.0,
        "target": 200.0,
        "unit": "EUR",
        "current": 100.0,
    }
    assert goal.metric == Metric("currency", "increase", 100.0, 200.0, "EUR", 100.0)


def test_a_goal_created_with_a_parent_is_aligned() -> None:
    parent_id = uuid4()
    goal = new_goal(parent_goal_id=parent_id)
    assert goal.parent_goal_id == parent_id
    assert goal.linked_goal_ids == (parent_id,)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"due_date": date(2024, 12, 31)}, "due_date"),
        ({"start_date": datetime(2025, 1, 1, 9)}, "start_date"),
        ({"metric": Metric("number", "increase", math.nan, 5)}, "metric.start"),
        ({"metric": Metric("number", "increase", 0, math.inf)}, "metric.target"),
        ({"metric": Metric("number", "increase", 5, 5)}, "metric.target"),
        ({"level": "galaxy"}, "level"),
        ({"visibility": "everyone"}, "visibility"),
        ({"owner_id": ""}, "owner_id"),
        ({"level": "strategy", "parent_goal_id": uuid4()}, "parent_goal_id"),
    ],
)
def test_bad_creation_input_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        new_goal(**overrides)
    assert raised.value.field == field


def test_target_equal_to_start_gives_the_precise_reason() -> None:
    with pytest.raises(InvalidArgument) as raised:
        new_goal(metric=Metric("number", "increase", 5, 5))
    assert raised.value.reason == "target equals start: progress cannot be measured"


# ---- lifecycle ----


def test_legal_transitions_walk_the_lifecycle() -> None:
    goal = new_goal()
    goal.collect_events()
    goal.activate(by="ana")
    goal.complete(by="ana")
    goal.reopen(reason="customer renewed late", by="bob")
    assert goal.lifecycle == "active"
    goal.cancel(reason="market exit", by="bob")
    goal.archive(by="bob")
    assert goal.lifecycle == "archived"
    assert goal.outcome == "cancelled"
    events = goal.collect_events()
    assert event_names(events) == ["Activated", "Completed", "Reopened", "Cancelled", "Archived"]
    reopened = events[2]
    assert isinstance(reopened, Goal.Reopened)
    assert (reopened.reason, reopened.by) == ("customer renewed late", "bob")


@pytest.mark.parametrize(
    ("setup", "command"),
    [
        ([], "complete"),
        ([], "archive"),
        (["activate"], "activate"),
        (["activate"], "archive"),
        (["activate"], "reopen"),
        (["activate", "complete"], "complete"),
        (["activate", "complete"], "cancel"),
        (["activate", "complete", "archive"], "reopen"),
        (["activate", "complete", "archive"], "activate"),
    ],
)
def test_illegal_transitions_are_refused(setup: list[str], command: str) -> None:
    goal = new_goal()
    for step in setup:
        getattr(goal, step)(by="ana")
    goal.collect_events()
    arguments: dict[str, str] = {"by": "ana"}
    if command in ("cancel", "reopen"):
        arguments["reason"] = "because"
    refused(goal, IllegalTransition, "status", lambda: getattr(goal, command)(**arguments))


def test_cancel_and_reopen_need_a_reason() -> None:
    goal = active_goal()
    refused(goal, InvalidArgument, "reason", goal.cancel, "  ", "ana")
    goal.cancel("budget cut", "ana")
    goal.collect_events()
    refused(goal, InvalidArgument, "reason", goal.reopen, "", "ana")


# ---- check-ins ----


def test_check_in_moves_the_current_value_and_records_confidence() -> None:
    goal = active_goal()
    goal.check_in(150, 0.8, "two deals signed", "ana")
    (checked_in,) = goal.collect_events()
    assert isinstance(checked_in, Goal.CheckedIn)
    assert (checked_in.value, checked_in.confidence, checked_in.key_result_id) == (150, 0.8, None)
    assert goal.metric is not None
    assert goal.metric.current == 150
    assert (goal.progress(), goal.latest_confidence, goal.check_in_count) == (0.5, 0.8, 1)


def test_check_in_without_a_value_keeps_the_value() -> None:
    goal = active_goal(metric=None)
    goal.check_in(None, 0.6, "blocked by legal", "ana")
    assert goal.latest_confidence == 0.6
    assert goal.progress() == 0.0


@pytest.mark.parametrize("setup", [[], ["complete"], ["cancel"], ["complete", "archive"]])
def test_check_in_needs_an_active_goal(setup: list[str]) -> None:
    goal = new_goal()
    if setup:
        goal.activate("ana")
    for step in setup:
        if step == "cancel":
            goal.cancel("stop", "ana")
        else:
            getattr(goal, step)(by="ana")
    goal.collect_events()
    refused(goal, GoalNotActive, "status", goal.check_in, 150, 0.8, "", "ana")


@pytest.mark.parametrize(
    ("value", "confidence", "field"),
    [
        (math.nan, 0.5, "value"),
        (math.inf, 0.5, "value"),
        (150, 1.5, "confidence"),
        (150, -0.1, "confidence"),
        (150, math.nan, "confidence"),
    ],
)
def test_bad_check_ins_are_refused(value: float, confidence: float, field: str) -> None:
    goal = active_goal()
    refused(goal, InvalidArgument, field, goal.check_in, value, confidence, "", "ana")


def test_check_ins_that_cannot_apply_are_refused() -> None:
    milestone = active_goal(metric=Metric("binary", "increase", 0, 1))
    refused(milestone, InvalidArgument, "value", milestone.check_in, 0.5, 0.5, "", "ana")
    unmeasured = active_goal(metric=None)
    refused(unmeasured, FailedPrecondition, "value", unmeasured.check_in, 3, 0.5, "", "ana")
    refused(unmeasured, NotFound, "key_result_id", unmeasured.check_in, 3, 0.5, "", "ana", uuid4())


# ---- key results ----


def test_key_results_roll_up_by_weight() -> None:
    goal = active_goal(metric=None)
    first = goal.add_key_result("Sign 10 contracts", Metric("number", "increase", 0, 10), 1, "ana")
    second = goal.add_key_result("Churn below 2%", Metric("percentage", "decrease", 4, 2), 3, "ana")
    goal.check_in(5, 0.7, "", "ana", key_result_id=first)
    goal.check_in(2, 0.7, "", "ana", key_result_id=second)
    assert event_names(goal.collect_events()) == ["KeyResultAdded"] * 2 + ["CheckedIn"] * 2
    assert goal.progress() == 0.875  # (0.5 * 1 + 1.0 * 3) / 4
    goal.remove_key_result(second, "merged into another goal", "ana")
    assert goal.progress() == 0.5


@pytest.mark.parametrize(("weight", "field"), [(0, "key_result.weight"), (-1, "key_result.weight")])
def test_key_result_weights_must_be_positive(weight: float, field: str) -> None:
    goal = active_goal()
    metric = Metric("number", "increase", 0, 10)
    refused(goal, InvalidArgument, field, goal.add_key_result, "KR", metric, weight, "ana")


# ---- target and due date ----


def test_changing_the_target_keeps_the_old_one_in_the_history() -> None:
    goal = active_goal()
    goal.change_target(300, "bigger market", "bob")
    (changed,) = goal.collect_events()
    assert isinstance(changed, Goal.TargetChanged)
    assert (changed.old_target, changed.new_target, changed.reason) == (200, 300, "bigger market")
    assert goal.metric is not None
    assert goal.metric.target == 300


@pytest.mark.parametrize(
    ("new_target", "reason", "field"),
    [
        (300, "", "reason"),
        (100, "typo", "metric.target"),
        (50, "typo", "metric.target"),
        (math.nan, "typo", "new_target"),
    ],
)
def test_bad_target_changes_are_refused(new_target: float, reason: str, field: str) -> None:
    goal = active_goal()
    refused(goal, InvalidArgument, field, goal.change_target, new_target, reason, "bob")


def test_changing_the_due_date_keeps_the_old_one_and_needs_a_reason() -> None:
    goal = active_goal()
    refused(goal, InvalidArgument, "reason", goal.change_due_date, date(2025, 4, 30), " ", "bob")
    refused(goal, InvalidArgument, "due_date", goal.change_due_date, date(2024, 1, 1), "x", "bob")
    goal.change_due_date(date(2025, 4, 30), "waiting for budget", "bob")
    (changed,) = goal.collect_events()
    assert isinstance(changed, Goal.DueDateChanged)
    assert (changed.old_due_date, changed.new_due_date) == (Q1_DUE, date(2025, 4, 30))


# ---- alignment ----


def test_realignment_records_the_previous_parent_and_needs_a_reason() -> None:
    first_parent, second_parent = uuid4(), uuid4()
    goal = active_goal()
    goal.align(first_parent, "", "ana")
    refused(goal, InvalidArgument, "reason", goal.align, second_parent, "", "ana")
    goal.align(second_parent, "reorganisation", "ana")
    goal.align(second_parent, "reorganisation", "ana")  # already there: nothing to record
    aligned = goal.collect_events()
    assert event_names(aligned) == ["Aligned", "Aligned"]
    assert isinstance(aligned[1], Goal.Aligned)
    assert aligned[1].previous_parent_goal_id == first_parent
    assert goal.parent_goal_id == second_parent


def test_alignment_refuses_cycles_other_tenants_and_closed_parents() -> None:
    goal = active_goal()
    parent = new_goal(parent_goal_id=goal.id)
    links = {goal.id: goal.linked_goal_ids, parent.id: parent.linked_goal_ids}

    def parent_of(goal_id: UUID) -> tuple[UUID, ...]:
        return links.get(goal_id, ())

    refused(goal, AlignmentCycle, "parent_goal_id", goal.align, goal.id, "", "ana")
    refused(
        goal,
        AlignmentCycle,
        "parent_goal_id",
        lambda: goal.align(parent.id, "", "ana", parent_of=parent_of),
    )
    elsewhere = AlignmentTarget(parent.id, "globex", "active")
    refused(
        goal, NotFound, "parent_goal_id", lambda: goal.align(parent.id, "", "ana", parent=elsewhere)
    )
    closed = AlignmentTarget(parent.id, "acme", "archived")
    refused(
        goal,
        AlignmentTargetClosed,
        "parent_goal_id",
        lambda: goal.align(parent.id, "", "ana", parent=closed),
    )


def test_strategic_objectives_have_no_parent() -> None:
    objective = active_goal(level="strategy")
    refused(objective, InvalidArgument, "parent_goal_id", objective.align, uuid4(), "", "ana")


def test_contributions_are_weighted_links_that_cannot_close_a_loop() -> None:
    parent_id, other_id = uuid4(), uuid4()
    goal = active_goal(parent_goal_id=parent_id)
    goal.set_contributions({other_id: 2.0}, "", "ana")
    assert goal.contributions == {other_id: 2.0}
    assert goal.linked_goal_ids == (parent_id, other_id)
    (links_set,) = goal.collect_events()
    assert isinstance(links_set, Goal.ContributionsSet)
    assert links_set.contributions == [{"goal_id": other_id, "weight": 2.0}]

    def parent_of(goal_id: UUID) -> tuple[UUID, ...]:
        return (goal.id,) if goal_id == other_id else ()

    refused(goal, InvalidArgument, "reason", goal.set_contributions, {}, "", "ana")
    refused(
        goal,
        AlignmentCycle,
        "contributions",
        lambda: goal.set_contributions({other_id: 1.0}, "rebalance", "ana", parent_of=parent_of),
    )
    refused(
        goal, InvalidArgument, "contributions", goal.set_contributions, {parent_id: 1}, "x", "a"
    )


@pytest.mark.parametrize("weight", [0.0, -1.0, math.nan, math.inf])
def test_contribution_weights_must_be_positive_and_finite(weight: float) -> None:
    goal = active_goal()
    refused(
        goal,
        InvalidArgument,
        "contributions.weight",
        goal.set_contributions,
        {uuid4(): weight},
        "",
        "a",
    )


# ---- status ----


def test_status_follows_the_schedule() -> None:
    goal = active_goal()
    assert goal.status(date(2024, 12, 15)) == "not_started"
    goal.check_in(150, 0.9, "", "ana")
    assert goal.status(date(2025, 2, 14)) == "on_track"  # 0.5 done, 0.5 expected
    assert goal.status(date(2025, 3, 31)) == "off_track"  # 0.5 done, all expected
    goal.complete("ana")
    goal.archive("ana")
    assert goal.status(date(2025, 4, 1)) == "completed"


def test_a_breached_guardrail_is_off_track_from_the_first_day() -> None:
    goal = active_goal(metric=Metric("number", "stay_above", 40, 40))
    goal.check_in(41, 0.9, "", "ana")
    assert goal.status(date(2025, 1, 2)) == "on_track"
    goal.check_in(39, 0.9, "", "ana")
    assert goal.status(date(2025, 1, 2)) == "off_track"


# ---- other commands ----


def test_renaming_reassigning_and_visibility_are_recorded() -> None:
    goal = active_goal()
    goal.rename("Grow ARR in DACH", "ana")
    goal.describe("Only new logos.", "ana")
    goal.reassign("bob", "sales-dach", "carla")
    goal.change_visibility("team", "carla")
    goal.rename("Grow ARR in DACH", "ana")  # unchanged: nothing to record
    assert event_names(goal.collect_events()) == [
        "Renamed",
        "Described",
        "Reassigned",
        "VisibilityChanged",
    ]
    assert (goal.title, goal.owner_id, goal.team_id, goal.visibility) == (
        "Grow ARR in DACH",
        "bob",
        "sales-dach",
        "team",
    )
    refused(goal, InvalidArgument, "title", goal.rename, "", "ana")


def test_a_goal_without_metric_can_be_given_one_once() -> None:
    goal = active_goal(metric=None)
    goal.define_metric(Metric("number", "increase", 0, 10), "ana")
    assert goal.metric == Metric("number", "increase", 0.0, 10.0, "", 0.0)
    refused(
        goal,
        FailedPrecondition,
        "metric",
        goal.define_metric,
        Metric("number", "increase", 0, 5),
        "a",
    )


def test_a_recurring_goal_rolls_into_the_next_period_once() -> None:
    goal = active_goal(recurring=True)
    goal.check_in(180, 0.9, "", "ana")
    successor = Goal.create(**goal.next_period_arguments(by="ana"))
    assert (successor.start_date, successor.due_date) == (date(2025, 4, 1), date(2025, 6, 30))
    assert successor.metric == Metric("currency", "increase", 100.0, 200.0, "EUR", 100.0)
    assert successor.previous_goal_id == goal.id
    goal.roll_over(successor.id, "ana")
    assert goal.next_goal_id == successor.id
    goal.collect_events()
    refused(goal, FailedPrecondition, "next_goal_id", goal.roll_over, uuid4(), "ana")
    one_off = active_goal()
    refused(one_off, FailedPrecondition, "recurring", one_off.next_period_arguments, "ana")


# ---- storage ----


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


def json_mapper() -> Mapper[UUID]:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


def eventful_goal() -> Goal:
    goal = new_goal(parent_goal_id=uuid4(), recurring=True)
    goal.activate("ana")
    key_result = goal.add_key_result("Ten logos", Metric("number", "increase", 0, 10), 2, "ana")
    goal.check_in(4, 0.7, "", "ana", key_result_id=key_result)
    goal.change_target(12, "more leads", "ana", key_result_id=key_result)
    goal.change_due_date(date(2025, 4, 15), "late start", "ana")
    goal.set_contributions({uuid4(): 1.5}, "", "ana")
    goal.align(uuid4(), "new org chart", "ana")
    goal.roll_over(uuid4(), "ana")
    return goal


def test_events_survive_the_json_store_and_replay_to_the_same_goal() -> None:
    goal = eventful_goal()
    mapper = json_mapper()
    stored = [mapper.to_stored_event(e) for e in goal.collect_events()]
    replayed: Goal | None = None
    for stored_event in stored:
        domain_event: DomainEventProtocol[UUID] = mapper.to_domain_event(stored_event)
        replayed = domain_event.mutate(replayed)  # type: ignore[attr-defined]
    assert replayed == goal


def test_a_snapshot_survives_the_json_store() -> None:
    goal = eventful_goal()
    goal.collect_events()
    mapper = json_mapper()
    stored = mapper.to_stored_event(Goal.Snapshot.take(goal))
    restored = mapper.to_domain_event(stored).mutate(None)  # type: ignore[attr-defined]
    assert restored == goal
    assert restored.progress() == goal.progress()


# ---- SMART assessment ----


def test_a_well_formed_aligned_goal_is_smart() -> None:
    assessment = assess_smart(active_goal(parent_goal_id=uuid4()), ["company", "strategy"])
    assert assessment.is_smart
    assert assessment.letters == "SMART"
    assert assessment.relevant.reason == "aligned to a strategic objective 2 level(s) up"


def test_smart_says_which_letters_fail_and_why() -> None:
    vague = active_goal(title="Revenue", metric=None, due_date=None)
    assessment = assess_smart(vague, ["company"])
    assert assessment.letters == "--A--"
    assert assessment.specific.reason == "the title has 1 word(s), fewer than 3, so not Specific"
    assert assessment.measurable.reason == "no metric and no key result, so not Measurable"
    assert assessment.relevant.reason == "no path to a strategic objective, so not Relevant"
    assert assessment.time_bound.reason == "no due date, so not Time-bound"


def test_low_confidence_and_impossible_percentages_are_not_achievable() -> None:
    doubtful = active_goal()
    doubtful.check_in(110, 0.2, "lost the big deal", "ana")
    assert not assess_smart(doubtful, ["strategy"]).achievable.held
    impossible = active_goal(metric=Metric("percentage", "increase", 80, 120))
    reason = assess_smart(impossible, ["strategy"]).achievable.reason
    assert reason == "percentage 120 lies outside 0..100, so not Achievable"


def test_strategic_objectives_are_relevant_by_themselves() -> None:
    assert assess_smart(active_goal(level="strategy"), []).relevant.held


def test_smart_is_summarised_per_team() -> None:
    smart_goal = assess_smart(active_goal(), ["strategy"])
    vague_goal = assess_smart(active_goal(metric=None, due_date=None), ["strategy"])
    summary = summarise_smart_by_team(
        [("sales", smart_goal), ("sales", vague_goal), ("support", smart_goal)]
    )
    assert summary["sales"].goal_count == 2
    assert summary["sales"].fully_smart == 1
    assert summary["sales"].held == {"S": 2, "M": 1, "A": 2, "R": 2, "T": 1}
    assert summary["support"].fully_smart == 1
