"""The one error the published language raises: data that does not fit a contract."""

from __future__ import annotations

MAX_ECHOED_CHARACTERS = 80


class ContractViolation(ValueError):
    """Data that breaks a contract; `field` is the path of the offending field ('' for none)."""

    def __init__(self, reason: str, *, field: str = "") -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


def violation_of(problems: list[tuple[str, str]]) -> ContractViolation:
    """One violation for a validator's (location, message) problems, named after the first.

    The first problem's location is the violation's field, which the message already leads
    with, so only the further problems repeat their own location.
    """
    (field, first), *others = problems
    reason = "; ".join([first, *(f"{where}: {what}" if where else what for where, what in others)])
    return ContractViolation(reason, field=field)


class UnknownContract(LookupError):
    """An event type or schema version this release of the contracts does not know."""


def echo(value: object, limit: int = MAX_ECHOED_CHARACTERS) -> str:
    """`repr(value)` cut to `limit` characters: errors quote bad input without carrying it all."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
