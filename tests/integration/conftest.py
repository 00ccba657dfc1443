"""Fixtures for tests that run the same case on both stores (SQLite and PostgreSQL), and a
running system (goals + projections services) on real Kafka."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import grpc
import pytest
from psycopg.conninfo import conninfo_to_dict

from northstar.goals.v1 import goals_pb2_grpc
from northstar.projections.v1 import projections_pb2_grpc
from services.goals.__main__ import GoalsService, start_goals_service
from services.projections.__main__ import ProjectionsService, start_projections_service
from services.shared.auth import DEFAULT_DEV_SECRET, mint_dev_token
from services.shared.consumer import RetryPolicy
from services.shared.settings import ServiceSettings


def conninfo_to_url(conninfo: str) -> str:
    """Our settings take store URLs; the PostgreSQL fixtures give libpq conninfo strings."""
    parts = conninfo_to_dict(conninfo)
    user = quote(str(parts.get("user", "postgres")))
    password = parts.get("password")
    credentials = f"{user}:{quote(str(password))}" if password else user
    host = parts.get("host", "127.0.0.1")
    port = parts.get("port", "5432")
    return f"postgresql://{credentials}@{host}:{port}/{parts['dbname']}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One store URL per backend: each test using it runs once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return conninfo_to_url(request.getfixturevalue("postgres_schema_dsn"))


# ---- a running Northstar (goals + projections) on real Kafka and the chosen store ----


@dataclass
class RunningSystem:
    settings: ServiceSettings
    goals: GoalsService
    projections: ProjectionsService
    goals_channel: grpc.aio.Channel
    projections_channel: grpc.aio.Channel

    @property
    def goals_stub(self) -> goals_pb2_grpc.GoalServiceAsyncStub:
        return goals_pb2_grpc.GoalServiceStub(self.goals_channel)

    @property
    def projections_stub(self) -> projections_pb2_grpc.ProjectionServiceAsyncStub:
        return projections_pb2_grpc.ProjectionServiceStub(self.projections_channel)


def bearer(subject: str, roles: list[str], tenant_id: str = "acme") -> tuple[tuple[str, str]]:
    token = mint_dev_token(DEFAULT_DEV_SECRET, subject=subject, tenant_id=tenant_id, roles=roles)
    return (("authorization", f"Bearer {token}"),)


def system_settings(store_url: str, tmp_path: Path, kafka: str) -> ServiceSettings:
    return ServiceSettings(
        data_dir=tmp_path / "data",
        store_url="" if store_url.startswith("sqlite") else store_url,
        kafka_bootstrap_servers=kafka,
        topic_namespace=f"test{uuid.uuid4().hex[:12]}",
        jwt_dev_secret=DEFAULT_DEV_SECRET,
        read_wait_timeout_seconds=30.0,
    )


@pytest.fixture
async def running_system(
    store_url: str, tmp_path: Path, kafka_bootstrap_servers: str
) -> AsyncIterator[RunningSystem]:
    settings = system_settings(store_url, tmp_path, kafka_bootstrap_servers)
    goals = await start_goals_service(settings)
    projections = await start_projections_service(
        settings, group_id=f"projections-{uuid.uuid4().hex[:8]}", retry=FAST_RETRY
    )
    goals_channel = grpc.aio.insecure_channel(f"127.0.0.1:{goals.runtime.grpc_port}")
    projections_channel = grpc.aio.insecure_channel(f"127.0.0.1:{projections.runtime.grpc_port}")
    try:
        yield RunningSystem(settings, goals, projections, goals_channel, projections_channel)
    finally:
        await goals_channel.close(None)
        await projections_channel.close(None)
        await projections.runtime.stop()
        await goals.runtime.stop()
        projections.db.close()


FAST_RETRY = RetryPolicy(attempts=3, first_backoff_seconds=0.01, max_backoff_seconds=0.05)
