"""Who may do what with goals: the goals service's one authorisation policy.

- Auditors read everything in their tenant and never write.
- HR admins and integration accounts may change any goal of their tenant.
- A goal's owner, and every manager above the owner, may change it.
- Strategic objectives and company goals are set by HR admins, managers or integrations.
- Visibility: public goals are seen by the whole tenant; team goals by the team, the owner's
  management chain, HR admins and auditors; private goals by the owner, the owner's
  management chain, HR admins and auditors.
Tenancy is enforced before this policy: another tenant's goal is simply not found.
"""

from __future__ import annotations

from typing import Protocol

from services.goals.domain import Goal
from services.shared.auth import AUDITOR, EMPLOYEE, HR_ADMIN, INTEGRATION, MANAGER, Principal
from services.shared.errors import PermissionDenied

WRITER_ROLES = frozenset({EMPLOYEE, MANAGER, HR_ADMIN, INTEGRATION})
ORGANISATION_WIDE_WRITERS = frozenset({HR_ADMIN, INTEGRATION})
SEE_EVERYTHING_ROLES = frozenset({HR_ADMIN, AUDITOR, INTEGRATION})
TOP_LEVEL_SETTERS = {
    "strategy": frozenset({HR_ADMIN, INTEGRATION}),
    "company": frozenset({HR_ADMIN, MANAGER, INTEGRATION}),
}


class OrgChart(Protocol):
    """What the policy needs to know about reporting lines (the directory replica)."""

    def is_in_management_chain(self, tenant_id: str, manager_id: str, person_id: str) -> bool: ...

    def team_members(self, tenant_id: str, team_id: str) -> list[str]: ...


def _manages(org: OrgChart, principal: Principal, person_id: str) -> bool:
    return org.is_in_management_chain(principal.tenant_id, principal.subject, person_id)


def require_writer(principal: Principal, action: str) -> None:
    if not principal.roles & WRITER_ROLES:
        raise PermissionDenied(f"role(s) {sorted(principal.roles)} may not {action} goals")


def require_can_create(principal: Principal, org: OrgChart, *, owner_id: str, level: str) -> None:
    require_writer(principal, "create")
    allowed_roles = TOP_LEVEL_SETTERS.get(level)
    if allowed_roles is not None and not principal.roles & allowed_roles:
        raise PermissionDenied(
            f"only {', '.join(sorted(allowed_roles))} may set {level}-level goals", field="level"
        )
    if principal.roles & ORGANISATION_WIDE_WRITERS or level in TOP_LEVEL_SETTERS:
        return
    if owner_id != principal.subject and not _manages(org, principal, owner_id):
        raise PermissionDenied(
            "you may create goals for yourself or for people who report to you",
            field="owner_id",
        )


def require_can_change(principal: Principal, org: OrgChart, goal: Goal) -> None:
    require_writer(principal, "change")
    if principal.roles & ORGANISATION_WIDE_WRITERS:
        return
    if goal.owner_id == principal.subject or _manages(org, principal, goal.owner_id):
        return
    if goal.level in TOP_LEVEL_SETTERS and principal.roles & TOP_LEVEL_SETTERS[goal.level]:
        return
    raise PermissionDenied("only the owner, their managers or HR admins may change this goal")


def can_view(principal: Principal, org: OrgChart, goal: Goal) -> bool:
    if goal.visibility == "public" or principal.roles & SEE_EVERYTHING_ROLES:
        return True
    if goal.owner_id == principal.subject or _manages(org, principal, goal.owner_id):
        return True
    if goal.visibility == "team":
        return principal.subject in org.team_members(principal.tenant_id, goal.team_id)
    return False


class NoReportingLines:
    """An org chart that knows nobody: used until the directory replica has data."""

    def is_in_management_chain(self, tenant_id: str, manager_id: str, person_id: str) -> bool:
        return False

    def team_members(self, tenant_id: str, team_id: str) -> list[str]:
        return []
