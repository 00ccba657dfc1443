"""Who may do what with goals: the goals service's one authorisation policy.

- Auditors read everything in their tenant and never write.
- HR admins and integration accounts may change any goal of their tenant.
- A goal's owner, and every manager above the owner, may change it; a person may create goals
  for themselves and for anyone below them in the reporting lines.
- Strategic objectives are set by HR admins and integrations; company goals also by managers.
- Cascading a team goal needs the right to change it and to create a goal for each member.
- Someone the directory records as departed writes nothing, whatever their token says.
- Visibility is services.shared.goal_visibility's rule, the one the projections apply too:
  public goals are seen by the whole tenant; team goals by the team, the owner's management
  chain, HR admins, auditors and integrations; private goals by the owner, the owner's
  management chain, HR admins, auditors and integrations. A goal the caller may not see is
  "not found".
Reporting lines come from the local directory replica at the moment of the call, so a move
to another team or manager changes what a person may do without a restart. Tenancy is
enforced before this policy: another tenant's goal is simply not found.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.goals.goal import Goal
from services.goals.people import Directory
from services.shared.auth import EMPLOYEE, HR_ADMIN, INTEGRATION, MANAGER, Principal
from services.shared.errors import NotFound, PermissionDenied
from services.shared.goal_visibility import GoalAudience, ReportingLines, can_see_goal

WRITER_ROLES = frozenset({EMPLOYEE, MANAGER, HR_ADMIN, INTEGRATION})
ORGANISATION_WIDE_WRITERS = frozenset({HR_ADMIN, INTEGRATION})
TOP_LEVEL_SETTERS = {
    "strategy": frozenset({HR_ADMIN, INTEGRATION}),
    "company": frozenset({HR_ADMIN, MANAGER, INTEGRATION}),
}


def _manages(org: Directory, principal: Principal, person_id: str) -> bool:
    return org.is_in_management_chain(principal.tenant_id, principal.subject, person_id)


def require_writer(principal: Principal, org: Directory, action: str) -> None:
    if not principal.roles & WRITER_ROLES:
        # Plain words, not a Python list: this text reaches people through the CLI and web.
        roles = sorted(principal.roles)
        named = (
            f"the role {roles[0]}"
            if len(roles) == 1
            else f"the roles {', '.join(roles)}"
            if roles
            else "a caller with no role"
        )
        raise PermissionDenied(f"{named} may not {action} goals")
    caller = org.person(principal.tenant_id, principal.subject)
    if caller is not None and caller.has_departed:
        raise PermissionDenied(f"{principal.subject} has left the organisation")


def require_can_create(principal: Principal, org: Directory, *, owner_id: str, level: str) -> None:
    require_writer(principal, org, "create")
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


def require_can_change(principal: Principal, org: Directory, goal: Goal) -> None:
    require_writer(principal, org, "change")
    if goal.tenant_id != principal.tenant_id:
        raise PermissionDenied("the goal belongs to another tenant")
    if principal.roles & ORGANISATION_WIDE_WRITERS:
        return
    if goal.owner_id == principal.subject or _manages(org, principal, goal.owner_id):
        return
    if goal.level in TOP_LEVEL_SETTERS and principal.roles & TOP_LEVEL_SETTERS[goal.level]:
        return
    raise PermissionDenied("only the owner, their managers or HR admins may change this goal")


def require_can_cascade(
    principal: Principal, org: Directory, goal: Goal, member_ids: Iterable[str]
) -> None:
    require_can_change(principal, org, goal)
    for member_id in member_ids:
        require_can_create(principal, org, owner_id=member_id, level="personal")


def can_view(principal: Principal, org: ReportingLines, goal: Goal) -> bool:
    audience = GoalAudience(goal.tenant_id, goal.owner_id, goal.team_id, goal.visibility)
    return can_see_goal(principal, audience, org)


def require_can_view(principal: Principal, org: Directory, goal: Goal, field: str) -> None:
    """A goal the caller may not see answers exactly as a missing one would."""
    if not can_view(principal, org, goal):
        raise NotFound(f"goal {goal.id} not found", field=field)
