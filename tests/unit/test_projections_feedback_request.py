"""GetFeedbackActivity's request checks: ids the directory could never hold and a period that
ends before it starts are refused naming the field (the RPC is otherwise tested on Kafka)."""

from __future__ import annotations

from datetime import date

import pytest

from northstar.projections.v1 import projections_pb2 as pb
from services.projections.api_feedback import validated_period
from services.shared.errors import InvalidArgument


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"person_id": "x" * 129}, "person_id"),
        ({"team_id": "x" * 129}, "team_id"),
        ({"person_id": "tom\x00becker"}, "person_id"),
        ({"team_id": "team\x1bplatform"}, "team_id"),
        ({"period_start": "2026-06-01", "period_end": "2026-01-01"}, "period_end"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(
    request_fields: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validated_period(pb.GetFeedbackActivityRequest(**request_fields))
    assert caught.value.field == field


def test_a_plain_request_gives_its_period() -> None:
    request = pb.GetFeedbackActivityRequest(
        person_id="tom.becker", period_start="2026-01-01", period_end="2026-01-01"
    )
    assert validated_period(request) == (date(2026, 1, 1), date(2026, 1, 1))
    assert validated_period(pb.GetFeedbackActivityRequest()) == (None, None)
