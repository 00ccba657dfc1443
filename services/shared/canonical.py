"""Stable JSON and the current time: what content hashes, seals and timestamps are built on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def canonical_json(value: Any) -> str:
    """Stable JSON (sorted keys, no spaces): the basis of content hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def utc_now() -> datetime:
    return datetime.now(UTC)
