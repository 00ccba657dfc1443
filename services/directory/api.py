"""gRPC servicer of the directory: protobuf in, application call, protobuf out; nothing else.

The caller comes from the token (services.shared.auth); the application decides what they may
do. Application calls touch the store, so they run in a worker thread off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, TypeVar

from google.protobuf.message import Message

from northstar.directory.v1 import directory_pb2, directory_pb2_grpc
from services.directory.application import DirectoryApplication, PersonChange, TeamChange
from services.directory.domain import PersonDetails, TeamDetails
from services.directory.protobuf_mapping import (
    person_message,
    team_message,
    upsert_employment_status,
)
from services.shared.auth import Principal, current_principal
from services.shared.errors import InvalidArgument
from services.shared.idempotency import REQUEST_ID_FIELD, parse_request_id, run_once
from services.shared.position import encode_position_token

SERVICE_FULL_NAME = "northstar.directory.v1.DirectoryService"
T = TypeVar("T")


class DirectoryServicer(directory_pb2_grpc.DirectoryServiceServicer):
    def __init__(
        self, app: DirectoryApplication, on_saved: Callable[[], None] = lambda: None
    ) -> None:
        self.app = app
        self.on_saved = on_saved

    async def UpsertPerson(  # noqa: N802 (gRPC method names)
        self, request: directory_pb2.UpsertPersonRequest, context: Any
    ) -> directory_pb2.PersonCommandResponse:
        details = PersonDetails(
            name=request.name,
            email=request.email,
            title=request.title,
            team_id=request.team_id,
            manager_id=request.manager_id,
            employment_status=upsert_employment_status(request.employment_status),
            start_date=optional_date(request.start_date, "start_date"),
            leave_date=optional_date(request.leave_date, "leave_date"),
        )
        principal = current_principal()
        change = await self._once(
            principal,
            request,
            lambda: self.app.upsert_person(principal, request.person_id, details),
            lambda result: self.app.recorded_person(principal, result),
        )
        return self._person_response(change)

    async def RecordDeparture(  # noqa: N802 (gRPC method names)
        self, request: directory_pb2.RecordDepartureRequest, context: Any
    ) -> directory_pb2.PersonCommandResponse:
        leave_date = optional_date(request.leave_date, "leave_date")
        if leave_date is None:
            raise InvalidArgument("is required", field="leave_date")
        principal = current_principal()
        change = await self._once(
            principal,
            request,
            lambda: self.app.record_departure(
                principal, request.person_id, leave_date, request.reason
            ),
            lambda result: self.app.recorded_person(principal, result),
        )
        return self._person_response(change)

    async def UpsertTeam(  # noqa: N802 (gRPC method names)
        self, request: directory_pb2.UpsertTeamRequest, context: Any
    ) -> directory_pb2.TeamCommandResponse:
        details = TeamDetails(
            name=request.name, parent_team_id=request.parent_team_id, lead_id=request.lead_id
        )
        principal = current_principal()
        change = await self._once(
            principal,
            request,
            lambda: self.app.upsert_team(principal, request.team_id, details),
            lambda result: self.app.recorded_team(principal, result),
        )
        return self._team_response(change)

    async def GetPerson(  # noqa: N802 (gRPC method names)
        self, request: directory_pb2.GetPersonRequest, context: Any
    ) -> directory_pb2.Person:
        person = await asyncio.to_thread(
            self.app.get_person, current_principal(), request.person_id
        )
        return person_message(person)

    async def GetTeam(  # noqa: N802 (gRPC method names)
        self, request: directory_pb2.GetTeamRequest, context: Any
    ) -> directory_pb2.Team:
        team = await asyncio.to_thread(self.app.get_team, current_principal(), request.team_id)
        return team_message(team)

    async def GetManagerChain(  # noqa: N802 (gRPC method names)
        self, request: directory_pb2.GetManagerChainRequest, context: Any
    ) -> directory_pb2.GetManagerChainResponse:
        chain = await asyncio.to_thread(
            self.app.manager_chain, current_principal(), request.person_id
        )
        return directory_pb2.GetManagerChainResponse(manager_ids=chain)

    async def ListTeamMembers(  # noqa: N802 (gRPC method names)
        self, request: directory_pb2.ListTeamMembersRequest, context: Any
    ) -> directory_pb2.ListTeamMembersResponse:
        principal = current_principal()
        people = await asyncio.to_thread(
            lambda: self.app.list_team_members(
                principal, request.team_id, include_subteams=request.include_subteams
            )
        )
        return directory_pb2.ListTeamMembersResponse(people=[person_message(p) for p in people])

    async def _once(
        self,
        principal: Principal,
        request: Message,
        run: Callable[[], T],
        replay: Callable[[Mapping[str, Any]], T],
    ) -> T:
        """`run` in a worker thread, at most once per request id (services.shared.idempotency)."""
        request_id = parse_request_id(getattr(request, REQUEST_ID_FIELD))
        method = type(request).__name__.removesuffix("Request")
        log, retention = self.app.request_log, self.app.request_retention
        return await asyncio.to_thread(
            run_once, log, principal, request_id, method, request, retention, run, replay
        )

    def _person_response(self, change: PersonChange) -> directory_pb2.PersonCommandResponse:
        if change.changed:
            self.on_saved()
        person = change.person
        return directory_pb2.PersonCommandResponse(
            person=person_message(person),
            version=person.version,
            position_token=encode_position_token(person.id, person.version),
            changed=change.changed,
        )

    def _team_response(self, change: TeamChange) -> directory_pb2.TeamCommandResponse:
        if change.changed:
            self.on_saved()
        team = change.team
        return directory_pb2.TeamCommandResponse(
            team=team_message(team),
            version=team.version,
            position_token=encode_position_token(team.id, team.version),
            changed=change.changed,
        )


def optional_date(text: str, field: str) -> date | None:
    """ "" -> None; "YYYY-MM-DD" -> a date; anything else is INVALID_ARGUMENT."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise InvalidArgument("must be a date YYYY-MM-DD", field=field) from error
