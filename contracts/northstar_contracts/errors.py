"""The one error the published language raises: data that does not fit a contract."""

from __future__ import annotations

MAX_ECHOED_CHARACTERS = 80


class ContractViolation(ValueError):
    """Data that breaks a contract; `field` is the path of the offending field ('' for none)."""

    def __init__(self, reason: str, *, field: str = "") -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class UnknownContract(LookupError):
    """An event type or schema version this release of the contracts does not know."""


def echo(value: object, limit: int = MAX_ECHOED_CHARACTERS) -> str:
    """`repr(value)` cut to `limit` characters: errors quote bad input without carrying it all."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
