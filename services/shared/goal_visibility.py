"""Who may see a goal: the one visibility rule of the goals service and of every projections read.

- Public goals are seen by the whole tenant.
- Team goals by the members of the goal's team, the owner, the owner's management chain (any
  level above the owner), HR admins, auditors and integration accounts.
- Private goals by the owner, the owner's management chain, HR admins, auditors and
  integration accounts.
- Nobody sees another tenant's goal, and a platform operator sees no tenant's goals.

A goal the caller may not see is absent for them: left out of lists and trees, "not found" when
asked for directly. The rule takes only facts: the caller, the goal's tenant, owner, team and
visibility, and the reporting lines of the service's own directory replica (a team member is a
person the replica places in the team who has not left; a manager is anyone above the owner).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from services.shared.auth import AUDITOR, HR_ADMIN, INTEGRATION, Principal
from services.shared.directory_replica import ReplicaPerson

PUBLIC = "public"
TEAM = "team"
PRIVATE = "private"
SEE_EVERY_GOAL = frozenset({HR_ADMIN, AUDITOR, INTEGRATION})


@dataclass(frozen=True)
class GoalAudience:
    """The facts of a goal that decide who sees it."""

    tenant_id: str
    owner_id: str
    team_id: str
    visibility: str


class ReportingLines(Protocol):
    """What the rule reads from a directory replica (services.shared.directory_replica)."""

    def person(self, tenant_id: str, person_id: str) -> ReplicaPerson | None: ...

    def is_in_management_chain(self, tenant_id: str, manager_id: str, person_id: str) -> bool: ...


def can_see_goal(principal: Principal, goal: GoalAudience, lines: ReportingLines) -> bool:
    """True when `principal` may see `goal` (see the module's rules)."""
    if goal.tenant_id != principal.tenant_id or principal.is_platform_operator:
        return False
    if goal.visibility == PUBLIC or principal.roles & SEE_EVERY_GOAL:
        return True
    if goal.owner_id == principal.subject:
        return True
    if goal.visibility == TEAM and goal.team_id and _in_team(principal, goal.team_id, lines):
        return True
    return lines.is_in_management_chain(principal.tenant_id, principal.subject, goal.owner_id)


def _in_team(principal: Principal, team_id: str, lines: ReportingLines) -> bool:
    caller = lines.person(principal.tenant_id, principal.subject)
    return caller is not None and not caller.has_departed and caller.team_id == team_id


@dataclass
class MemoisedLines:
    """Reporting lines read once per person for one query: a tree of thousands of goals asks
    about the same few owners again and again."""

    lines: ReportingLines
    _people: dict[tuple[str, str], ReplicaPerson | None] = field(default_factory=dict)
    _chains: dict[tuple[str, str, str], bool] = field(default_factory=dict)

    def person(self, tenant_id: str, person_id: str) -> ReplicaPerson | None:
        key = (tenant_id, person_id)
        if key not in self._people:
            self._people[key] = self.lines.person(tenant_id, person_id)
        return self._people[key]

    def is_in_management_chain(self, tenant_id: str, manager_id: str, person_id: str) -> bool:
        key = (tenant_id, manager_id, person_id)
        if key not in self._chains:
            self._chains[key] = self.lines.is_in_management_chain(tenant_id, manager_id, person_id)
        return self._chains[key]
