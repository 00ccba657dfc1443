"""Every error bounds what it echoes: reasons and fields quote callers' values, and a status
whose trailers outgrow gRPC's metadata limit reaches the client as RESOURCE_EXHAUSTED."""

from __future__ import annotations

from services.shared.errors import (
    MAX_FIELD_CHARACTERS,
    MAX_REASON_CHARACTERS,
    InvalidArgument,
    NotFound,
    bounded,
)


def test_short_text_is_kept_whole() -> None:
    assert bounded("no such goal") == "no such goal"
    assert bounded("x" * MAX_REASON_CHARACTERS) == "x" * MAX_REASON_CHARACTERS


def test_long_text_keeps_its_start_and_end_and_says_how_much_is_left_out() -> None:
    text = "'" + "a" * 8000 + "' is not a valid id"

    shown = bounded(text)

    assert len(shown) <= MAX_REASON_CHARACTERS
    assert shown.startswith("'aaaa")
    assert shown.endswith("aaa' is not a valid id")
    omitted = len(text) - len(shown.replace("...(7,760 characters omitted)...", ""))
    assert omitted == 7760


def test_every_error_bounds_its_reason_and_field() -> None:
    value = "é" * 10_000
    for error in (
        InvalidArgument(f"{value!r} is not a valid id", field="goal_id"),
        NotFound("no such goal", field=f"links[{value}]"),
    ):
        assert len(error.reason) <= MAX_REASON_CHARACTERS
        assert len(error.field) <= MAX_FIELD_CHARACTERS
        assert len(str(error)) <= MAX_REASON_CHARACTERS + MAX_FIELD_CHARACTERS + 2
