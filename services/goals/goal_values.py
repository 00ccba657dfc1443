"""The Goal's value objects and the checks its commands apply to their arguments."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, cast
from uuid import UUID

from northstar_contracts.progress import (
    SOURCE_CHILDREN,
    SOURCE_METRIC,
    SOURCES_NEEDING_A_METRIC,
    effective_progress_source,
)
from services.goals.metrics import (
    Metric,
    require_choice,
    require_finite,
    require_text,
    validate_period,
    validated_metric,
)
from services.goals.progress_sources import require_progress_source
from services.goals.rules import (
    LEVELS,
    MAX_TEXT_LENGTH,
    MAX_TITLE_LENGTH,
    VISIBILITIES,
)
from services.shared.errors import InvalidArgument


@dataclass(frozen=True)
class KeyResult:
    """A measurable part of a goal; its progress counts towards the goal by `weight`."""

    key_result_id: UUID
    title: str
    metric: Metric
    weight: float
    # What drives its value: its own check-ins (metric) or a KPI's measurements (kpi, kpi_id).
    progress_source: str = SOURCE_METRIC
    kpi_id: UUID | None = None


@dataclass(frozen=True)
class ReassignmentFlag:
    """The goal's owner has left: who, their manager at the time, and their last day."""

    departed_person_id: str
    manager_id: str
    leave_date: date


def require_team(team_id: str, level: str) -> str:
    """A team id, or '' for none; team-level goals need one."""
    team_id = require_text(team_id, "team_id", max_length=MAX_TITLE_LENGTH, allow_blank=True)
    if level == "team" and not team_id.strip():
        raise InvalidArgument("a team goal needs a team", field="team_id")
    return team_id


def require_reason(reason: str) -> str:
    return require_text(reason, "reason", max_length=MAX_TEXT_LENGTH).strip()


def require_actor(by: str) -> str:
    return require_text(by, "by", max_length=MAX_TITLE_LENGTH)


def require_confidence(confidence: float) -> float:
    value = require_finite(confidence, "confidence")
    if not 0.0 <= value <= 1.0:
        raise InvalidArgument("must lie in [0, 1]", field="confidence")
    return value


def plain_metric_data(metric: Metric | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if metric is None:
        return None
    return metric.to_data() if isinstance(metric, Metric) else dict(metric)


def creation_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of a new goal's Created event: checked, the Metric turned to plain data.

    Refuses bad input before the Created event exists, so a refused creation records nothing.
    """
    kwargs = dict(arguments)
    metric = kwargs["metric"]
    if metric is not None:
        metric = Metric.from_data(metric) if isinstance(metric, Mapping) else metric
        kwargs["metric"] = validated_metric(metric).to_data()
    title = require_text(kwargs["title"], "title", max_length=MAX_TITLE_LENGTH)
    kwargs["title"] = title.strip()
    require_text(kwargs["description"], "description", max_length=MAX_TEXT_LENGTH, allow_blank=True)
    for field in ("tenant_id", "owner_id", "created_by"):
        require_text(kwargs[field], field, max_length=MAX_TITLE_LENGTH)
    require_team(kwargs["team_id"], require_choice(kwargs["level"], LEVELS, "level"))
    require_choice(kwargs["visibility"], VISIBILITIES, "visibility")
    validate_period(kwargs["start_date"], kwargs["due_date"])
    parent_goal_id = kwargs["parent_goal_id"]
    if parent_goal_id is not None and not isinstance(parent_goal_id, UUID):
        raise InvalidArgument("must be a goal id", field="parent_goal_id")
    if parent_goal_id is not None and kwargs["level"] == "strategy":
        raise InvalidArgument(
            "a strategic objective is a root of alignment and has no parent",
            field="parent_goal_id",
        )
    source, kpi_id = require_progress_source(
        kwargs.get("progress_source"),
        kwargs.get("kpi_id"),
        has_metric=True,
        field="progress_source",
    )
    if source in SOURCES_NEEDING_A_METRIC and metric is None:
        raise InvalidArgument(
            f"progress source {source} needs a metric (its start and target)", field="metric"
        )
    kwargs["progress_source"], kwargs["kpi_id"] = source, kpi_id
    # Kept for readers of the older flag: true when the goal's own measure drives it.
    effective = effective_progress_source(
        source, has_metric=metric is not None, has_key_results=False
    )
    kwargs["measured_by_own_metric"] = bool(kwargs.get("measured_by_own_metric")) or (
        effective != SOURCE_CHILDREN
    )
    return kwargs


Parameters = ParamSpec("Parameters")
Created = TypeVar("Created")


class CheckedCreation(Generic[Parameters]):
    """A `create(...)` class method with exactly the parameters of the aggregate's __init__:
    they are written once, on __init__, and mypy checks every create(...) call against them.
    It refuses bad arguments (creation_arguments) before the Created event exists, so a refused
    creation records nothing, then creates the aggregate."""

    def __init__(self, init: Callable[Concatenate[Any, Parameters], None]) -> None:
        # @event wraps __init__; its parameters are those of the function it decorates.
        self._signature = inspect.signature(getattr(init, "decorated_func", init))

    def __get__(self, instance: object, owner: type[Created]) -> Callable[Parameters, Created]:
        def create(*args: Parameters.args, **kwargs: Parameters.kwargs) -> Created:
            bound = self._signature.bind(None, *args, **kwargs)
            bound.apply_defaults()
            _self, *names = bound.arguments
            arguments = creation_arguments({name: bound.arguments[name] for name in names})
            return cast(Callable[..., Created], owner)(**arguments)

        return create
