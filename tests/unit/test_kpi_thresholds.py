"""Thresholds and status for every target type: bands, min / target / max, and the refusals
(overlap, gap, open ends, direction) that keep every value's status unambiguous."""

from __future__ import annotations

import pytest

from services.kpi.thresholds import (
    AMBER,
    GREEN,
    NO_DATA,
    RED,
    TARGET_TYPES,
    bands,
    min_target_max,
    status_of,
    validated_thresholds,
)
from services.shared.errors import InvalidArgument

RISING_BANDS = bands(("red", None, 50), ("amber", 50, 70), ("green", 70, None))
FALLING_BANDS = bands(("green", None, 2), ("amber", 2, 5), ("red", 5, None))


@pytest.mark.parametrize(
    ("target_type", "thresholds", "target", "expectations"),
    [
        (
            "increase_to",
            min_target_max(minimum=80),
            100,
            {120: GREEN, 100: GREEN, 99.9: AMBER, 80: AMBER, 79.9: RED},
        ),
        (
            "stay_at_or_above",
            min_target_max(minimum=40),
            50,
            {50: GREEN, 60: GREEN, 45: AMBER, 39: RED},
        ),
        (
            "decrease_to",
            min_target_max(maximum=8),
            5,
            {3: GREEN, 5: GREEN, 5.1: AMBER, 8: AMBER, 8.1: RED},
        ),
        (
            "stay_at_or_below",
            min_target_max(maximum=3),
            2,
            {0: GREEN, 2: GREEN, 2.5: AMBER, 3.5: RED},
        ),
        ("increase_to", RISING_BANDS, 70, {10: RED, 50: AMBER, 69.99: AMBER, 70: GREEN}),
        ("stay_at_or_above", RISING_BANDS, 70, {49: RED, 71: GREEN}),
        ("decrease_to", FALLING_BANDS, 2, {1: GREEN, 2: AMBER, 5: RED}),
        ("stay_at_or_below", FALLING_BANDS, 2, {-3: GREEN, 4.9: AMBER, 50: RED}),
    ],
)
def test_every_target_type_maps_values_to_the_right_status(
    target_type: str, thresholds: object, target: float, expectations: dict[float, str]
) -> None:
    checked = validated_thresholds(thresholds, target_type, target)  # type: ignore[arg-type]
    for value, status in expectations.items():
        assert status_of(value, checked, target_type, target) == status, value


def test_every_target_type_has_a_test_above() -> None:
    assert set(TARGET_TYPES) == {
        "increase_to",
        "decrease_to",
        "stay_at_or_above",
        "stay_at_or_below",
    }


def test_a_period_without_value_has_no_data() -> None:
    assert status_of(None, RISING_BANDS, "increase_to", 70) == NO_DATA


def test_without_amber_limit_a_rising_kpi_below_target_is_red() -> None:
    # minimum == target: no amber band at all.
    checked = validated_thresholds(min_target_max(minimum=100), "increase_to", 100)
    assert status_of(99, checked, "increase_to", 100) == RED


@pytest.mark.parametrize(
    ("thresholds", "field", "words"),
    [
        (
            bands(("red", None, 60), ("amber", 50, 70), ("green", 70, None)),
            "thresholds.bands[1]",
            "overlaps band 0",
        ),
        (
            bands(("red", None, 60), ("green", 70, None), ("amber", 60, 80)),
            "thresholds.bands[1]",
            "overlaps band 2",
        ),
        (
            bands(("red", None, 50), ("amber", 55, 70), ("green", 70, None)),
            "thresholds.bands[1]",
            "no status",
        ),
        (bands(("red", 0, 50), ("green", 50, None)), "thresholds.bands[0].lower", "no lower bound"),
        (
            bands(("red", None, 50), ("green", 50, 100)),
            "thresholds.bands[1].upper",
            "no upper bound",
        ),
        (bands(("green", None, 50), ("red", 50, None)), "thresholds.bands", "better upwards"),
        (bands(("red", None, 50), ("blue", 50, None)), "thresholds.bands[1].status", "red, amber"),
        (
            bands(("red", None, float("nan")), ("green", 5, None)),
            "thresholds.bands[0].upper",
            "finite",
        ),
        (bands(("red", 10, 5)), "thresholds.bands[0]", "below upper"),
        (min_target_max(minimum=120), "thresholds.minimum", "not be above the target"),
        (min_target_max(maximum=120), "thresholds.maximum", "takes no maximum"),
        (min_target_max(), "thresholds.minimum", "required"),
        (min_target_max(minimum=float("inf")), "thresholds.minimum", "finite"),
    ],
)
def test_inconsistent_thresholds_of_a_rising_kpi_are_refused_naming_the_field(
    thresholds: object, field: str, words: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        validated_thresholds(thresholds, "increase_to", 100)  # type: ignore[arg-type]
    assert raised.value.field == field
    assert words in raised.value.reason


def test_a_falling_kpi_needs_bands_that_get_better_downwards_and_a_maximum() -> None:
    with pytest.raises(InvalidArgument) as raised:
        validated_thresholds(RISING_BANDS, "decrease_to", 5)
    assert "better downwards" in raised.value.reason
    with pytest.raises(InvalidArgument) as raised:
        validated_thresholds(min_target_max(minimum=1), "stay_at_or_below", 5)
    assert raised.value.field == "thresholds.minimum"
    with pytest.raises(InvalidArgument) as raised:
        validated_thresholds(min_target_max(maximum=4), "decrease_to", 5)
    assert raised.value.field == "thresholds.maximum"


def test_bands_may_come_in_any_order() -> None:
    shuffled = bands(("green", 70, None), ("red", None, 50), ("amber", 50, 70))
    checked = validated_thresholds(shuffled, "increase_to", 70)
    assert [band.status for band in checked.bands] == ["red", "amber", "green"]
