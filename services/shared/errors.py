"""Domain and application errors, each naming the field at fault and the reason.

Services raise these; the gRPC layer maps each class to one status code
(services.shared.grpc_server) so that every API answers bad input the same way.
"""

from __future__ import annotations

from northstar_contracts.errors import ContractViolation


class NorthstarError(Exception):
    """Base of every error a caller may see. `field` is a request field path or ''."""

    def __init__(self, reason: str, *, field: str = "") -> None:
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
