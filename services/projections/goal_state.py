"""A goal's state folded from its public events (the goals topic contracts), as plain JSON.

The projections service knows goals only through their published events, so this fold is the
one place that says what each public goal event does to a goal's state. Progress uses the
goals service's published progress maths, so both services report the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from northstar_contracts.progress import (
    SOURCE_CHILDREN,
    SOURCE_METRIC,
    MetricValues,
    effective_progress_source,
    metric_progress,
    source_own_progress,
)

State = dict[str, Any]

# (lifecycle after, outcome after); an archived goal keeps the outcome it had.
_LIFECYCLE_AFTER: dict[str, tuple[str, str | None]] = {
    "goals.GoalActivated": ("active", None),
    "goals.GoalCompleted": ("completed", "completed"),
    "goals.GoalCancelled": ("cancelled", "cancelled"),
    "goals.GoalReopened": ("active", None),
}
_FIELDS_SET_BY = {
    "goals.GoalRenamed": ("title",),
    "goals.GoalDescribed": ("description",),
    "goals.GoalReassigned": ("owner_id", "team_id"),
    "goals.GoalVisibilityChanged": ("visibility",),
    "goals.GoalAligned": ("parent_goal_id",),
    "goals.GoalContributionsSet": ("contributions",),
    "goals.GoalMetricDefined": ("metric", "measured_by_own_metric"),
    "goals.GoalMetricChanged": ("metric",),
    "goals.GoalRolledOver": ("next_goal_id",),
}
_SOURCE_CHANGED = "goals.GoalProgressSourceChanged"
_KEY_RESULT_SOURCE_CHANGED = "goals.GoalKeyResultProgressSourceChanged"


_OTHER_TYPES = (
    "goals.GoalCreated",
    "goals.GoalArchived",
    "goals.GoalFlaggedForReassignment",
    "goals.GoalKeyResultAdded",
    "goals.GoalKeyResultRemoved",
    "goals.GoalCheckedIn",
    "goals.GoalTargetChanged",
    "goals.GoalDueDateChanged",
)
GOAL_EVENT_TYPES = frozenset(
    {*_LIFECYCLE_AFTER, *_FIELDS_SET_BY, *_OTHER_TYPES, _SOURCE_CHANGED, _KEY_RESULT_SOURCE_CHANGED}
)
"""Every goal event type this fold knows. The projection parks any other type (with every
later event of its goal) rather than fold it as "no change" and let it take a version."""

SKIPPED_EVENT_TYPE = "projections.EventSkipped"
"""The audit entry that fills a version an operator skipped: it changes no field."""


def fold_goal_event(state: State, event_type: str, data: Mapping[str, Any]) -> State:
    """The state after one event. Only known types reach a read model; the skip marker (and any
    other type, in a history read back) leaves the state unchanged."""
    if event_type == "goals.GoalCreated":
        return {
            # Goals recorded before progress sources existed take the default rule.
            "progress_source": None,
            "kpi_id": None,
            **data,
            "lifecycle": "draft",
            "outcome": None,
            "contributions": [],
            "key_results": [],
            "confidence": None,
            "check_ins": 0,
            "next_goal_id": None,
            "reassignment": None,
        }
    new = dict(state)
    if event_type in _LIFECYCLE_AFTER:
        new["lifecycle"], new["outcome"] = _LIFECYCLE_AFTER[event_type]
    elif event_type == "goals.GoalArchived":
        new["lifecycle"] = "archived"
    elif event_type in _FIELDS_SET_BY:
        for name in _FIELDS_SET_BY[event_type]:
            new[name] = data[name]
        if event_type == "goals.GoalReassigned":
            new["reassignment"] = None  # a new owner answers the flag
    elif event_type == "goals.GoalFlaggedForReassignment":
        new["reassignment"] = {
            name: data[name] for name in ("departed_person_id", "manager_id", "leave_date")
        }
    elif event_type == "goals.GoalKeyResultAdded":
        key_result = {k: data[k] for k in ("key_result_id", "title", "metric", "weight")}
        new["key_results"] = [*state.get("key_results", []), key_result]
    elif event_type == "goals.GoalKeyResultRemoved":
        new["key_results"] = [
            kr
            for kr in state.get("key_results", [])
            if kr["key_result_id"] != data["key_result_id"]
        ]
    elif event_type == "goals.GoalCheckedIn":
        new["confidence"] = data["confidence"]
        new["check_ins"] = state.get("check_ins", 0) + 1
        if data["value"] is not None:
            _update_metric(new, data["key_result_id"], "current", data["value"])
    elif event_type == "goals.GoalTargetChanged":
        _update_metric(new, data["key_result_id"], "target", data["new_target"])
    elif event_type == "goals.GoalDueDateChanged":
        new["due_date"] = data["new_due_date"]
    elif event_type == _SOURCE_CHANGED:
        new["progress_source"] = data["progress_source"]
        new["kpi_id"] = data["kpi_id"]
    elif event_type == _KEY_RESULT_SOURCE_CHANGED:
        # A key result without these fields (never changed) is measured by its own metric.
        new["key_results"] = [
            {**kr, "progress_source": data["progress_source"], "kpi_id": data["kpi_id"]}
            if kr["key_result_id"] == data["key_result_id"]
            else kr
            for kr in state.get("key_results", [])
        ]
    return new


def _update_metric(state: State, key_result_id: str | None, name: str, value: float) -> None:
    if key_result_id is None:
        state["metric"] = {**state["metric"], name: value}
        return
    state["key_results"] = [
        {**kr, "metric": {**kr["metric"], name: value}}
        if kr["key_result_id"] == key_result_id
        else kr
        for kr in state.get("key_results", [])
    ]


def progress_source(state: Mapping[str, Any]) -> str:
    """What drives the goal's progress: the owner's choice, else the default rule."""
    return effective_progress_source(
        state.get("progress_source"),
        has_metric=state.get("metric") is not None,
        has_key_results=bool(state.get("key_results")),
    )


def key_result_source(key_result: Mapping[str, Any]) -> str:
    """What drives a key result's value: metric (its own check-ins, the default) or kpi."""
    return str(key_result.get("progress_source") or SOURCE_METRIC)


def driven_by_children(state: Mapping[str, Any]) -> bool:
    return progress_source(state) == SOURCE_CHILDREN


def own_progress(state: Mapping[str, Any]) -> float | None:
    """Progress of the goal's own measure under its source; None when children drive it."""
    metric = state.get("metric")
    return source_own_progress(
        progress_source(state),
        own_metric_progress=None
        if metric is None
        else metric_progress(MetricValues.from_data(metric)),
        key_results=[
            (metric_progress(MetricValues.from_data(kr["metric"])), float(kr["weight"]))
            for kr in state.get("key_results") or []
        ],
    )
