"""Who may see and act on parked events: one policy, so the platform-operator role (for
cross-tenant operations) replaces today's roles here and nowhere else."""

from __future__ import annotations

from enum import Enum

from services.shared.auth import HR_ADMIN, INTEGRATION, Principal
from services.shared.errors import PermissionDenied


class ParkingAction(Enum):
    LIST = "listing parked events"
    RETRY = "retrying parked events"
    SKIP = "skipping a parked event"


_ALLOWED = {
    ParkingAction.LIST: frozenset({HR_ADMIN, INTEGRATION}),
    ParkingAction.RETRY: frozenset({INTEGRATION}),
    ParkingAction.SKIP: frozenset({INTEGRATION}),
}


def require_parking_operator(principal: Principal, action: ParkingAction) -> str:
    """The tenant whose parked events the caller may list or act on (PermissionDenied when
    none). Today: HR admins list their tenant's; integration (operations) accounts list, retry
    and skip their tenant's. Parked events of other tenants answer like missing ones."""
    allowed = _ALLOWED[action]
    if not principal.roles & allowed:
        names = " and ".join(sorted(allowed))
        raise PermissionDenied(f"{action.value} is for {names} accounts only")
    return principal.tenant_id
