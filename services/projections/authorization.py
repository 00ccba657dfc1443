"""Who may see and act on parked events: one policy.

Parked events are the platform's business (a read model holds every tenant's rows): a platform
operator lists, retries and skips them across tenants. Inside a tenant, HR admins may list
their tenant's parked events, and integration (operations) accounts may also retry and skip
them, until every operator holds the platform role."""

from __future__ import annotations

from enum import Enum

from services.shared.auth import HR_ADMIN, INTEGRATION, Principal
from services.shared.errors import PermissionDenied

ALL_TENANTS = ""


class ParkingAction(Enum):
    LIST = "listing parked events"
    RETRY = "retrying parked events"
    SKIP = "skipping a parked event"


_TENANT_ROLES = {
    ParkingAction.LIST: frozenset({HR_ADMIN, INTEGRATION}),
    ParkingAction.RETRY: frozenset({INTEGRATION}),
    ParkingAction.SKIP: frozenset({INTEGRATION}),
}


def require_parking_operator(principal: Principal, action: ParkingAction) -> str:
    """The tenant whose parked events the caller may list or act on (ALL_TENANTS for a
    platform operator), or PermissionDenied. Another tenant's parked events answer like
    missing ones."""
    if principal.is_platform_operator:
        return ALL_TENANTS
    allowed = _TENANT_ROLES[action]
    if not principal.roles & allowed:
        names = " and ".join(sorted(allowed))
        raise PermissionDenied(f"{action.value} is for platform operators and {names} only")
    return principal.tenant_id
