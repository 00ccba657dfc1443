"""Position tokens carry (aggregate id, version) and reject anything else precisely."""

from __future__ import annotations

import uuid

import pytest

from services.shared.errors import InvalidArgument
from services.shared.position import decode_position_token, encode_position_token


def test_token_round_trips() -> None:
    aggregate_id = uuid.uuid4()
    token = encode_position_token(aggregate_id, 12)
    assert decode_position_token(token) == (str(aggregate_id), 12)


@pytest.mark.parametrize("token", ["", "!!!", "cDE6bm90LWEtdXVpZDox", "aGVsbG8"])
def test_malformed_tokens_are_invalid_arguments(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_position_token(token)
    assert caught.value.field == "consistency_tokens"
    assert "malformed" in caught.value.reason
