"""Fixtures for tests that run the same case on both stores (SQLite and PostgreSQL), and a
running system (directory + goals + projections services) on real Kafka, with a small
organisation seeded through the directory's gRPC API."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
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


SEED_TENANTS = ("acme", "globex")
Tenants = dict[str, str]
"""The tenant id that stands for each seed tenant ("acme", "globex") in one running system."""
SEED_TENANT_IDS: Tenants = {tenant: tenant for tenant in SEED_TENANTS}


def fresh_tenants() -> Tenants:
    """Tenant ids no other test uses, one per seed tenant ("acme" -> "acme-1a2b3c4d")."""
    suffix = uuid.uuid4().hex[:8]
    return {tenant: f"{tenant}-{suffix}" for tenant in SEED_TENANTS}


@dataclass
class RunningSystem:
    settings: ServiceSettings
    goals: GoalsService
    projections: ProjectionsService
    goals_channel: grpc.aio.Channel
    projections_channel: grpc.aio.Channel
    directory: DirectoryService
    directory_channel: grpc.aio.Channel
    tenants: Tenants = field(default_factory=lambda: dict(SEED_TENANT_IDS))
    """Where the test's seed organisation lives: the seed names themselves on a system of the
    test's own, tenants of the test's own on a system shared by a module."""

    def tenant_id(self, seed_tenant: str = "acme") -> str:
        return self.tenants[seed_tenant]

    def bearer(
        self, subject: str, roles: list[str], seed_tenant: str = "acme"
    ) -> tuple[tuple[str, str]]:
        """A token for `subject` in this test's tenant standing for `seed_tenant`."""
        return bearer(subject, roles, self.tenant_id(seed_tenant))

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


async def seed_organisation(
    stub: directory_pb2_grpc.DirectoryServiceAsyncStub, tenants: Tenants = SEED_TENANT_IDS
) -> None:
    """The seed teams and people, through the directory's API as each tenant's HR admin, in
    the tenants `tenants` gives for the seed ones."""
    for team in SEED_TEAMS:
        tenant_id = tenants[team.tenant_id]
        await stub.UpsertTeam(
            directory_pb2.UpsertTeamRequest(
                team_id=team.team_id, name=team.team_id.title(), lead_id=team.lead_id
            ),
            metadata=bearer(SEED_HR[team.tenant_id], ["hr_admin"], tenant_id),
        )
    for person in SEED_PEOPLE:
        tenant_id = tenants[person.tenant_id]
        await stub.UpsertPerson(
            directory_pb2.UpsertPersonRequest(
                person_id=person.person_id,
                name=person.person_id.title(),
                email=f"{person.person_id}@{person.tenant_id}.example",
                team_id=person.team_id,
                manager_id=person.manager_id,
            ),
            metadata=bearer(SEED_HR[person.tenant_id], ["hr_admin"], tenant_id),
        )


def holds_seed_organisation(replica: DirectoryReplica, tenants: Tenants = SEED_TENANT_IDS) -> bool:
    for team in SEED_TEAMS:
        if replica.team(tenants[team.tenant_id], team.team_id) is None:
            return False
    for seed in SEED_PEOPLE:
        person = replica.person(tenants[seed.tenant_id], seed.person_id)
        if person is None or (person.team_id, person.manager_id) != (seed.team_id, seed.manager_id):
            return False
    return True


async def seeded(system: RunningSystem, tenants: Tenants) -> RunningSystem:
    """`system` for a test whose seed organisation lives in `tenants`, once the goals service's
    directory replica holds it."""
    await seed_organisation(system.directory_stub, tenants)
    await eventually(
        lambda: holds_seed_organisation(system.goals.replica, tenants),
        within_seconds=60,
        what=f"the goals service's directory replica holding the seed organisation in {tenants}",
    )
    return replace(system, tenants=tenants)


@contextlib.asynccontextmanager
async def started_system(
    settings: ServiceSettings, *, seed: bool = True
) -> AsyncIterator[RunningSystem]:
    """Directory, goals and projections serving on `settings`, the seed organisation in place
    (in the seed tenants themselves; none with `seed=False`)."""
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
        yield await seeded(system, SEED_TENANT_IDS) if seed else system
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
    """A system of the test's own: for tests that stop or restart its services, read its
    metrics, or need stores holding nothing but what they did."""
    settings = system_settings(store_url, tmp_path, kafka_bootstrap_servers)
    async with started_system(settings) as system:
        yield system


@pytest.fixture(scope="module", params=STORES)
def module_store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """One store URL per backend, shared by a module's tests (see `tenant_system`)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
    return conninfo_to_url(request.getfixturevalue("module_postgres_database_dsn"))


@pytest.fixture(scope="module")
async def module_system(
    module_store_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    kafka_bootstrap_servers: str,
) -> AsyncIterator[RunningSystem]:
    """One system started for a whole module, with no organisation: each test seeds its own
    in tenants of its own (`tenant_system`)."""
    folder = tmp_path_factory.mktemp("system")
    settings = system_settings(module_store_url, folder, kafka_bootstrap_servers)
    async with started_system(settings, seed=False) as system:
        yield system


@pytest.fixture
async def tenant_system(module_system: RunningSystem) -> RunningSystem:
    """The module's system, for a test of its own tenants: the seed organisation in new tenant
    ids, so the test sees nothing another test did. Tokens come from `system.bearer(...)`."""
    return await seeded(module_system, fresh_tenants())


FAST_RETRY = RetryPolicy(attempts=3, first_backoff_seconds=0.01, max_backoff_seconds=0.05)
