"""SMART assessment of a goal: which of Specific, Measurable, Achievable, Relevant and Time-bound
hold and why, plus a per-team summary. Pure: the caller supplies the ancestor path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from northstar_contracts.progress import DEFAULT_THRESHOLDS
from services.goals.metrics import Metric

STRATEGY_LEVEL = "strategy"
MIN_SPECIFIC_TITLE_WORDS = 3
# Below this latest confidence the owner says the goal is out of reach (the off-track line).
MIN_ACHIEVABLE_CONFIDENCE = DEFAULT_THRESHOLDS.off_track_confidence


class SmartSubject(Protocol):
    """What the assessment reads from a goal (the Goal aggregate and read models satisfy it)."""

    @property
    def title(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def owner_id(self) -> str: ...

    @property
    def level(self) -> str: ...

    @property
    def start_date(self) -> date: ...

    @property
    def due_date(self) -> date | None: ...

    @property
    def metric(self) -> Metric | None: ...

    @property
    def key_results(self) -> Sequence[object]: ...

    @property
    def latest_confidence(self) -> float | None: ...


@dataclass(frozen=True)
class SmartCriterion:
    held: bool
    reason: str


@dataclass(frozen=True)
class SmartAssessment:
    specific: SmartCriterion
    measurable: SmartCriterion
    achievable: SmartCriterion
    relevant: SmartCriterion
    time_bound: SmartCriterion

    @property
    def criteria(self) -> dict[str, SmartCriterion]:
        """By letter: S, M, A, R, T."""
        return {
            "S": self.specific,
            "M": self.measurable,
            "A": self.achievable,
            "R": self.relevant,
            "T": self.time_bound,
        }

    @property
    def is_smart(self) -> bool:
        return all(criterion.held for criterion in self.criteria.values())

    @property
    def letters(self) -> str:
        """The letters that hold, a dash for each that does not, e.g. "SM-RT"."""
        return "".join(letter if c.held else "-" for letter, c in self.criteria.items())


def assess_smart(goal_view: SmartSubject, ancestor_levels: Sequence[str]) -> SmartAssessment:
    """Assess `goal_view`; `ancestor_levels` are the levels of its parents, nearest first.

    The application builds `ancestor_levels` by walking primary parents (it may add the
    targets of contributes-to links): the aggregate alone cannot see them.
    """
    return SmartAssessment(
        specific=_specific(goal_view),
        measurable=_measurable(goal_view),
        achievable=_achievable(goal_view),
        relevant=_relevant(goal_view, ancestor_levels),
        time_bound=_time_bound(goal_view),
    )


def _specific(goal: SmartSubject) -> SmartCriterion:
    words = len(goal.title.split())
    if words < MIN_SPECIFIC_TITLE_WORDS:
        return SmartCriterion(
            False,
            f"the title has {words} word(s), fewer than {MIN_SPECIFIC_TITLE_WORDS}, "
            "so not Specific",
        )
    if not goal.description.strip():
        return SmartCriterion(False, "no description of the outcome, so not Specific")
    return SmartCriterion(True, "a title of several words and a description of the outcome")


def _measurable(goal: SmartSubject) -> SmartCriterion:
    if goal.key_results:
        return SmartCriterion(True, f"measured by {len(goal.key_results)} key result(s)")
    if goal.metric is not None:
        return SmartCriterion(True, f"measured by a {goal.metric.kind} metric")
    return SmartCriterion(False, "no metric and no key result, so not Measurable")


def _achievable(goal: SmartSubject) -> SmartCriterion:
    if not goal.owner_id.strip():
        return SmartCriterion(False, "nobody owns the goal, so not Achievable")
    metric = goal.metric
    if metric is not None and metric.kind == "percentage":
        out_of_range = [v for v in (metric.start, metric.target) if not 0 <= v <= 100]
        if out_of_range:
            return SmartCriterion(
                False, f"percentage {out_of_range[0]:g} lies outside 0..100, so not Achievable"
            )
    confidence = goal.latest_confidence
    if confidence is not None and confidence < MIN_ACHIEVABLE_CONFIDENCE:
        return SmartCriterion(
            False,
            f"the owner's latest confidence {confidence:g} is below "
            f"{MIN_ACHIEVABLE_CONFIDENCE:g}, so not Achievable",
        )
    return SmartCriterion(True, "owned, with a reachable target and no loss of confidence")


def _relevant(goal: SmartSubject, ancestor_levels: Sequence[str]) -> SmartCriterion:
    if goal.level == STRATEGY_LEVEL:
        return SmartCriterion(True, "a strategic objective itself")
    if STRATEGY_LEVEL in ancestor_levels:
        steps = list(ancestor_levels).index(STRATEGY_LEVEL) + 1
        return SmartCriterion(True, f"aligned to a strategic objective {steps} level(s) up")
    return SmartCriterion(False, "no path to a strategic objective, so not Relevant")


def _time_bound(goal: SmartSubject) -> SmartCriterion:
    if goal.due_date is None:
        return SmartCriterion(False, "no due date, so not Time-bound")
    return SmartCriterion(True, f"due on {goal.due_date.isoformat()}")


@dataclass(frozen=True)
class SmartSummary:
    """How many goals hold each letter, and how many hold all five."""

    goal_count: int = 0
    held: dict[str, int] = field(default_factory=dict)
    fully_smart: int = 0


def summarise_smart(assessments: Iterable[SmartAssessment]) -> SmartSummary:
    held = dict.fromkeys("SMART", 0)
    count = fully_smart = 0
    for assessment in assessments:
        count += 1
        fully_smart += assessment.is_smart
        for letter, criterion in assessment.criteria.items():
            held[letter] += criterion.held
    return SmartSummary(goal_count=count, held=held, fully_smart=fully_smart)


def summarise_smart_by_team(
    assessments: Iterable[tuple[str, SmartAssessment]],
) -> dict[str, SmartSummary]:
    """One summary per team id, from (team id, assessment) pairs."""
    by_team: dict[str, list[SmartAssessment]] = {}
    for team_id, assessment in assessments:
        by_team.setdefault(team_id, []).append(assessment)
    return {team_id: summarise_smart(items) for team_id, items in sorted(by_team.items())}
