"""Wiring of the directory service: `northstar-directory` or
`python -m services.directory` (settings from NORTHSTAR_*, listed by --help).

One process serves the gRPC API, publishes the directory's events (outbox relay), applies the
inbound HRIS feed, and keeps its own replica of the directory for list queries.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from northstar.directory.v1 import directory_pb2_grpc
from northstar_contracts.hris import hris_inbound_topic
from services.directory.api import SERVICE_FULL_NAME, DirectoryServicer
from services.directory.application import DirectoryApplication
from services.directory.hris import HrisFeed
from services.directory.publishing import directory_envelope
from services.shared.consumer import EventConsumer, RetryPolicy
from services.shared.directory_replica import DirectoryReplica
from services.shared.eventstore import persistence_env
from services.shared.launcher import run_service
from services.shared.metrics import ServiceMetrics
from services.shared.readmodel import ReadModelDatabase
from services.shared.relay import NotificationRelay
from services.shared.runtime import ServiceRuntime, kafka_broker
from services.shared.settings import ServiceSettings

SERVICE = "directory"
SUMMARY = (
    "The directory service: people, teams and reporting lines over gRPC, the inbound HRIS feed "
    "from Kafka; it stores their events and publishes them to Kafka (outbox relay)."
)


def replica_url_for(store_url: str) -> str:
    """SQLite: a file beside the event store (no lock contention); PostgreSQL: same database."""
    parsed = urlparse(store_url)
    if parsed.scheme == "sqlite":
        path = parsed.path
        stem = path[: -len(".db")] if path.endswith(".db") else path
        return f"sqlite://{stem}-replica.db"
    return store_url


@dataclass
class DirectoryService:
    runtime: ServiceRuntime
    app: DirectoryApplication
    replica: DirectoryReplica
    relay: NotificationRelay
    hris: HrisFeed

    async def stop(self) -> None:
        await self.runtime.stop()
        self.replica.db.close()


async def start_directory_service(
    settings: ServiceSettings, *, retry: RetryPolicy | None = None
) -> DirectoryService:
    metrics = ServiceMetrics(SERVICE)
    store_url = settings.store_url_for(SERVICE)
    replica = DirectoryReplica(
        ReadModelDatabase(replica_url_for(store_url), schema="directory_replica")
    )
    app = DirectoryApplication(
        env=persistence_env(SERVICE, store_url), metrics=metrics, replica=replica
    )
    app.request_retention = settings.request_retention
    directory_topic = settings.topic_for(SERVICE)
    relay = NotificationRelay(
        name="directory-relay",
        app=app,
        topic=directory_topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        to_envelope=directory_envelope,
        metrics=metrics,
    )
    broker = kafka_broker(settings.kafka_bootstrap_servers, client_id="northstar-directory")
    hris = HrisFeed(
        broker=broker,
        app=app,
        metrics=metrics,
        on_saved=relay.wake,
        topic=hris_inbound_topic(settings.topic_namespace),
        group_id=f"{settings.topic_namespace}-directory-hris",
        retry=retry,
    )
    EventConsumer(
        broker=broker,
        name="directory-replica",
        topics=[directory_topic],
        group_id=f"{settings.topic_namespace}-directory-replica",
        apply=replica.apply,
        metrics=metrics,
        retry=retry,
    )
    runtime = ServiceRuntime(SERVICE, settings, metrics)
    runtime.relays.append(relay)
    runtime.brokers.append(broker)
    servicer = DirectoryServicer(app, on_saved=relay.wake)
    await runtime.start(
        [(directory_pb2_grpc.add_DirectoryServiceServicer_to_server, servicer)],
        [SERVICE_FULL_NAME],
    )
    return DirectoryService(runtime=runtime, app=app, replica=replica, relay=relay, hris=hris)


async def serve(settings: ServiceSettings) -> None:
    """Runs the service until SIGTERM or SIGINT, then stops it cleanly."""
    service = await start_directory_service(settings)
    await service.runtime.run_until_signalled()
    service.replica.db.close()


def cli(argv: Sequence[str] | None = None) -> int:
    """`northstar-directory`: see --help for the settings."""
    return run_service(SERVICE, SUMMARY, serve, argv)


if __name__ == "__main__":
    sys.exit(cli())
