"""Text fields refuse control characters (they break stores, logs and exports downstream)."""

from __future__ import annotations

import pytest

from services.goals.metrics import require_text
from services.shared.errors import InvalidArgument


@pytest.mark.parametrize("text", ["Grow\x00revenue", "bell\x07", "esc\x1b[2J", "del\x7f"])
def test_control_characters_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        require_text(text, "title", max_length=200)
    assert caught.value.field == "title"
    assert "control characters" in caught.value.reason


def test_tabs_and_line_breaks_are_ordinary_text() -> None:
    assert require_text("line one\n\tline two\r\n", "note", max_length=200) == (
        "line one\n\tline two\r\n"
    )
