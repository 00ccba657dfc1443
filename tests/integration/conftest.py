"""Fixtures for tests that run the same case on both stores (SQLite and PostgreSQL), and a
running system (directory + goals + projections services) on real Kafka, with a small
organisation seeded through the directory's gRPC API."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import grpc
import pytest
from psycopg.conninfo import conninfo_to_dict

from northstar.directory.v1 import directory_pb2, directory_pb2_grpc
from northstar.goals.v1 import goals_pb2_grpc
from northstar.projections.v1 import projections_pb2_grpc
from services.directory.__main__ import DirectoryService, start_directory_service
from services.goals.__main__ import GoalsService, start_goals_service
from services.projections.__main__ import ProjectionsService, start_projections_service
from services.shared.auth import (
    DEFAULT_DEV_SECRET,
    PLATFORM_OPERATOR,
    PLATFORM_TENANT,
    mint_dev_token,
)
from services.shared.consumer import RetryPolicy
from services.shared.directory_replica import DirectoryReplica
from services.shared.readmodel import ReadModelDatabase
from services.shared.settings import ServiceSettings
from tests.waiting import eventually


def conninfo_to_url(conninfo: str) -> str:
    """Our settings take store URLs; the PostgreSQL fixtures give libpq conninfo strings."""
    parts = conninfo_to_dict(conninfo)
    user = quote(str(parts.get("user", "postgres")))
    password = parts.get("password")
    credentials = f"{user}:{quote(str(password))}" if password else user
    host = parts.get("host", "127.0.0.1")
    port = parts.get("port", "5432")
    return f"postgresql://{credentials}@{host}:{port}/{parts['dbname']}"


STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""The backends every store test runs on: a fixture parametrised over them runs its tests once
on SQLite and once on PostgreSQL."""
NewDatabase = Callable[[], ReadModelDatabase]


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One store URL per backend: each test using it runs once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return conninfo_to_url(request.getfixturevalue("postgres_schema_dsn"))


@contextlib.contextmanager
def read_model_databases(request: pytest.FixtureRequest, folder: Path) -> Iterator[NewDatabase]:
    """For a fixture parametrised over STORES: a maker of new, empty read-model databases on
    that backend (a SQLite file each, or a PostgreSQL schema each in one test database), all
    closed when the test ends."""
    postgres_url = (
        conninfo_to_url(request.getfixturevalue("postgres_schema_dsn"))
        if request.param == "postgres"
        else ""
    )
    made: list[ReadModelDatabase] = []

    def new_database() -> ReadModelDatabase:
        name = uuid.uuid4().hex[:16]
        db = (
            ReadModelDatabase(postgres_url, schema=f"projections_{name}")
            if postgres_url
            else ReadModelDatabase(f"sqlite:///{folder / f'{name}.db'}")
        )
        made.append(db)
        return db

    try:
        yield new_database
    finally:
        for db in made:
            db.close()


@pytest.fixture(params=STORES)
def new_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewDatabase]:
    with read_model_databases(request, tmp_path) as new_database:
        yield new_database


# ---- a running Northstar (directory, goals, projections) on real Kafka and the chosen store ----


@dataclass(frozen=True)
class SeedPerson:
    tenant_id: str
    person_id: str
    team_id: str = ""
    manager_id: str = ""


@dataclass(frozen=True)
class SeedTeam:
    tenant_id: str
    team_id: str
    lead_id: str = ""


# The organisation every running system starts with. Roles live in tokens, not here: hr-1 and
# globex-hr are given "hr_admin" by the tests' tokens, manager-1 "manager", the owners "employee".
SEED_TEAMS = (
    SeedTeam("acme", "team-a", lead_id="manager-1"),
    SeedTeam("acme", "team-b"),
    SeedTeam("globex", "globex-team"),
)
SEED_PEOPLE = (  # managers before the people who report to them
    SeedPerson("acme", "hr-1"),
    SeedPerson("acme", "manager-1", team_id="team-b"),
    SeedPerson("acme", "owner-1", team_id="team-a", manager_id="manager-1"),
    SeedPerson("acme", "owner-2", team_id="team-a", manager_id="manager-1"),
    SeedPerson("globex", "globex-hr"),
    SeedPerson("globex", "globex-owner", team_id="globex-team", manager_id="globex-hr"),
)
SEED_HR = {"acme": "hr-1", "globex": "globex-hr"}


