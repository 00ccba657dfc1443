"""Parsing of request fields with errors that name the field: every API uses the same rules."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime

from services.shared.errors import InvalidArgument

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


def parse_uuid(value: str, field: str) -> uuid.UUID:
    if not value:
        raise InvalidArgument("is required", field=field)
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(f"{value!r} is not a valid id", field=field) from None


def parse_optional_uuid(value: str, field: str) -> uuid.UUID | None:
    return parse_uuid(value, field) if value else None


def parse_date(value: str, field: str) -> date:
    if not value:
        raise InvalidArgument("is required (YYYY-MM-DD)", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{value!r} is not a date (YYYY-MM-DD)", field=field) from None


def parse_optional_date(value: str, field: str) -> date | None:
    return parse_date(value, field) if value else None


def parse_timestamp(value: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{value!r} is not an RFC 3339 timestamp", field=field) from None
    if moment.tzinfo is None:
        raise InvalidArgument("needs a time zone offset (e.g. Z or +00:00)", field=field)
    return moment


def reject_control_characters(value: str, field: str) -> str:
    """Text may hold tabs and line breaks, nothing else below space: NUL and other control
    characters break stores (PostgreSQL text), logs and exports downstream."""
    if any((ord(c) < 32 and c not in "\t\n\r") or c == "\x7f" for c in value):
        raise InvalidArgument("must not contain control characters", field=field)
    return value


def require_finite_number(value: float, field: str) -> float:
    if not math.isfinite(value):
        raise InvalidArgument("must be a finite number (not NaN or infinite)", field=field)
    return value


def page_size(value: int, field: str = "page_size") -> int:
    """0 means the default; negative or oversized sizes are refused, never silently clipped."""
    if value < 0:
        raise InvalidArgument("must not be negative", field=field)
    if value > MAX_PAGE_SIZE:
        raise InvalidArgument(f"must be at most {MAX_PAGE_SIZE}", field=field)
    return value or DEFAULT_PAGE_SIZE
