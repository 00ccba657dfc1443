"""Net Promoter Score maths, pure: score, split, distribution, 95% interval, anonymity.

Answers are 0-10. Promoters answer 9-10, passives 7-8, detractors 0-6. The score is
%promoters - %detractors, so it lies in [-100, 100].

The 95% confidence interval is the adjusted Wald interval that Rocks (2016, "Interval
Estimation for the 'Net Promoter Score'", The American Statistician 70(4)) found to perform
best: add 3 pseudo-responses, 3/4 of them promoters and 3/4 detractors, then use the variance
of a difference of two proportions of one multinomial sample:

    n' = n + 3,   p' = (promoters + 3/4) / n',   d' = (detractors + 3/4) / n'
    centre = p' - d'
    se = sqrt((p' + d' - (p' - d')^2) / n')
    interval = centre -/+ z * se   (z = 1.959964 for 95%), clipped to [-1, 1], times 100.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.shared.errors import FailedPrecondition, InvalidArgument

MIN_SCORE, MAX_SCORE = 0, 10
PROMOTER_FROM, PASSIVE_FROM = 9, 7
Z_95 = 1.959963984540054
PSEUDO_RESPONSES = 3.0
PSEUDO_PROMOTERS = PSEUDO_DETRACTORS = 0.75
DEFAULT_ANONYMITY_MINIMUM = 5
LOWEST_ANONYMITY_MINIMUM = 3


class NoResponses(FailedPrecondition):
    """A score of no responses is undefined (not 0)."""


class TooFewResponses(FailedPrecondition):
    """Fewer responses than the tenant's anonymity minimum: results are withheld."""


def require_score(score: int, field: str = "score") -> int:
    if isinstance(score, bool) or not isinstance(score, int):
        raise InvalidArgument("must be a whole number from 0 to 10", field=field)
    if not MIN_SCORE <= score <= MAX_SCORE:
        raise InvalidArgument(f"must be from 0 to 10, not {score}", field=field)
    return score


def require_anonymity_minimum(minimum: int, field: str = "anonymity_minimum") -> int:
    if minimum < LOWEST_ANONYMITY_MINIMUM:
        raise InvalidArgument(
            f"must be at least {LOWEST_ANONYMITY_MINIMUM}: smaller groups identify people",
            field=field,
        )
    if minimum > 1000:
        raise InvalidArgument("must be at most 1000", field=field)
    return minimum


def category(score: int) -> str:
    if score >= PROMOTER_FROM:
        return "promoter"
    return "passive" if score >= PASSIVE_FROM else "detractor"


@dataclass(frozen=True)
class NpsResult:
    responses: int
    promoters: int
    passives: int
    detractors: int
    distribution: tuple[int, ...]
    """How many answered 0, 1, ..., 10."""

    @property
    def score(self) -> float:
        return 100.0 * (self.promoters - self.detractors) / self.responses

    @property
    def promoter_percent(self) -> float:
        return 100.0 * self.promoters / self.responses

    @property
    def passive_percent(self) -> float:
        return 100.0 * self.passives / self.responses

    @property
    def detractor_percent(self) -> float:
        return 100.0 * self.detractors / self.responses

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% adjusted Wald interval, in score points."""
        low, high = adjusted_wald_interval(self.promoters, self.detractors, self.responses)
        return 100.0 * low, 100.0 * high


def nps(scores: Iterable[int]) -> NpsResult:
    """The NPS of 0-10 answers; NoResponses when there are none."""
    distribution = [0] * (MAX_SCORE + 1)
    for score in scores:
        distribution[require_score(score)] += 1
    responses = sum(distribution)
    if responses == 0:
        raise NoResponses("no responses in this period: the score is undefined", field="period")
    return NpsResult(
        responses=responses,
        promoters=sum(distribution[PROMOTER_FROM:]),
        passives=sum(distribution[PASSIVE_FROM:PROMOTER_FROM]),
        detractors=sum(distribution[:PASSIVE_FROM]),
        distribution=tuple(distribution),
    )


def adjusted_wald_interval(
    promoters: int, detractors: int, responses: int, z: float = Z_95
) -> tuple[float, float]:
    """(low, high) in [-1, 1] for the net score of `responses` answers (see the module doc)."""
    if responses <= 0:
        raise NoResponses("no responses: the interval is undefined", field="period")
    n = responses + PSEUDO_RESPONSES
    p = (promoters + PSEUDO_PROMOTERS) / n
    d = (detractors + PSEUDO_DETRACTORS) / n
    centre = p - d
    standard_error = math.sqrt(max(p + d - centre**2, 0.0) / n)
    return max(-1.0, centre - z * standard_error), min(1.0, centre + z * standard_error)


def shown_groups(counts: Mapping[str, int], minimum: int) -> set[str]:
    """The groups whose results may be shown: each has at least `minimum` responses, and what
    is hidden is either nothing or at least `minimum` responses together. Otherwise the
    overall result minus the shown groups would give away a hidden small group's answers, so
    the smallest shown groups are hidden too until that no longer works."""
    shown = {group for group, count in counts.items() if count >= minimum}
    hidden = sum(count for group, count in counts.items() if group not in shown)
    while shown and 0 < hidden < minimum:
        smallest = min(shown, key=lambda group: (counts[group], group))
        shown.discard(smallest)
        hidden += counts[smallest]
    return shown
