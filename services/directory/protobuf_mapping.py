"""Protobuf <-> domain values for the directory API: the employment status enum, people, teams.

The enum has one table here; the domain and the event contracts keep their strings.
"""

from __future__ import annotations

from northstar.directory.v1 import directory_pb2 as pb
from services.directory.domain import ACTIVE, DEPARTED, ON_LEAVE, Person, Team
from services.shared.directory_replica import ReplicaPerson
from services.shared.errors import InvalidArgument
from services.shared.proto_enums import EnumTable

EMPLOYMENT_STATUSES = EnumTable(
    pb.EmploymentStatus.DESCRIPTOR,
    {
        pb.EMPLOYMENT_STATUS_ACTIVE: ACTIVE,
        pb.EMPLOYMENT_STATUS_ON_LEAVE: ON_LEAVE,
        pb.EMPLOYMENT_STATUS_DEPARTED: DEPARTED,
    },
    default=ACTIVE,
)


def upsert_employment_status(number: int, field: str = "employment_status") -> str:
    """An upsert's status: active (the default) or on leave; a departure has its own RPC."""
    status = EMPLOYMENT_STATUSES.from_request(number, field)
    if status == DEPARTED:
        raise InvalidArgument(
            f"must be {EMPLOYMENT_STATUSES.name_of(ACTIVE)} or "
            f"{EMPLOYMENT_STATUSES.name_of(ON_LEAVE)}; departures are recorded with "
            "RecordDeparture",
            field=field,
        )
    return status


def person_message(person: Person | ReplicaPerson) -> pb.Person:
    return pb.Person(
        person_id=person.person_id,
        name=person.name,
        email=person.email,
        title=person.title,
        team_id=person.team_id,
        manager_id=person.manager_id,
        employment_status=EMPLOYMENT_STATUSES.to_proto(person.employment_status),
        start_date=person.start_date.isoformat() if person.start_date else "",
        leave_date=person.leave_date.isoformat() if person.leave_date else "",
    )


def team_message(team: Team) -> pb.Team:
    return pb.Team(
        team_id=team.team_id,
        name=team.name,
        parent_team_id=team.parent_team_id,
        lead_id=team.lead_id,
    )
