"""Wiring of the KPI service: `northstar-kpi` or `python -m services.kpi` (settings from
NORTHSTAR_*, listed by --help).

One process serves the gRPC API, publishes the KPI events (outbox relay), applies the inbound
measurement feed, keeps its own directory replica and KPI index, and runs the periodic
overdue check.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from northstar.kpi.v1 import kpi_pb2_grpc
from northstar_contracts.kpi import measurements_inbound_topic
from services.kpi.api import SERVICE_FULL_NAME, KpiServicer
from services.kpi.application import Clock, KpiApplication
from services.kpi.feed import MeasurementFeed
from services.kpi.index import KpiIndex, sibling_store_url
from services.kpi.policies import CHECK_EVERY_SECONDS, OverdueCheck
from services.kpi.publishing import kpi_envelope
from services.shared.canonical import utc_now
from services.shared.consumer import EventConsumer, RetryPolicy
from services.shared.directory_replica import DirectoryReplica
from services.shared.eventstore import persistence_env
from services.shared.launcher import run_service
from services.shared.metrics import ServiceMetrics
from services.shared.readmodel import ReadModelDatabase
from services.shared.relay import NotificationRelay
from services.shared.runtime import ServiceRuntime, kafka_broker
from services.shared.settings import ServiceSettings

SERVICE = "kpi"
SUMMARY = (
    "The KPI service: KPIs, their measurements, corrections and NPS surveys over gRPC, the "
    "inbound measurement feed from Kafka; it stores their events and publishes them to Kafka "
    "(outbox relay)."
)


@dataclass
class KpiService:
    runtime: ServiceRuntime
    app: KpiApplication
    index: KpiIndex
    replica: DirectoryReplica
    relay: NotificationRelay
    feed: MeasurementFeed
    overdue: OverdueCheck

    async def stop(self) -> None:
        await self.overdue.stop()
        await self.runtime.stop()
        self.replica.db.close()
        self.index.db.close()


async def start_kpi_service(
    settings: ServiceSettings,
    *,
    retry: RetryPolicy | None = None,
    clock: Clock = utc_now,
    overdue_check_seconds: float = CHECK_EVERY_SECONDS,
) -> KpiService:
    metrics = ServiceMetrics(SERVICE)
    store_url = settings.store_url_for(SERVICE)
    replica = DirectoryReplica(
        ReadModelDatabase(sibling_store_url(store_url, "directory"), schema="kpi_directory")
    )
    app = KpiApplication(env=persistence_env(SERVICE, store_url), directory=replica, clock=clock)
    app.request_retention = settings.request_retention
    index = KpiIndex(
        app, ReadModelDatabase(sibling_store_url(store_url, "index"), schema="kpi_index")
    )
    index.catch_up()
    relay = NotificationRelay(
        name="kpi-relay",
        app=app,
        topic=settings.topic_for(SERVICE),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        to_envelope=kpi_envelope,
        metrics=metrics,
    )

    def after_save(aggregate_type: str, appended: int) -> None:
        metrics.events_appended_total.labels(aggregate_type=aggregate_type).inc(appended)
        index.catch_up()
        relay.wake()  # thread-safe: saves run in worker threads

    app.after_save.append(after_save)
    broker = kafka_broker(settings.kafka_bootstrap_servers, client_id="northstar-kpi")
    EventConsumer(
        broker=broker,
        name="kpi-directory-replica",
        topics=[settings.topic_for("directory")],
        group_id=f"{settings.topic_namespace}-kpi-directory",
        apply=replica.apply,
        metrics=metrics,
        retry=retry,
    )
    feed = MeasurementFeed(
        broker=broker,
        app=app,
        metrics=metrics,
        topic=measurements_inbound_topic(settings.topic_namespace),
        group_id=f"{settings.topic_namespace}-kpi-measurements",
        retry=retry,
    )
    runtime = ServiceRuntime(SERVICE, settings, metrics)
    runtime.relays.append(relay)
    runtime.brokers.append(broker)
    await runtime.start(
        [(kpi_pb2_grpc.add_KpiServiceServicer_to_server, KpiServicer(app, index))],
        [SERVICE_FULL_NAME],
    )
    overdue = OverdueCheck(app, index, interval_seconds=overdue_check_seconds)
    overdue.start()
    return KpiService(runtime, app, index, replica, relay, feed, overdue)


async def serve(settings: ServiceSettings) -> None:
    """Runs the service until SIGTERM or SIGINT, then stops it cleanly."""
    service = await start_kpi_service(settings)
    await service.runtime.run_until_signalled()
    await service.overdue.stop()
    service.replica.db.close()
    service.index.db.close()


def cli(argv: Sequence[str] | None = None) -> int:
    """`northstar-kpi`: see --help for the settings."""
    return run_service(SERVICE, SUMMARY, serve, argv)


if __name__ == "__main__":
    sys.exit(cli())
