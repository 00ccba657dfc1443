"""Fixtures of the fault suite: an in-process system (directory, goals, projections) on a given
Kafka, seeded with the small organisation of the integration tests, and raw event publishing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from aiokafka import AIOKafkaProducer

from northstar.directory.v1 import directory_pb2_grpc
from northstar_contracts.envelope import EventEnvelope
from services.directory.__main__ import DirectoryService, start_directory_service
from services.goals.__main__ import GoalsService, start_goals_service
from services.projections.__main__ import ProjectionsService, start_projections_service
from services.shared.auth import DEFAULT_DEV_SECRET
from services.shared.sequencing import HoldLimits
from services.shared.settings import ServiceSettings
from tests.fault.harness import REPORTS
from tests.integration.conftest import FAST_RETRY, holds_seed_organisation, seed_organisation
from tests.waiting import eventually


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures of every fault test that ran, whether or not output was captured."""
    if REPORTS:
        terminalreporter.section("fault suite: what was killed, what was checked, figures")
        for line in REPORTS:
            terminalreporter.write_line(line)


@dataclass
class InProcess:
    settings: ServiceSettings
    directory: DirectoryService
    goals: GoalsService | None
    projections: ProjectionsService | None

    @property
    def goals_address(self) -> str:
        assert self.goals is not None
        return f"127.0.0.1:{self.goals.runtime.grpc_port}"


def fault_settings(kafka: str, namespace: str, data_dir: Path) -> ServiceSettings:
    return ServiceSettings(
        data_dir=data_dir,
        kafka_bootstrap_servers=kafka,
        topic_namespace=namespace,
        jwt_dev_secret=DEFAULT_DEV_SECRET,
        read_wait_timeout_seconds=30.0,
    )


@asynccontextmanager
async def in_process_system(
    settings: ServiceSettings,
    *,
    goals: bool = True,
    projections: bool = True,
    hold_limits: HoldLimits | None = None,
) -> AsyncIterator[InProcess]:
    directory = await start_directory_service(settings, retry=FAST_RETRY)
    goals_service = await start_goals_service(settings, retry=FAST_RETRY) if goals else None
    projections_service = (
        await start_projections_service(
            settings,
            group_id=f"{settings.topic_namespace}-projections",
            retry=FAST_RETRY,
            hold_limits=hold_limits,
        )
        if projections
        else None
    )
    system = InProcess(settings, directory, goals_service, projections_service)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{directory.runtime.grpc_port}") as channel:
            await seed_organisation(directory_pb2_grpc.DirectoryServiceStub(channel))
        if goals_service is not None:
            await eventually(
                lambda: holds_seed_organisation(goals_service.replica),
                within_seconds=60,
                what="the goals service's replica holding the seed organisation",
            )
        yield system
    finally:
        if projections_service is not None:
            await projections_service.runtime.stop()
            projections_service.db.close()
        if goals_service is not None:
            await goals_service.stop()
        await directory.stop()


async def publish_raw(kafka: str, topic: str, records: Sequence[tuple[bytes, bytes]]) -> None:
    """(key, body) records, in order, acknowledged by every in-sync replica."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for key, body in records:
            await producer.send(topic, body, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def as_records(envelopes: Sequence[EventEnvelope]) -> list[tuple[bytes, bytes]]:
    return [(e.kafka_key(), e.to_json_bytes()) for e in envelopes]


def new_id() -> str:
    return str(uuid.uuid4())
