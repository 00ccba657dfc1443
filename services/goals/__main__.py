"""Wiring of the goals service: `python -m services.goals` (settings from NORTHSTAR_*)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification

from northstar.goals.v1 import goals_pb2_grpc
from services.goals.api import GoalServicer
from services.goals.application import GoalsApplication
from services.goals.authorization import NoReportingLines
from services.goals.contracts import CONTRACT_SCHEMA_VERSION, contract_data
from services.goals.domain import Goal
from services.goals.index import GoalIndex, index_url_for
from services.shared.envelope import EventEnvelope
from services.shared.eventstore import persistence_env
from services.shared.metrics import ServiceMetrics
from services.shared.readmodel import ReadModelDatabase
from services.shared.relay import NotificationRelay, envelope_for
from services.shared.runtime import ServiceRuntime, configure_logging
from services.shared.settings import ServiceSettings

SERVICE = "goals"
GRPC_SERVICE_NAME = "northstar.goals.v1.GoalService"


def goal_envelope(event: DomainEventProtocol[Any], notification: Notification) -> EventEnvelope:
    if not isinstance(event, Goal.Event):
        raise TypeError(f"unexpected event {type(event).__qualname__} in the goals log")
    type_name, data = contract_data(event)
    return envelope_for(
        event,
        notification,
        source="northstar/goals",
        aggregate_type="Goal",
        type_name=type_name,
        schema_version=CONTRACT_SCHEMA_VERSION,
        data=data,
    )


@dataclass
class GoalsService:
    runtime: ServiceRuntime
    app: GoalsApplication
    index: GoalIndex
    relay: NotificationRelay


async def start_goals_service(settings: ServiceSettings) -> GoalsService:
    metrics = ServiceMetrics(SERVICE)
    store_url = settings.store_url_for(SERVICE)
    app = GoalsApplication(env=persistence_env(SERVICE, store_url))
    index = GoalIndex(app, ReadModelDatabase(index_url_for(store_url), schema="goals_index"))
    index.catch_up()
    relay = NotificationRelay(
        name="goals-relay",
        app=app,
        topic=settings.topic_for(SERVICE),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        to_envelope=goal_envelope,
        metrics=metrics,
    )

    def after_save(appended: int) -> None:
        metrics.events_appended_total.labels(aggregate_type="Goal").inc(appended)
        index.catch_up()
        relay.wake()

    app.after_save.append(after_save)
    runtime = ServiceRuntime(SERVICE, settings, metrics)
    runtime.relays.append(relay)
    servicer = GoalServicer(app, index, NoReportingLines())
    await runtime.start(
        [(goals_pb2_grpc.add_GoalServiceServicer_to_server, servicer)], [GRPC_SERVICE_NAME]
    )
    return GoalsService(runtime=runtime, app=app, index=index, relay=relay)


async def main() -> None:
    configure_logging()
    service = await start_goals_service(ServiceSettings())
    await service.runtime.run_until_signalled()


if __name__ == "__main__":
    asyncio.run(main())
