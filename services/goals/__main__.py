"""Wiring of the goals service: `northstar-goals` or
`python -m services.goals` (settings from NORTHSTAR_*, listed by --help)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from northstar.goals.v1 import goals_pb2_grpc
from services.goals.api import GoalServicer
from services.goals.application import GoalsApplication
from services.goals.index import GoalIndex, index_url_for, sibling_store_url
from services.goals.policies import DeparturePolicy, KpiPolicy
from services.goals.publishing import goal_envelope
from services.shared.consumer import EventConsumer, RetryPolicy
from services.shared.directory_replica import DirectoryReplica
from services.shared.eventstore import persistence_env
from services.shared.launcher import run_service
from services.shared.metrics import ServiceMetrics
from services.shared.readmodel import ReadModelDatabase
from services.shared.relay import NotificationRelay
from services.shared.runtime import ServiceRuntime, kafka_broker
from services.shared.settings import ServiceSettings

SERVICE = "goals"
SUMMARY = (
    "The goals service: SMART goals, key results, alignment, check-ins and progress over gRPC; it "
    "stores their events and publishes them to Kafka (outbox relay)."
)
GRPC_SERVICE_NAME = "northstar.goals.v1.GoalService"


@dataclass
class GoalsService:
    runtime: ServiceRuntime
    app: GoalsApplication
    index: GoalIndex
    relay: NotificationRelay
    replica: DirectoryReplica
    kpi_policy: KpiPolicy

    async def stop(self) -> None:
        await self.runtime.stop()
        self.index.stop_following()
        self.replica.db.close()
        self.index.db.close()
        self.kpi_policy.ledger.db.close()


def replica_url_for(store_url: str) -> str:
    """The goals service's own directory replica: beside its store (own schema on PostgreSQL)."""
    return sibling_store_url(store_url, "directory")


def kpi_store_url_for(store_url: str) -> str:
    """The KPI policy's store (known KPIs, its ledger): beside the event store, apart from the
    index, which every save writes while the policy's transaction is open."""
    return sibling_store_url(store_url, "kpi")


async def start_goals_service(
    settings: ServiceSettings, *, retry: RetryPolicy | None = None
) -> GoalsService:
    metrics = ServiceMetrics(SERVICE)
    store_url = settings.store_url_for(SERVICE)
    replica = DirectoryReplica(
        ReadModelDatabase(replica_url_for(store_url), schema="goals_directory")
    )
    app = GoalsApplication(env=persistence_env(SERVICE, store_url), directory=replica)
    app.request_retention = settings.request_retention
    # Saves write the index themselves; following the log from its position makes good what
    # a crash (or a failed write) left out, here before serving and then in the background.
    index = GoalIndex(app, ReadModelDatabase(index_url_for(store_url), schema="goals_index"))
    index.catch_up()
    index.start_following()
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
        relay.wake()  # thread-safe: saves run in worker threads

    app.after_save.append(after_save)
    # Directory events feed the replica (permissions, owners, teams) and the departure policy;
    # each has its own consumer group, so each keeps its own position.
    broker = kafka_broker(settings.kafka_bootstrap_servers, client_id="northstar-goals")
    directory_topic = settings.topic_for("directory")
    EventConsumer(
        broker=broker,
        name="goals-directory-replica",
        topics=[directory_topic],
        group_id=f"{settings.topic_namespace}-goals-directory",
        apply=replica.apply,
        metrics=metrics,
        retry=retry,
    )
    # KPI events: in order per KPI through the sequencing ledger, positions in its own store.
    kpi_policy = KpiPolicy(
        app, index, ReadModelDatabase(kpi_store_url_for(store_url), schema="goals_kpi")
    )
    app.kpi_catalogue = kpi_policy.known
    EventConsumer(
        broker=broker,
        name="goals-kpi-policy",
        topics=[settings.topic_for("kpi")],
        group_id=f"{settings.topic_namespace}-goals-kpi-policy",
        apply=kpi_policy.apply,
        metrics=metrics,
        retry=retry,
        ledger=kpi_policy.ledger,
    )
    EventConsumer(
        broker=broker,
        name="goals-departure-policy",
        topics=[directory_topic],
        group_id=f"{settings.topic_namespace}-goals-departures",
        apply=DeparturePolicy(app, index).apply,
        metrics=metrics,
        retry=retry,
    )
    runtime = ServiceRuntime(SERVICE, settings, metrics)
    runtime.relays.append(relay)
    runtime.brokers.append(broker)
    servicer = GoalServicer(app, index)
    await runtime.start(
        [(goals_pb2_grpc.add_GoalServiceServicer_to_server, servicer)], [GRPC_SERVICE_NAME]
    )
    return GoalsService(
        runtime=runtime,
        app=app,
        index=index,
        relay=relay,
        replica=replica,
        kpi_policy=kpi_policy,
    )


async def serve(settings: ServiceSettings) -> None:
    """Runs the service until SIGTERM or SIGINT, then stops it cleanly."""
    service = await start_goals_service(settings)
    await service.runtime.run_until_signalled()
    service.index.stop_following()
    service.replica.db.close()
    service.index.db.close()
    service.kpi_policy.ledger.db.close()


def cli(argv: Sequence[str] | None = None) -> int:
    """`northstar-goals`: see --help for the settings."""
    return run_service(SERVICE, SUMMARY, serve, argv)


if __name__ == "__main__":
    sys.exit(cli())
