"""Domain and application errors, each naming the field at fault and the reason.

Services raise these; the gRPC layer maps each class to one status code
(services.shared.grpc_server) so that every API answers bad input the same way.
"""

from __future__ import annotations

from northstar_contracts.errors import ContractViolation

MAX_REASON_CHARACTERS = 300
"""Longest reason an error carries. Reasons often quote the caller's value; a status is sent
three times in the trailers (message, BadRequest, ErrorInfo), and gRPC refuses trailers over
16 KiB, so an unbounded quote of an 8,000-character id would turn INVALID_ARGUMENT into
RESOURCE_EXHAUSTED and lose the details."""
MAX_FIELD_CHARACTERS = 120
"""Longest field path: paths can hold caller-chosen parts (map keys, list indexes)."""


def bounded(text: str, limit: int = MAX_REASON_CHARACTERS) -> str:
    """`text` when it fits `limit` characters, else its start and end around a note saying how
    much was left out (the end usually says what is wrong, so it is kept)."""
    if len(text) <= limit:
        return text
    note_room = 40
    head = (limit - note_room) * 2 // 3
    tail = limit - note_room - head
    omitted = len(text) - head - tail
    return f"{text[:head]}...({omitted:,} characters omitted)...{text[len(text) - tail :]}"


class NorthstarError(Exception):
    """Base of every error a caller may see. `field` is a request field path or ''.

    Reason and field are bounded here, once for every error, so no call site has to remember
    to shorten the value it quotes."""

    def __init__(self, reason: str, *, field: str = "") -> None:
        field = bounded(field, MAX_FIELD_CHARACTERS)
        reason = bounded(reason)
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class InvalidArgument(NorthstarError, ContractViolation):
    """The request itself is malformed: maps to INVALID_ARGUMENT. A ContractViolation too, so
    code that refuses bad event data refuses bad request data the same way."""


class NotFound(NorthstarError):
    """A named resource does not exist (in this tenant): maps to NOT_FOUND."""


class FailedPrecondition(NorthstarError):
    """The request is well formed but illegal in the current state: FAILED_PRECONDITION."""


class ConcurrentUpdate(NorthstarError):
    """Another writer stored the same aggregate version first: maps to ABORTED."""


class Unauthenticated(NorthstarError):
    """Missing, expired or badly signed credentials: maps to UNAUTHENTICATED."""


class PermissionDenied(NorthstarError):
    """Valid credentials without the right for this action: maps to PERMISSION_DENIED."""


class DeadlineExceeded(NorthstarError):
    """A bounded wait (e.g. read-your-writes) ran out: maps to DEADLINE_EXCEEDED."""


class Unavailable(NorthstarError):
    """A dependency needed to answer is unreachable right now; retry: maps to UNAVAILABLE."""
