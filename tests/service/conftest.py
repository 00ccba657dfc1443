"""The service tier: the goals application on the in-memory event store (eventsourcing POPO)
with one fake directory, driven through the gRPC servicer's methods without a network, so the
rules (who may do what, which input is refused and how) are checked in milliseconds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import grpc
import pytest
from google.protobuf.message import Message

from northstar.goals.v1 import goals_pb2 as pb
from services.goals.api import GoalServicer
from services.goals.application import GoalsApplication
from services.goals.index import GoalIndex
from services.shared.auth import Principal, reset_current_principal, set_current_principal
from services.shared.directory_replica import ReplicaPerson, ReplicaTeam
from services.shared.errors import NorthstarError
from services.shared.grpc_server import status_code_for
from services.shared.readmodel import ReadModelDatabase


class FakeDirectory:
    """The organisation of tests/integration/conftest.py's seed, held in dictionaries."""

    def __init__(self) -> None:
        self.teams = {
            ("acme", "team-a"): ReplicaTeam("team-a", "Team A", "", "manager-1"),
            ("acme", "team-b"): ReplicaTeam("team-b", "Team B", "", ""),
            ("globex", "globex-team"): ReplicaTeam("globex-team", "Globex", "", ""),
        }
        self.people: dict[tuple[str, str], ReplicaPerson] = {}
        for tenant_id, person_id, team_id, manager_id in (
            ("acme", "hr-1", "", ""),
            ("acme", "manager-1", "team-b", ""),
            ("acme", "owner-1", "team-a", "manager-1"),
            ("acme", "owner-2", "team-a", "manager-1"),
            ("globex", "globex-hr", "", ""),
            ("globex", "globex-owner", "globex-team", "globex-hr"),
        ):
            self.people[tenant_id, person_id] = ReplicaPerson(
                person_id, person_id.title(), f"{person_id}@example.com", "", team_id,
                manager_id, "active", None, None,
            )  # fmt: skip

    def person(self, tenant_id: str, person_id: str) -> ReplicaPerson | None:
        return self.people.get((tenant_id, person_id))

    def team(self, tenant_id: str, team_id: str) -> ReplicaTeam | None:
        return self.teams.get((tenant_id, team_id))

    def is_in_management_chain(self, tenant_id: str, manager_id: str, person_id: str) -> bool:
        seen: set[str] = set()
        person = self.person(tenant_id, person_id)
        while person is not None and person.manager_id and person.manager_id not in seen:
            if person.manager_id == manager_id:
                return True
            seen.add(person.manager_id)
            person = self.person(tenant_id, person.manager_id)
        return False

    def team_members(self, tenant_id: str, team_id: str) -> list[str]:
        return sorted(
            p.person_id
            for (tenant, _), p in self.people.items()
            if tenant == tenant_id and p.team_id == team_id and not p.has_departed
        )


ACME_KPI = UUID("00000000-0000-4000-8000-00000000a001")
"""The one KPI the goals service knows, in tenant acme (as if its definition had arrived)."""


class FakeKpis:
    """The KPI catalogue the goals service learns from the KPI topic, held in a set."""

    known = frozenset({("acme", ACME_KPI)})

    def is_known(self, tenant_id: str, kpi_id: UUID) -> bool:
        return (tenant_id, kpi_id) in self.known


def caller(subject: str, *roles: str, tenant_id: str = "acme") -> Principal:
    return Principal(subject=subject, tenant_id=tenant_id, roles=frozenset(roles))


HR = caller("hr-1", "hr_admin")


@dataclass
class GoalsService:
    """The goals service without its transport: `call` answers like the gRPC method would,
    raising the error the gRPC layer would turn into a status (see `status_of`)."""

    app: GoalsApplication
    servicer: GoalServicer

    async def call(self, rpc: str, request: Message, as_caller: Principal = HR) -> Any:
        token = set_current_principal(as_caller)
        try:
            method: Callable[[Message, Any], Awaitable[Any]] = getattr(self.servicer, rpc)
            return await method(request, None)
        finally:
            reset_current_principal(token)

    async def status_of(self, rpc: str, request: Message, as_caller: Principal = HR) -> Failure:
        """What a call answers: OK, or the status code, field and reason of its refusal; a
        refusal must store nothing."""
        before = self.app.recorder.max_notification_id()
        try:
            await self.call(rpc, request, as_caller)
        except NorthstarError as error:
            failure = Failure(status_code_for(error), error.field, error.reason)
        else:
            return Failure(grpc.StatusCode.OK, "", "")
        stored = self.app.recorder.max_notification_id() != before
        assert not stored, (rpc, failure)
        return failure

    async def new_goal(self, **fields: Any) -> pb.Goal:
        """An active personal goal of owner-1 (number metric 0 -> 100), created by HR."""
        request = pb.CreateGoalRequest(
            title="Answer every ticket within a day",
            owner_id="owner-1",
            start_date="2026-01-01",
            due_date="2026-12-31",
            metric=pb.Metric(kind=pb.METRIC_KIND_NUMBER, start=0, target=100),
            activate=True,
        )
        for name, value in fields.items():
            setattr(request, name, value)
        response: pb.GoalCommandResponse = await self.call("CreateGoal", request)
        return response.goal


@dataclass(frozen=True)
class Failure:
    code: grpc.StatusCode
    field: str
    reason: str


@pytest.fixture
def goals_service(tmp_path: Path) -> Iterator[GoalsService]:
    directory = FakeDirectory()
    app = GoalsApplication(directory=directory)  # no persistence settings: the in-memory store
    app.kpi_catalogue = FakeKpis()
    index_db = ReadModelDatabase(f"sqlite:///{tmp_path / 'goal-index.db'}")
    index = GoalIndex(app, index_db)

    def index_saved(_appended: int) -> None:
        index.catch_up()

    app.after_save.append(index_saved)
    yield GoalsService(app, GoalServicer(app, index))
    index_db.close()
