"""The goal progress rules: roll-ups, expected progress and status, over plain numbers and ids.

Part of the published language because every reader of the goals topic needs the same numbers
as the goals service: the goals service computes with these functions, and so do the
projections and any consumer outside Northstar. The rules are stated in docs/goals.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol
from uuid import UUID

from northstar_contracts.alignment import without_cycle_links
from northstar_contracts.errors import ContractViolation

INCREASE = "increase"
DECREASE = "decrease"
STAY_ABOVE = "stay_above"
STAY_BELOW = "stay_below"
DIRECTIONS = (INCREASE, DECREASE, STAY_ABOVE, STAY_BELOW)
GUARDRAIL_DIRECTIONS = (STAY_ABOVE, STAY_BELOW)
METRIC_KINDS = ("number", "percentage", "currency", "binary")

NOT_STARTED = "not_started"
ON_TRACK = "on_track"
AT_RISK = "at_risk"
OFF_TRACK = "off_track"
COMPLETED = "completed"
CANCELLED = "cancelled"
STATUSES = (NOT_STARTED, ON_TRACK, AT_RISK, OFF_TRACK, COMPLETED, CANCELLED)

# What drives a goal's progress (docs/goals.md, "Progress source").
SOURCE_METRIC = "metric"
SOURCE_KEY_RESULTS = "key_results"
SOURCE_CHILDREN = "children"
SOURCE_KPI = "kpi"
PROGRESS_SOURCES = (SOURCE_METRIC, SOURCE_KEY_RESULTS, SOURCE_CHILDREN, SOURCE_KPI)
SOURCES_NEEDING_A_METRIC = (SOURCE_METRIC, SOURCE_KPI)
# What drives a key result's value: its own check-ins, or a KPI's measurements checked in on it
# (a key result has no children: goals align under goals, never under a key result).
KEY_RESULT_SOURCES = (SOURCE_METRIC, SOURCE_KPI)

logger = logging.getLogger(__name__)


class MeasuredMetric(Protocol):
    """What the maths needs from a metric (the domain's Metric satisfies it)."""

    @property
    def direction(self) -> str: ...

    @property
    def start(self) -> float: ...

    @property
    def target(self) -> float: ...

    @property
    def current(self) -> float | None: ...


@dataclass(frozen=True)
class MetricValues:
    """The numbers of a metric as the goals topic publishes them (`MetricContract`'s fields)."""

    direction: str
    start: float
    target: float
    current: float | None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> MetricValues:
        return cls(data["direction"], data["start"], data["target"], data.get("current"))


def require_finite(value: float, field: str) -> float:
    """A real number that is neither NaN nor infinite (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContractViolation("must be a number", field=field)
    if not math.isfinite(value):
        raise ContractViolation("must be a finite number (not NaN or infinite)", field=field)
    return float(value)


def clip_unit(value: float) -> float:
    return min(1.0, max(0.0, value))


def metric_progress(metric: MeasuredMetric, current: float | None = None) -> float:
    """Progress in [0, 1] of `metric` at value `current` (default: the metric's own current).

    Increase and decrease: (current - start) / (target - start), clipped to [0, 1].
    Guardrails: 1 while met (stay_above: current >= target; stay_below: current <= target),
    0 once breached. A binary metric (start 0, target 1) is an increase metric, so 0 or 1.
    """
    if current is None:
        current = metric.start if metric.current is None else metric.current
    value = require_finite(current, "current")
    start = require_finite(metric.start, "metric.start")
    target = require_finite(metric.target, "metric.target")
    if metric.direction == STAY_ABOVE:
        return 1.0 if value >= target else 0.0
    if metric.direction == STAY_BELOW:
        return 1.0 if value <= target else 0.0
    if metric.direction not in (INCREASE, DECREASE):
        raise ContractViolation(f"must be one of {', '.join(DIRECTIONS)}", field="metric.direction")
    if target == start:
        raise ContractViolation(
            "target equals start: progress cannot be measured", field="metric.target"
        )
    toward_target = 1.0 if target > start else -1.0
    if (value - start) * toward_target <= 0:
        return 0.0
    if (target - value) * toward_target <= 0:
        return 1.0
    done, span = value - start, target - start
    if math.isinf(done) or math.isinf(span):
        # Two huge finite values can differ by more than the largest float; their halves cannot.
        done, span = value / 2 - start / 2, target / 2 - start / 2
    return clip_unit(done / span)


def weighted_progress(parts: Sequence[tuple[float, float]]) -> float:
    """Weighted mean of (progress, weight) pairs; weights >= 0 and summing to more than 0."""
    for progress, weight in parts:
        if not 0.0 <= require_finite(progress, "progress") <= 1.0:
            raise ContractViolation("must lie in [0, 1]", field="progress")
        if require_finite(weight, "weights") < 0:
            raise ContractViolation("a weight must not be negative", field="weights")
    largest = max((weight for _, weight in parts), default=0.0)
    if largest <= 0:
        raise ContractViolation("weights must sum to more than zero", field="weights")
    # Scaling by a power of two is exact and keeps sums of huge weights finite; fsum keeps the
    # mean exact enough that scaling all weights together changes nothing visible.
    exponent = math.frexp(largest)[1]
    scaled = [(float(progress), math.ldexp(weight, -exponent)) for progress, weight in parts]
    total_weight = math.fsum(weight for _, weight in scaled)
    return clip_unit(math.fsum(progress * weight for progress, weight in scaled) / total_weight)


def goal_progress(
    *,
    own_metric_progress: float | None,
    key_results: Sequence[tuple[float, float]] = (),
    children: Sequence[tuple[float, float]] = (),
    measured_by_own_metric: bool = False,
) -> float:
    """A goal's progress from its own measure, its key results and its children.

    The goal's own measure is its key results rolled up by weight when it has any, else its
    metric. A goal with children rolls up from them by weight unless it is measured by its own
    metric; a goal with nothing to measure has progress 0.
    """
    own = weighted_progress(key_results) if key_results else own_metric_progress
    if children and (not measured_by_own_metric or own is None):
        return weighted_progress(children)
    return 0.0 if own is None else clip_unit(require_finite(own, "own_progress"))


def effective_progress_source(
    chosen: str | None, *, has_metric: bool, has_key_results: bool
) -> str:
    """The source that drives a goal's progress: the owner's choice, else the default rule.

    Default (nothing chosen, including goals recorded before sources existed): its key results
    when it has any, else its own metric when it has one, else its aligned children.
    """
    if chosen:
        if chosen not in PROGRESS_SOURCES:
            raise ContractViolation(
                f"must be one of {', '.join(PROGRESS_SOURCES)}", field="progress_source"
            )
        return chosen
    if has_key_results:
        return SOURCE_KEY_RESULTS
    return SOURCE_METRIC if has_metric else SOURCE_CHILDREN


def source_own_progress(
    source: str,
    *,
    own_metric_progress: float | None,
    key_results: Sequence[tuple[float, float]] = (),
) -> float | None:
    """What a goal's own measure gives under `source`; None when its children drive it.

    metric and kpi: the goal's metric (a KPI-driven goal's metric takes the KPI's values), 0
    without one; key_results: their weighted mean, 0 without any.
    """
    if source == SOURCE_CHILDREN:
        return None
    if source == SOURCE_KEY_RESULTS:
        return weighted_progress(key_results) if key_results else 0.0
    if source not in SOURCES_NEEDING_A_METRIC:
        raise ContractViolation(
            f"must be one of {', '.join(PROGRESS_SOURCES)}", field="progress_source"
        )
    return (
        0.0
        if own_metric_progress is None
        else clip_unit(require_finite(own_metric_progress, "own_progress"))
    )


def source_progress(
    source: str,
    *,
    own_metric_progress: float | None,
    key_results: Sequence[tuple[float, float]] = (),
    children: Sequence[tuple[float, float]] = (),
) -> float:
    """A goal's progress from the source that drives it (children: their weighted mean, 0
    without any; the others: `source_own_progress`)."""
    own = source_own_progress(
        source, own_metric_progress=own_metric_progress, key_results=key_results
    )
    if own is not None:
        return own
    return weighted_progress(children) if children else 0.0


def rollup_progress(
    goal_ids: Iterable[UUID],
    own_progress: Mapping[UUID, float],
    children_of: Mapping[UUID, Sequence[tuple[UUID, float]]],
    *,
    measured_by_own: Collection[UUID] = frozenset(),
) -> dict[UUID, float]:
    """Progress of every goal in `goal_ids` (and of every goal below them) over an alignment graph.

    `children_of[g]` lists (child id, weight): primary children and contributors alike. A goal
    with children rolls up from them unless it is in `measured_by_own` and has an own progress;
    a goal without children takes its own progress (0 when unknown). With progress sources:
    pass `source_own_progress` of every goal not driven by its children, and those goals as
    `measured_by_own`.

    The writers keep the graph acyclic, but two writer replicas racing can still close a loop.
    A loop must not take every view of the tenant down, so the links that close it are left out
    (see `without_cycle_links`) and logged.
    """
    roots = list(goal_ids)
    # Only the links a goal rolls up from matter: a goal measured by its own metric cuts a loop.
    rolled_up_from = {
        goal_id: children
        for goal_id, children in children_of.items()
        if children and not (goal_id in measured_by_own and goal_id in own_progress)
    }
    try:
        return _rollup(roots, own_progress, rolled_up_from)
    except _CycleClosed:
        acyclic, ignored = without_cycle_links(rolled_up_from)
        for parent_id, child_id in ignored:
            logger.warning(
                "the alignment graph has a cycle: goal %s is ignored as a child of goal %s",
                child_id,
                parent_id,
            )
        return _rollup(roots, own_progress, acyclic)


class _CycleClosed(Exception):
    """The walk met a goal already on its path."""


def _rollup(
    roots: Iterable[UUID],
    own_progress: Mapping[UUID, float],
    children_of: Mapping[UUID, Sequence[tuple[UUID, float]]],
) -> dict[UUID, float]:
    result: dict[UUID, float] = {}
    for root in roots:
        if root in result:
            continue
        # Iterative post-order walk: alignment chains may be deeper than the recursion limit.
        on_path: set[UUID] = {root}
        stack: list[tuple[UUID, int]] = [(root, 0)]
        while stack:
            goal_id, next_child = stack[-1]
            children = children_of.get(goal_id, ())
            if next_child < len(children):
                stack[-1] = (goal_id, next_child + 1)
                child_id = children[next_child][0]
                if child_id in on_path:
                    raise _CycleClosed
                if child_id not in result:
                    on_path.add(child_id)
                    stack.append((child_id, 0))
                continue
            if children:
                result[goal_id] = weighted_progress(
                    [(result[child_id], weight) for child_id, weight in children]
                )
            else:
                own = own_progress.get(goal_id, 0.0)
                result[goal_id] = clip_unit(require_finite(own, "own_progress"))
            on_path.discard(goal_id)
            stack.pop()
    return result


def expected_progress_at(start: date, due: date | None, today: date) -> float:
    """Share of the period elapsed on `today`: 0 up to the start, 1 from the due date on.

    A goal without a due date has no schedule, so nothing is expected of it yet (0).
    """
    if due is None:
        return 0.0
    if due < start:
        raise ContractViolation("due date is before the start date", field="due_date")
    if today >= due:
        return 1.0
    if today <= start:
        return 0.0
    return (today - start).days / (due - start).days


@dataclass(frozen=True)
class StatusThresholds:
    """How far behind schedule, or how unconfident, a goal may be before it is flagged.

    A goal is at risk when actual < expected - at_risk_gap or confidence < at_risk_confidence,
    and off track when actual < expected - off_track_gap or confidence < off_track_confidence.
    """

    at_risk_gap: float = 0.10
    off_track_gap: float = 0.25
    at_risk_confidence: float = 0.5
    off_track_confidence: float = 0.3

    def __post_init__(self) -> None:
        for name in ("at_risk_gap", "off_track_gap", "at_risk_confidence", "off_track_confidence"):
            value = require_finite(getattr(self, name), f"thresholds.{name}")
            if not 0.0 <= value <= 1.0:
                raise ContractViolation("must lie in [0, 1]", field=f"thresholds.{name}")
        if self.off_track_gap < self.at_risk_gap:
            raise ContractViolation(
                "off track must need a gap at least as large as at risk",
                field="thresholds.off_track_gap",
            )
        if self.off_track_confidence > self.at_risk_confidence:
            raise ContractViolation(
                "off track must need a confidence no higher than at risk",
                field="thresholds.off_track_confidence",
            )


DEFAULT_THRESHOLDS = StatusThresholds()


def derive_status(
    *,
    lifecycle: str,
    actual: float,
    expected: float,
    confidence: float | None,
    thresholds: StatusThresholds = DEFAULT_THRESHOLDS,
) -> str:
    """Status from the lifecycle, actual vs expected progress and the latest confidence.

    `lifecycle` is "draft", "active", "completed" or "cancelled" (an archived goal keeps the
    outcome it was archived with). Completed and cancelled goals say so; a draft, or an active
    goal whose period has not begun and that has achieved nothing, is not started; a goal that
    has met its target is on track; otherwise the worse of the gap and confidence rules wins.
    """
    if lifecycle == "completed":
        return COMPLETED
    if lifecycle == "cancelled":
        return CANCELLED
    if lifecycle == "draft":
        return NOT_STARTED
    if lifecycle != "active":
        raise ContractViolation("must be draft, active, completed or cancelled", field="lifecycle")
    actual = require_finite(actual, "actual")
    expected = require_finite(expected, "expected")
    if confidence is not None:
        confidence = require_finite(confidence, "confidence")
    if expected <= 0.0 and actual <= 0.0:
        return NOT_STARTED
    if actual >= 1.0:
        return ON_TRACK
    shortfall = expected - actual
    if shortfall > thresholds.off_track_gap or (
        confidence is not None and confidence < thresholds.off_track_confidence
    ):
        return OFF_TRACK
    if shortfall > thresholds.at_risk_gap or (
        confidence is not None and confidence < thresholds.at_risk_confidence
    ):
        return AT_RISK
    return ON_TRACK
