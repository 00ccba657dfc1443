"""Wiring of the feedback service: `northstar-feedback` or `python -m services.feedback`
(settings from NORTHSTAR_*, listed by --help).

One process serves the gRPC API, publishes the feedback events (outbox relay), keeps its
directory replica and goal ids from their topics, flags requests of departed people, and runs
the reminder scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlparse

from northstar.feedback.v1 import feedback_pb2_grpc
from services.feedback.api import SERVICE_FULL_NAME, FeedbackServicer
from services.feedback.application import FeedbackApplication
from services.feedback.ballots import BallotBox
from services.feedback.event_clock import Clock
from services.feedback.goal_ids import GoalIds
from services.feedback.index import FeedbackIndex
from services.feedback.policies import DeparturePolicy
from services.feedback.publishing import feedback_envelope
from services.feedback.reminders import ReminderScheduler
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

SERVICE = "feedback"
SUMMARY = (
    "The feedback service: continuous feedback, feedback requests and one-on-ones over gRPC; it "
    "stores their events and publishes them to Kafka (outbox relay)."
)
SCHEDULER_INTERVAL_SECONDS = 60.0


def sibling_store_url(store_url: str, suffix: str) -> str:
    """SQLite: a file beside the event store (no lock contention); PostgreSQL: the same
    database (each user picks its own schema)."""
    parsed = urlparse(store_url)
    if parsed.scheme == "sqlite":
        stem = parsed.path[: -len(".db")] if parsed.path.endswith(".db") else parsed.path
        return f"sqlite://{stem}-{suffix}.db"
    return store_url


@dataclass
class FeedbackService:
    runtime: ServiceRuntime
    app: FeedbackApplication
    index: FeedbackIndex
    relay: NotificationRelay
    replica: DirectoryReplica
    goal_ids: GoalIds
    scheduler: ReminderScheduler
    databases: list[ReadModelDatabase] = field(default_factory=list)
    _scheduling: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        await self.stop_scheduler()
        await self.runtime.stop()
        self.close_databases()

    async def stop_scheduler(self) -> None:
        if self._scheduling is not None:
            self._scheduling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduling

    def close_databases(self) -> None:
        for db in self.databases:
            db.close()


async def start_feedback_service(
    settings: ServiceSettings,
    *,
    retry: RetryPolicy | None = None,
    clock: Clock = utc_now,
    scheduler_interval_seconds: float = SCHEDULER_INTERVAL_SECONDS,
) -> FeedbackService:
    metrics = ServiceMetrics(SERVICE)
    store_url = settings.store_url_for(SERVICE)
    replica_db = ReadModelDatabase(
        sibling_store_url(store_url, "directory"), schema="feedback_directory"
    )
    local_db = ReadModelDatabase(sibling_store_url(store_url, "index"), schema="feedback_index")
    ballots_db = ReadModelDatabase(
        sibling_store_url(store_url, "ballots"), schema="feedback_ballots"
    )
    replica = DirectoryReplica(replica_db)
    goal_ids = GoalIds(local_db)
    app = FeedbackApplication(
        env=persistence_env(SERVICE, store_url),
        directory=replica,
        goal_ids=goal_ids,
        ballots=BallotBox(ballots_db),
        clock=clock,
    )
    app.request_retention = settings.request_retention
    index = FeedbackIndex(app, local_db)
    app.index = index
    index.catch_up()
    relay = NotificationRelay(
        name="feedback-relay",
        app=app,
        topic=settings.topic_for(SERVICE),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        to_envelope=feedback_envelope,
        metrics=metrics,
    )

    def after_save(aggregate_type: str, appended: int) -> None:
        metrics.events_appended_total.labels(aggregate_type=aggregate_type).inc(appended)
        index.catch_up()
        relay.wake()  # thread-safe: saves run in worker threads

    app.after_save.append(after_save)
    broker = kafka_broker(settings.kafka_bootstrap_servers, client_id="northstar-feedback")
    directory_topic = settings.topic_for("directory")
    namespace = settings.topic_namespace
    EventConsumer(
        broker=broker,
        name="feedback-directory-replica",
        topics=[directory_topic],
        group_id=f"{namespace}-feedback-directory",
        apply=replica.apply,
        metrics=metrics,
        retry=retry,
    )
    EventConsumer(
        broker=broker,
        name="feedback-departure-policy",
        topics=[directory_topic],
        group_id=f"{namespace}-feedback-departures",
        apply=DeparturePolicy(app, index).apply,
        metrics=metrics,
        retry=retry,
    )
    EventConsumer(
        broker=broker,
        name="feedback-goal-ids",
        topics=[settings.topic_for("goals")],
        group_id=f"{namespace}-feedback-goal-ids",
        apply=goal_ids.apply,
        metrics=metrics,
        retry=retry,
    )
    runtime = ServiceRuntime(SERVICE, settings, metrics)
    runtime.relays.append(relay)
    runtime.brokers.append(broker)
    await runtime.start(
        [(feedback_pb2_grpc.add_FeedbackServiceServicer_to_server, FeedbackServicer(app))],
        [SERVICE_FULL_NAME],
    )
    scheduler = ReminderScheduler(app, index, scheduler_interval_seconds)
    service = FeedbackService(
        runtime,
        app,
        index,
        relay,
        replica,
        goal_ids,
        scheduler,
        [replica_db, local_db, ballots_db],
    )
    service._scheduling = asyncio.create_task(scheduler.run(asyncio.Event()))
    return service


async def serve(settings: ServiceSettings) -> None:
    """Runs the service until SIGTERM or SIGINT, then stops it cleanly."""
    service = await start_feedback_service(settings)
    await service.runtime.run_until_signalled()
    await service.stop_scheduler()
    service.close_databases()


def cli(argv: Sequence[str] | None = None) -> int:
    """`northstar-feedback`: see --help for the settings."""
    return run_service(SERVICE, SUMMARY, serve, argv)


if __name__ == "__main__":
    sys.exit(cli())
