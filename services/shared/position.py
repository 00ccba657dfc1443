"""Position tokens for read-your-writes: a command's (aggregate id, version), opaque to callers.

A query given tokens waits (bounded) until its read model has applied each aggregate at least
up to that version.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid

from services.shared.errors import InvalidArgument

_PREFIX = "p1:"


def encode_position_token(aggregate_id: str | uuid.UUID, version: int) -> str:
    raw = f"{_PREFIX}{aggregate_id}:{version}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_POSITION_TOKEN_LENGTH = 120
"""A token we issue is about 60 characters; its version has at most 18 digits."""
_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_POSITION_TOKEN_LENGTH}}}")
_DECODED = re.compile(
    re.escape(_PREFIX)
    + r"(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    + r":(?P<version>[0-9]{1,18})"
)


def decode_position_token(token: str, *, field: str = "consistency_tokens") -> tuple[str, int]:
    """(aggregate id, version) of a token, or INVALID_ARGUMENT saying what is wrong with it.

    The token and what it decodes to must match the exact shape we issue, ASCII digits only
    and bounded in length, so no hand-made token reaches a parser that fails another way."""
    if not _TOKEN.fullmatch(token):
        raise InvalidArgument(f"malformed position token {token!r}", field=field)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise InvalidArgument(f"malformed position token {token!r}", field=field) from error
    match = _DECODED.fullmatch(raw)
    if match is None:
        raise InvalidArgument(f"malformed position token {token!r}", field=field)
    version = int(match.group("version"))
    if version < 1:
        raise InvalidArgument(f"position token {token!r} has no positive version", field=field)
    return match.group("id"), version
