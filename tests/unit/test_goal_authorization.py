"""The goals authorisation policy as a role x action matrix, on a small fixed organisation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from services.goals.authorization import (
    can_view,
    require_can_cascade,
    require_can_change,
    require_can_create,
)
from services.goals.goal import Goal
from services.shared.auth import Principal
from services.shared.directory_replica import ReplicaPerson, ReplicaTeam
from services.shared.errors import PermissionDenied


@dataclass
class Org:
    """ann and bob in team-a report to max; max reports to cleo; zoe has left."""

    managers: dict[str, str] = field(
        default_factory=lambda: {"ann": "max", "bob": "max", "max": "cleo", "zoe": "max"}
    )
    teams: dict[str, str] = field(
        default_factory=lambda: {"ann": "team-a", "bob": "team-a", "zoe": "team-a"}
    )
    departed: set[str] = field(default_factory=lambda: {"zoe"})

    def person(self, tenant_id: str, person_id: str) -> ReplicaPerson | None:
        if tenant_id != "acme" or person_id not in {*self.managers, "cleo"}:
            return None
        status = "departed" if person_id in self.departed else "active"
        team, manager = self.teams.get(person_id, ""), self.managers.get(person_id, "")
        return ReplicaPerson(person_id, person_id, "", "", team, manager, status, None, None)

    def team(self, tenant_id: str, team_id: str) -> ReplicaTeam | None:
        return ReplicaTeam(team_id, team_id, "", "max") if team_id == "team-a" else None

    def is_in_management_chain(self, tenant_id: str, manager_id: str, person_id: str) -> bool:
        current = self.managers.get(person_id, "")
        while current:
            if current == manager_id:
                return True
            current = self.managers.get(current, "")
        return False

    def team_members(self, tenant_id: str, team_id: str) -> list[str]:
        return sorted(p for p, t in self.teams.items() if t == team_id and p not in self.departed)


ORG = Org()
CALLERS = {
    "owner": Principal("ann", "acme", frozenset({"employee"})),
    "teammate": Principal("bob", "acme", frozenset({"employee"})),
    "manager": Principal("max", "acme", frozenset({"manager"})),
    "skip-level manager": Principal("cleo", "acme", frozenset({"manager"})),
    "unrelated manager": Principal("ivy", "acme", frozenset({"manager"})),
    "hr admin": Principal("hr", "acme", frozenset({"hr_admin"})),
    "auditor": Principal("audrey", "acme", frozenset({"auditor"})),
    "integration": Principal("hris", "acme", frozenset({"integration"})),
    "departed manager": Principal("zoe", "acme", frozenset({"manager", "employee"})),
    "other tenant's hr": Principal("hr", "globex", frozenset({"hr_admin"})),
}


def goal(**overrides: Any) -> Goal:
    arguments: dict[str, Any] = {
        "tenant_id": "acme",
        "title": "Ship the billing rewrite",
        "description": "",
        "owner_id": "ann",
        "team_id": "team-a",
        "level": "personal",
        "start_date": date(2026, 1, 1),
        "due_date": date(2026, 6, 30),
        "metric": None,
        "parent_goal_id": None,
        "visibility": "public",
        "created_by": "ann",
    }
    return Goal.create(**{**arguments, **overrides})


def allowed(check: Callable[[], object]) -> bool:
    try:
        return check() is not False
    except PermissionDenied:
        return False


ACTIONS: dict[str, Callable[[Principal], object]] = {
    "view public": lambda p: can_view(p, ORG, goal()),
    "view team": lambda p: can_view(p, ORG, goal(visibility="team")),
    "view private": lambda p: can_view(p, ORG, goal(visibility="private")),
    "change": lambda p: require_can_change(p, ORG, goal()),
    "create for ann": lambda p: require_can_create(p, ORG, owner_id="ann", level="personal"),
    "create for self": lambda p: require_can_create(p, ORG, owner_id=p.subject, level="personal"),
    "set strategy": lambda p: require_can_create(p, ORG, owner_id="hr", level="strategy"),
    "set company goal": lambda p: require_can_create(p, ORG, owner_id="hr", level="company"),
    "change company goal": lambda p: require_can_change(
        p, ORG, goal(level="company", owner_id="cleo")
    ),
    "cascade team goal": lambda p: require_can_cascade(
        p, ORG, goal(level="team", owner_id="max"), ORG.team_members("acme", "team-a")
    ),
}
EVERYONE_HERE = {c for c in CALLERS if c != "other tenant's hr"}
WRITERS = {"owner", "manager", "skip-level manager", "hr admin", "integration"}
EXPECTED: dict[str, set[str]] = {
    "view public": EVERYONE_HERE,
    "view team": EVERYONE_HERE - {"unrelated manager", "departed manager"},
    "view private": {"owner", "manager", "skip-level manager", "hr admin", "auditor"}
    | {"integration"},
    "change": WRITERS,
    # A goal is always created in the caller's own tenant: globex's HR may create goals there,
    # and the directory check refuses "ann", who is not a globex person.
    "create for ann": WRITERS | {"other tenant's hr"},
    "create for self": EVERYONE_HERE - {"auditor", "departed manager"} | {"other tenant's hr"},
    "set strategy": {"hr admin", "integration", "other tenant's hr"},
    "set company goal": {"manager", "skip-level manager", "unrelated manager", "hr admin"}
    | {"integration", "other tenant's hr"},
    "change company goal": {"manager", "skip-level manager", "unrelated manager", "hr admin"}
    | {"integration"},
    "cascade team goal": {"manager", "skip-level manager", "hr admin", "integration"},
}


def may(name: str, action: str) -> bool:
    try:
        return ACTIONS[action](CALLERS[name]) is not False
    except PermissionDenied:
        return False


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_role_may_do_exactly_what_the_policy_allows(action: str) -> None:
    assert {name for name in CALLERS if may(name, action)} == EXPECTED[action]


def test_a_departed_person_reads_but_writes_nothing() -> None:
    departed = CALLERS["departed manager"]
    assert can_view(departed, ORG, goal())
    with pytest.raises(PermissionDenied, match="left"):
        require_can_change(departed, ORG, goal())


def test_a_move_to_another_manager_takes_effect_at_the_next_decision() -> None:
    org = Org()
    manager = CALLERS["manager"]
    assert allowed(lambda: require_can_change(manager, org, goal()))
    org.managers["ann"] = "cleo"
    assert not allowed(lambda: require_can_change(manager, org, goal()))
    org.teams["bob"] = "team-b"
    assert not can_view(CALLERS["teammate"], org, goal(visibility="team"))
