"""Wiring of the projections service: `python -m services.projections` (NORTHSTAR_* settings)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from faststream.kafka import KafkaBroker

from northstar.projections.v1 import projections_pb2_grpc
from services.projections.api import ProjectionServicer
from services.projections.goals_projection import GoalsProjection
from services.shared.consumer import EventConsumer, RetryPolicy
from services.shared.metrics import ServiceMetrics
from services.shared.readmodel import ReadModelDatabase
from services.shared.runtime import ServiceRuntime, configure_logging
from services.shared.settings import ServiceSettings

SERVICE = "projections"
GRPC_SERVICE_NAME = "northstar.projections.v1.ProjectionService"


@dataclass
class ProjectionsService:
    runtime: ServiceRuntime
    db: ReadModelDatabase
    goals: GoalsProjection
    goals_consumer: EventConsumer


async def start_projections_service(
    settings: ServiceSettings,
    *,
    group_id: str = "northstar-projections",
    retry: RetryPolicy | None = None,
) -> ProjectionsService:
    metrics = ServiceMetrics(SERVICE)
    db = ReadModelDatabase(settings.store_url_for(SERVICE), schema="projections")
    goals = GoalsProjection(db)
    broker = KafkaBroker(settings.kafka_bootstrap_servers, client_id="northstar-projections")
    consumer = EventConsumer(
        broker=broker,
        name=goals.name,
        topics=[settings.topic_for("goals")],
        group_id=group_id,
        apply=goals.apply,
        metrics=metrics,
        retry=retry,
    )
    runtime = ServiceRuntime(SERVICE, settings, metrics)
    runtime.brokers.append(broker)
    servicer = ProjectionServicer(
        db, lambda: goals.name, wait_timeout_seconds=settings.read_wait_timeout_seconds
    )
    await runtime.start(
        [(projections_pb2_grpc.add_ProjectionServiceServicer_to_server, servicer)],
        [GRPC_SERVICE_NAME],
    )
    return ProjectionsService(runtime=runtime, db=db, goals=goals, goals_consumer=consumer)


async def main() -> None:
    configure_logging()
    service = await start_projections_service(ServiceSettings())
    await service.runtime.run_until_signalled()


if __name__ == "__main__":
    asyncio.run(main())
