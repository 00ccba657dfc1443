"""The feedback domain's vocabulary and input rules: kinds, perspectives, cadences, limits, and
the named errors that refuse a command (each names the request field at fault)."""

from __future__ import annotations

from collections.abc import Sequence

from services.shared.errors import FailedPrecondition, InvalidArgument, NotFound
from services.shared.validation import reject_control_characters

PRAISE, CONSTRUCTIVE, NOTE_TO_SELF = "praise", "constructive", "note_to_self"
KINDS = (PRAISE, CONSTRUCTIVE, NOTE_TO_SELF)
GENERAL, THREE_SIXTY, UPWARD = "general", "three_sixty", "upward"
REQUEST_KINDS = (GENERAL, THREE_SIXTY, UPWARD)
SELF, MANAGER, PEER, DIRECT_REPORT = "self", "manager", "peer", "direct_report"
PERSPECTIVES = (SELF, MANAGER, PEER, DIRECT_REPORT)
ANONYMOUS_PERSPECTIVES = (PEER, DIRECT_REPORT)
"""In an anonymous request these answer anonymously; self and manager are one person each, so
their answers are always named."""
RATING, TEXT = "rating", "text"
WEEKLY, EVERY_TWO_WEEKS, MONTHLY = "weekly", "every_two_weeks", "monthly"
CADENCES = (WEEKLY, EVERY_TWO_WEEKS, MONTHLY)

MAX_TEXT_LENGTH = 4000
MAX_PROMPT_LENGTH = 500
MAX_VALUE_LENGTH = 50
MAX_VALUES = 10
MAX_REVIEWERS = 50
MAX_QUESTIONS = 30
MAX_ID_LENGTH = 200
MIN_ANONYMITY_THRESHOLD = 3
DEFAULT_ANONYMITY_THRESHOLD = 5
DEFAULT_SCALE = (1, 5)
MAX_SCALE_POINTS = 11


class UnknownPerson(NotFound):
    """The person is not a current member of the tenant's directory."""


class UnknownGoal(NotFound):
    """No goal of that id in the tenant (as learnt from the goals topic)."""


class VisibilityWidened(FailedPrecondition):
    """Visibility can only ever be narrowed."""


class AlreadyRetracted(FailedPrecondition):
    """The feedback was retracted already."""


class RequestClosed(FailedPrecondition):
    """The request is closed: no more answers, results are final."""


class RequestStillOpen(FailedPrecondition):
    """Results are readable only once the request has closed."""


class AlreadyAnswered(FailedPrecondition):
    """Each reviewer answers once."""


class NotAReviewer(NotFound):
    """The caller was not asked to answer this request."""


def require_text(value: str, field: str, *, max_length: int = MAX_TEXT_LENGTH) -> str:
    """Non-blank text of at most `max_length` characters, without control characters."""
    if not value.strip():
        raise InvalidArgument("must not be empty", field=field)
    if len(value) > max_length:
        raise InvalidArgument(
            f"is {len(value)} characters long; at most {max_length} allowed", field=field
        )
    return reject_control_characters(value, field)


def optional_text(value: str, field: str, *, max_length: int = MAX_TEXT_LENGTH) -> str:
    return require_text(value, field, max_length=max_length) if value else ""


def require_id(value: str, field: str) -> str:
    return require_text(value, field, max_length=MAX_ID_LENGTH).strip()


def require_choice(value: str, choices: Sequence[str], field: str) -> str:
    if value not in choices:
        raise InvalidArgument(f"{value!r} is not one of {', '.join(choices)}", field=field)
    return value


def require_values(values: Sequence[str], field: str = "values") -> list[str]:
    """Company values: distinct, each 1 to 50 characters, at most 10."""
    if len(values) > MAX_VALUES:
        raise InvalidArgument(f"at most {MAX_VALUES} values", field=field)
    cleaned: list[str] = []
    for position, value in enumerate(values):
        item = require_text(value, f"{field}[{position}]", max_length=MAX_VALUE_LENGTH).strip()
        if item in cleaned:
            raise InvalidArgument(f"{item!r} is listed twice", field=f"{field}[{position}]")
        cleaned.append(item)
    return cleaned


def require_threshold(value: int, field: str = "anonymity_threshold") -> int:
    if value < MIN_ANONYMITY_THRESHOLD:
        raise InvalidArgument(
            f"must be at least {MIN_ANONYMITY_THRESHOLD} (was {value}): fewer answers could "
            "be traced to the people who gave them",
            field=field,
        )
    return value
