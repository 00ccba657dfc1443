"""The web pages' only source of data: the public gRPC APIs, called as the visitor.

Each call either answers or gives an `Explained` error (the same plain words the console
command prints), so a page can show what it may and say why the rest is missing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import grpc

from northstar.directory.v1 import directory_pb2, directory_pb2_grpc
from northstar.feedback.v1 import feedback_pb2_grpc
from northstar.goals.v1 import goals_pb2_grpc
from northstar.kpi.v1 import kpi_pb2_grpc
from northstar.projections.v1 import projections_pb2, projections_pb2_grpc
from northstar_cli.config import SERVICE_OFFSETS
from northstar_cli.errors import Explained, explain
from services.shared.auth import mint_dev_token
from webapp.session import Visitor

R = TypeVar("R")
T = TypeVar("T")
CALL_TIMEOUT_SECONDS = 15.0
PEOPLE_CACHE_SECONDS = 60.0
TREE_PAGE_SIZE = 500
MAX_TREE_PAGES = 200
"""A page asks for the whole tree page by page; past this many pages (100,000 goals) it stops."""
# The web server's own account, for the login page's list of people (dev mode only).
SERVICE_ACCOUNT = "northstar-web"


@dataclass(frozen=True)
class Answer(Generic[T]):
    value: T | None
    error: Explained | None


class Backend:
    def __init__(self, host: str, base_port: int, dev_secret: str, tenant: str) -> None:
        self._addresses = {name: f"{host}:{base_port + o}" for name, o in SERVICE_OFFSETS.items()}
        self._channels = {n: grpc.aio.insecure_channel(a) for n, a in self._addresses.items()}
        self.goals = goals_pb2_grpc.GoalServiceStub(self._channels["goals"])
        self.projections = projections_pb2_grpc.ProjectionServiceStub(self._channels["projections"])
        self.kpi = kpi_pb2_grpc.KpiServiceStub(self._channels["kpi"])
        self.feedback = feedback_pb2_grpc.FeedbackServiceStub(self._channels["feedback"])
        self.directory = directory_pb2_grpc.DirectoryServiceStub(self._channels["directory"])
        self._secret = dev_secret
        self.tenant = tenant
        self._people: tuple[float, list[directory_pb2.Person]] = (0.0, [])

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)

    def metadata(self, visitor: Visitor) -> tuple[tuple[str, str], ...]:
        token = mint_dev_token(
            self._secret,
            subject=visitor.subject,
            tenant_id=visitor.tenant,
            roles=visitor.roles,
            ttl_seconds=300,
        )
        return (("authorization", f"Bearer {token}"),)

    async def call(
        self,
        service: str,
        method: Callable[..., Awaitable[R]],
        request: Any,
        visitor: Visitor,
    ) -> Answer[R]:
        try:
            value = await method(
                request, metadata=self.metadata(visitor), timeout=CALL_TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError as error:
            return Answer(None, explain(error, service, self._addresses[service]))
        return Answer(value, None)

    async def alignment_tree(
        self, request: projections_pb2.GetAlignmentTreeRequest, visitor: Visitor
    ) -> Answer[projections_pb2.AlignmentTree]:
        """The whole tree: every page of `request`, merged into one answer (the first page's
        counts cover every page)."""
        merged = projections_pb2.AlignmentTree()
        token = ""
        for number in range(MAX_TREE_PAGES):
            page_request = projections_pb2.GetAlignmentTreeRequest()
            page_request.CopyFrom(request)
            page_request.page_size, page_request.page_token = TREE_PAGE_SIZE, token
            answer = await self.call(
                "projections", self.projections.GetAlignmentTree, page_request, visitor
            )
            if answer.value is None:
                return answer
            if number == 0:
                merged.status_counts.extend(answer.value.status_counts)
                merged.total_size = answer.value.total_size
            merged.nodes.extend(answer.value.nodes)
            token = answer.value.next_page_token
            if not token:
                break
        return Answer(merged, None)

    async def export_text(self, request: Any, visitor: Visitor) -> Answer[str]:
        try:
            stream = self.projections.ExportHistory(
                request, metadata=self.metadata(visitor), timeout=CALL_TIMEOUT_SECONDS
            )
            data = b"".join([chunk.data async for chunk in stream])
        except grpc.aio.AioRpcError as error:
            return Answer(None, explain(error, "projections", self._addresses["projections"]))
        return Answer(data.decode(), None)

    async def people(self) -> list[directory_pb2.Person]:
        """Everyone in the departments that have goals (for the dev login), cached a minute."""
        fetched_at, cached = self._people
        if cached and time.monotonic() - fetched_at < PEOPLE_CACHE_SECONDS:
            return cached
        account = Visitor(SERVICE_ACCOUNT, self.tenant, ("integration",))
        tree = await self.alignment_tree(projections_pb2.GetAlignmentTreeRequest(), account)
        team_ids = {
            node.team_id for node in (tree.value.nodes if tree.value else []) if node.team_id
        }
        departments: set[str] = set()
        for team_id in sorted(team_ids):
            department = team_id
            for _ in range(10):  # up the parents to the department (loops are refused upstream)
                team = await self.call(
                    "directory",
                    self.directory.GetTeam,
                    directory_pb2.GetTeamRequest(team_id=department),
                    account,
                )
                if team.value is None or not team.value.parent_team_id:
                    break
                department = team.value.parent_team_id
            departments.add(department)
        people: dict[str, directory_pb2.Person] = {}
        for department in sorted(departments):
            members = await self.call(
                "directory",
                self.directory.ListTeamMembers,
                directory_pb2.ListTeamMembersRequest(team_id=department, include_subteams=True),
                account,
            )
            for person in members.value.people if members.value else []:
                people[person.person_id] = person
        listed = sorted(people.values(), key=lambda person: person.name)
        self._people = (time.monotonic(), listed)
        return listed


def suggested_role(person: directory_pb2.Person) -> str:
    """A role that fits the person's title, for the dev login (anyone may pick another)."""
    title = person.title.casefold()
    if "auditor" in title:
        return "auditor"
    if "hr lead" in title:
        return "hr_admin"
    if any(word in title for word in ("chief", "lead", "head")):
        return "manager"
    return "employee"
