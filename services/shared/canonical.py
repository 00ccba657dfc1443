"""Stable JSON and the current time: what content hashes, seals and timestamps are built on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

# One encoder for every call: `json.dumps` with options builds a new encoder each time, which
# costs as much as encoding a small value (audit entries encode a dozen values per event).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def canonical_json(value: Any) -> str:
    """Stable JSON (sorted keys, no spaces): the basis of content hashes. The same text as
    `json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)`."""
    return _CANONICAL.encode(value)


def utc_now() -> datetime:
    return datetime.now(UTC)
