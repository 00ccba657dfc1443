"""Position tokens for read-your-writes: a command's (aggregate id, version), opaque to callers.

A query given tokens waits (bounded) until its read model has applied each aggregate at least
up to that version.
"""

from __future__ import annotations

import base64
import binascii
import uuid

from services.shared.errors import InvalidArgument

_PREFIX = "p1:"


def encode_position_token(aggregate_id: str | uuid.UUID, version: int) -> str:
    raw = f"{_PREFIX}{aggregate_id}:{version}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position_token(token: str, *, field: str = "consistency_tokens") -> tuple[str, int]:
    """(aggregate id, version) of a token, or INVALID_ARGUMENT saying what is wrong with it."""
    try:
        padded = token + "=" * (-len(token) % 4)
        raw = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise InvalidArgument(f"malformed position token {token!r}", field=field) from error
    if not raw.startswith(_PREFIX):
        raise InvalidArgument(f"malformed position token {token!r}", field=field)
    aggregate_id, _, version_text = raw[len(_PREFIX) :].rpartition(":")
    try:
        uuid.UUID(aggregate_id)
        version = int(version_text)
    except ValueError as error:
        raise InvalidArgument(f"malformed position token {token!r}", field=field) from error
    if version < 1:
        raise InvalidArgument(f"position token {token!r} has no positive version", field=field)
    return aggregate_id, version
