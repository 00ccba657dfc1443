"""Who may do what in the directory: one table of action -> roles, plus the tenant boundary.

The HRIS feed acts as an integration account of the record's tenant and passes the same check.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from services.shared.auth import AUDITOR, EMPLOYEE, HR_ADMIN, INTEGRATION, MANAGER, Principal
from services.shared.errors import PermissionDenied


class Action(StrEnum):
    UPSERT_PERSON = "person.upsert"
    RECORD_DEPARTURE = "person.record_departure"
    UPSERT_TEAM = "team.upsert"
    READ_PERSON = "person.read"
    READ_MANAGER_CHAIN = "person.read_manager_chain"
    READ_TEAM = "team.read"
    LIST_TEAM_MEMBERS = "team.list_members"


EVERYONE = frozenset({EMPLOYEE, MANAGER, HR_ADMIN, AUDITOR, INTEGRATION})
DIRECTORY_WRITERS = frozenset({HR_ADMIN, INTEGRATION})

# The directory is an internal phone book: everyone in the tenant reads it; only HR and the
# HRIS integration change it. Auditors read, never write.
ALLOWED_ROLES: Mapping[Action, frozenset[str]] = {
    Action.UPSERT_PERSON: DIRECTORY_WRITERS,
    Action.RECORD_DEPARTURE: DIRECTORY_WRITERS,
    Action.UPSERT_TEAM: DIRECTORY_WRITERS,
    Action.READ_PERSON: EVERYONE,
    Action.READ_MANAGER_CHAIN: EVERYONE,
    Action.READ_TEAM: EVERYONE,
    Action.LIST_TEAM_MEMBERS: EVERYONE,
}


def is_allowed(principal: Principal, action: Action, tenant_id: str) -> bool:
    return principal.tenant_id == tenant_id and principal.has_role(*ALLOWED_ROLES[action])


def authorize(principal: Principal, action: Action, tenant_id: str) -> None:
    """Returns when `principal` may perform `action` in `tenant_id`; PermissionDenied otherwise."""
    if principal.tenant_id != tenant_id:
        raise PermissionDenied("not a member of this tenant", field="tenant_id")
    if not principal.has_role(*ALLOWED_ROLES[action]):
        roles = ", ".join(sorted(ALLOWED_ROLES[action]))
        raise PermissionDenied(f"{action.value} needs one of the roles: {roles}")