@dataclass
class RunningSystem:
    settings: ServiceSettings
    goals: GoalsService
    projections: ProjectionsService
    goals_channel: grpc.aio.Channel
    projections_channel: grpc.aio.Channel
    directory: DirectoryService
    directory_channel: grpc.aio.Channel

    @property
    def goals_stub(self) -> goals_pb2_grpc.GoalServiceAsyncStub:
        return goals_pb2_grpc.GoalServiceStub(self.goals_channel)

    @property
    def projections_stub(self) -> projections_pb2_grpc.ProjectionServiceAsyncStub:
        return projections_pb2_grpc.ProjectionServiceStub(self.projections_channel)

    @property
    def directory_stub(self) -> directory_pb2_grpc.DirectoryServiceAsyncStub:
        return directory_pb2_grpc.DirectoryServiceStub(self.directory_channel)


def bearer(subject: str, roles: list[str], tenant_id: str = "acme") -> tuple[tuple[str, str]]:
    token = mint_dev_token(DEFAULT_DEV_SECRET, subject=subject, tenant_id=tenant_id, roles=roles)
    return (("authorization", f"Bearer {token}"),)


def platform_operator(subject: str = "ops-1") -> tuple[tuple[str, str]]:
    """A token of the platform's operations staff: no tenant, no tenant role."""
    return bearer(subject, [PLATFORM_OPERATOR], PLATFORM_TENANT)


def system_settings(store_url: str, tmp_path: Path, kafka: str) -> ServiceSettings:
    return ServiceSettings(
        data_dir=tmp_path / "data",
        store_url="" if store_url.startswith("sqlite") else store_url,
        kafka_bootstrap_servers=kafka,
        topic_namespace=f"test{uuid.uuid4().hex[:12]}",
        jwt_dev_secret=DEFAULT_DEV_SECRET,
        read_wait_timeout_seconds=30.0,
    )


async def seed_organisation(stub: directory_pb2_grpc.DirectoryServiceAsyncStub) -> None:
    """The seed teams and people, through the directory's API as each tenant's HR admin."""
    for team in SEED_TEAMS:
        await stub.UpsertTeam(
            directory_pb2.UpsertTeamRequest(
                team_id=team.team_id, name=team.team_id.title(), lead_id=team.lead_id
            ),
            metadata=bearer(SEED_HR[team.tenant_id], ["hr_admin"], team.tenant_id),
        )
    for person in SEED_PEOPLE:
        await stub.UpsertPerson(
            directory_pb2.UpsertPersonRequest(
                person_id=person.person_id,
                name=person.person_id.title(),
                email=f"{person.person_id}@{person.tenant_id}.example",
                team_id=person.team_id,
                manager_id=person.manager_id,
            ),
            metadata=bearer(SEED_HR[person.tenant_id], ["hr_admin"], person.tenant_id),
        )


def holds_seed_organisation(replica: DirectoryReplica) -> bool:
    for team in SEED_TEAMS:
        if replica.team(team.tenant_id, team.team_id) is None:
            return False
    for seed in SEED_PEOPLE:
        person = replica.person(seed.tenant_id, seed.person_id)
        if person is None or (person.team_id, person.manager_id) != (seed.team_id, seed.manager_id):
            return False
    return True


@contextlib.asynccontextmanager
async def started_system(settings: ServiceSettings) -> AsyncIterator[RunningSystem]:
    """Directory, goals and projections serving on `settings`, the seed organisation in place."""
    directory = await start_directory_service(settings, retry=FAST_RETRY)
    goals = await start_goals_service(settings, retry=FAST_RETRY)
    projections = await start_projections_service(
        settings, group_id=f"projections-{uuid.uuid4().hex[:8]}", retry=FAST_RETRY
    )
    directory_channel = grpc.aio.insecure_channel(f"127.0.0.1:{directory.runtime.grpc_port}")
    goals_channel = grpc.aio.insecure_channel(f"127.0.0.1:{goals.runtime.grpc_port}")
    projections_channel = grpc.aio.insecure_channel(f"127.0.0.1:{projections.runtime.grpc_port}")
    system = RunningSystem(
        settings,
        goals,
        projections,
        goals_channel,
        projections_channel,
        directory,
        directory_channel,
    )
    try:
        await seed_organisation(system.directory_stub)
        await eventually(
            lambda: holds_seed_organisation(goals.replica),
            within_seconds=60,
            what="the goals service's directory replica holding the seed organisation",
        )
        yield system
    finally:
        for channel in (directory_channel, goals_channel, projections_channel):
            await channel.close(None)
        await projections.runtime.stop()
        await goals.stop()
        await directory.stop()
        projections.db.close()


@pytest.fixture
async def running_system(
    store_url: str, tmp_path: Path, kafka_bootstrap_servers: str
) -> AsyncIterator[RunningSystem]:
    settings = system_settings(store_url, tmp_path, kafka_bootstrap_servers)
    async with started_system(settings) as system:
        yield system


FAST_RETRY = RetryPolicy(attempts=3, first_backoff_seconds=0.01, max_backoff_seconds=0.05)
