"""NPS maths: exact scores on known samples, always within [-100, 100], the adjusted Wald
interval against values worked out by hand from Rocks (2016), an undefined score without
answers, and group suppression that never gives a small group away."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.kpi.nps import (
    NoResponses,
    adjusted_wald_interval,
    category,
    nps,
    require_anonymity_minimum,
    require_score,
    shown_groups,
)
from services.shared.errors import InvalidArgument

Z = 1.959963984540054


def test_half_promoters_and_a_fifth_detractors_score_plus_thirty() -> None:
    result = nps([10, 9, 9, 10, 9, 7, 8, 8, 3, 6])
    assert (result.promoters, result.passives, result.detractors) == (5, 3, 2)
    assert result.score == pytest.approx(30.0)
    shares = [result.promoter_percent, result.passive_percent, result.detractor_percent]
    assert shares == pytest.approx([50.0, 30.0, 20.0])
    assert result.distribution == (0, 0, 0, 1, 0, 0, 1, 1, 2, 3, 2)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([10] * 4, 100.0),
        ([0, 6, 5], -100.0),
        ([7, 8, 7, 8], 0.0),
        ([9, 6], 0.0),
        ([9, 9, 9, 0], 50.0),
    ],
)
def test_known_samples_score_exactly(scores: list[int], expected: float) -> None:
    assert nps(scores).score == pytest.approx(expected)


def test_the_category_boundaries_are_six_seven_eight_nine() -> None:
    assert [category(s) for s in range(11)] == ["detractor"] * 7 + ["passive"] * 2 + [
        "promoter"
    ] * 2


def test_the_interval_is_the_adjusted_wald_interval_worked_by_hand() -> None:
    # 10 answers: 5 promoters, 3 passives, 2 detractors. By hand, with 3 pseudo-answers:
    # n' = 13, p' = 5.75/13, d' = 2.75/13, centre = 3/13,
    # variance = (8.5/13 - (3/13)^2) / 13 = (110.5 - 9) / 13^3 = 101.5 / 2197.
    centre = 3 / 13
    half_width = Z * math.sqrt(101.5 / 2197)
    low, high = nps([10, 9, 9, 10, 9, 7, 8, 8, 3, 6]).interval
    assert low == pytest.approx(100 * (centre - half_width), abs=1e-9)
    assert high == pytest.approx(100 * (centre + half_width), abs=1e-9)
    assert (round(low, 2), round(high, 2)) == (-19.05, 65.20)


def test_a_second_hand_worked_interval_with_no_passives() -> None:
    # 100 answers: 60 promoters, 40 detractors. n' = 103, p' = 60.75/103, d' = 40.75/103,
    # centre = 20/103 = 0.19417, variance = (101.5/103 - (20/103)^2) / 103 = 0.0092013,
    # half width = 1.96 * 0.095923 = 0.18801, so [0.00617, 0.38218].
    centre = 20 / 103
    half_width = Z * math.sqrt((101.5 * 103 - 400) / 103**3)
    low, high = adjusted_wald_interval(60, 40, 100)
    assert [low, high] == pytest.approx([centre - half_width, centre + half_width])
    assert (round(100 * low, 2), round(100 * high, 2)) == (0.62, 38.22)


def test_the_interval_is_clipped_to_the_scale() -> None:
    low, high = nps([10, 10]).interval
    assert high == 100.0
    assert low < 100.0


def test_no_answers_leave_the_score_undefined() -> None:
    with pytest.raises(NoResponses) as raised:
        nps([])
    assert raised.value.field == "period"
    with pytest.raises(NoResponses):
        adjusted_wald_interval(0, 0, 0)


@pytest.mark.parametrize("bad", [11, -1, 100])
def test_answers_outside_zero_to_ten_are_refused(bad: int) -> None:
    with pytest.raises(InvalidArgument) as raised:
        require_score(bad)
    assert raised.value.field == "score"
    with pytest.raises(InvalidArgument):
        nps([5, bad])


@given(st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=500))
def test_the_score_and_its_interval_always_lie_within_minus_and_plus_one_hundred(
    scores: list[int],
) -> None:
    result = nps(scores)
    assert -100.0 <= result.score <= 100.0
    low, high = result.interval
    assert -100.0 <= low <= high <= 100.0
    assert result.promoters + result.passives + result.detractors == len(scores)
    assert sum(result.distribution) == len(scores)


def test_groups_below_the_minimum_are_hidden() -> None:
    assert shown_groups({"emea": 12, "apac": 5, "latam": 7}, 5) == {"emea", "apac", "latam"}
    assert shown_groups({"emea": 12, "apac": 9, "latam": 3, "na": 2}, 5) == {"emea", "apac"}


def test_one_small_hidden_group_hides_the_smallest_shown_one_too() -> None:
    # Shown emea and apac with the overall result would give latam's two answers away.
    assert shown_groups({"emea": 12, "apac": 6, "latam": 2}, 5) == {"emea"}
    assert shown_groups({"emea": 7, "latam": 1}, 5) == set()


@given(
    st.dictionaries(st.text(min_size=1, max_size=3), st.integers(1, 30), max_size=8),
    st.integers(3, 10),
)
def test_what_is_hidden_is_never_a_small_identifiable_remainder(
    counts: dict[str, int], minimum: int
) -> None:
    shown = shown_groups(counts, minimum)
    assert all(counts[group] >= minimum for group in shown)
    hidden = sum(count for group, count in counts.items() if group not in shown)
    assert hidden == 0 or hidden >= minimum or not shown


def test_the_anonymity_minimum_is_never_below_three() -> None:
    assert require_anonymity_minimum(3) == 3
    with pytest.raises(InvalidArgument) as raised:
        require_anonymity_minimum(2)
    assert raised.value.field == "anonymity_minimum"
