"""What the goals service knows about people and teams: its local directory replica.

Goals name people and teams by the enterprise's ids; these checks make sure a goal's owner is
a current member of the tenant and its team exists, from the replica, never by a remote call.
"""

from __future__ import annotations

from typing import Protocol

from services.shared.directory_replica import ReplicaPerson, ReplicaTeam
from services.shared.errors import FailedPrecondition


class Directory(Protocol):
    """The slice of services.shared.directory_replica.DirectoryReplica the goals service uses."""

    def person(self, tenant_id: str, person_id: str) -> ReplicaPerson | None: ...

    def team(self, tenant_id: str, team_id: str) -> ReplicaTeam | None: ...

    def is_in_management_chain(self, tenant_id: str, manager_id: str, person_id: str) -> bool: ...

    def team_members(self, tenant_id: str, team_id: str) -> list[str]: ...


class UnknownPerson(FailedPrecondition):
    """The person is not in the tenant's directory, or has left."""


class UnknownTeam(FailedPrecondition):
    """The team is not in the tenant's directory."""


def require_current_person(
    directory: Directory, tenant_id: str, person_id: str, field: str
) -> ReplicaPerson:
    """The person, when they are in the tenant's directory and have not left."""
    person = directory.person(tenant_id, person_id)
    if person is None:
        raise UnknownPerson(f"no person {person_id!r} in the directory", field=field)
    if person.has_departed:
        left = f" on {person.leave_date.isoformat()}" if person.leave_date else ""
        raise UnknownPerson(f"{person_id} has left the organisation{left}", field=field)
    return person


def require_known_team(directory: Directory, tenant_id: str, team_id: str, field: str) -> None:
    if directory.team(tenant_id, team_id) is None:
        raise UnknownTeam(f"no team {team_id!r} in the directory", field=field)


def default_team(directory: Directory, tenant_id: str, owner_id: str) -> str:
    """The owner's current team ('' when unknown): a goal's team when the request names none."""
    owner = directory.person(tenant_id, owner_id)
    return owner.team_id if owner is not None else ""


def require_owner_and_team(
    directory: Directory,
    tenant_id: str,
    owner_id: str,
    team_id: str,
    *,
    owner_field: str = "owner_id",
    team_field: str = "team_id",
) -> None:
    """A goal's owner is a current member of the tenant and its team (if any) exists."""
    owner = require_current_person(directory, tenant_id, owner_id, owner_field)
    if team_id and team_id != owner.team_id:
        require_known_team(directory, tenant_id, team_id, team_field)
