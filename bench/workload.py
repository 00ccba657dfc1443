"""What the benchmarks work on: goal histories stored through the goals application, service
settings on a throw-away folder, Kafka topics made ahead of time, and dev tokens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import quote
from uuid import UUID

import psycopg
import psycopg.sql
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from devstack.infra import postgres_endpoint
from northstar_contracts.directory import (
    SOURCE,
    TYPE_PREFIX,
    PersonRegisteredV1,
    TeamRegisteredV1,
)
from northstar_contracts.envelope import EventEnvelope, envelope_id
from services.goals.application import GoalsApplication
from services.goals.goal import Goal
from services.goals.metrics import Metric
from services.shared.auth import DEFAULT_DEV_SECRET, EMPLOYEE, mint_dev_token
from services.shared.canonical import utc_now
from services.shared.directory_replica import DirectoryReplica
from services.shared.eventstore import CommandContext, command_context, persistence_env
from services.shared.settings import ServiceSettings

TENANT = "acme"
OWNER = "owner-1"
TEAM = "team-a"
CHECK_INS_PER_GOAL = 8
# Created + Activated + the check-ins: a goal's share of the event log.
EVENTS_PER_GOAL = 2 + CHECK_INS_PER_GOAL
TOPIC_PARTITIONS = 3
SAVE_BATCH = 500
WARM_UP_DEADLINE_SECONDS = 60.0


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does; `--quick` shrinks every figure."""

    events: int
    relay_repeats: int
    projection_repeats: int
    grpc_calls: int
    grpc_warm_up: int
    history_check_ins: int
    history_loads: int
    rebuild_events: int = 1_000_000
    e2e_seconds: float = 10.0
    tree_goals: int = 10_000
    tree_queries: int = 200
    apply_cost_goals: tuple[int, ...] = (100, 1_000, 10_000)
    apply_cost_events: int = 2_000

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            events=5_000,
            relay_repeats=5,
            projection_repeats=3,
            grpc_calls=500,
            grpc_warm_up=50,
            history_check_ins=10_000,
            history_loads=20,
        )

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            events=1_000,
            relay_repeats=2,
            projection_repeats=1,
            grpc_calls=100,
            grpc_warm_up=20,
            history_check_ins=2_000,
            history_loads=5,
            rebuild_events=20_000,
            e2e_seconds=3.0,
            tree_goals=2_000,
            tree_queries=50,
            apply_cost_goals=(100, 300, 1_000),
            apply_cost_events=500,
        )


@dataclass
class BenchEnvironment:
    """Shared by the benchmarks of one run: sizes, a scratch folder, the broker (if started)."""

    sizes: Sizes
    scratch: Path
    kafka_bootstrap_servers: str = ""
    # Topic namespaces already holding the whole seeded event log, ready to be consumed.
    published_namespaces: list[str] = field(default_factory=list)
    _event_log: GoalsApplication | None = None
    _postgres_event_log: GoalsApplication | None = None
    _postgres_dsn: str = ""
    _resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def new_postgres_url(self) -> str:
        """The store URL of a new, empty PostgreSQL database (the server started on first use,
        as the tests choose one: given in the environment, a container, or a local initdb)."""
        if not self._postgres_dsn:
            endpoint = self._resources.enter_context(postgres_endpoint(announce=_to_stderr))
            self._postgres_dsn = endpoint.dsn
        name = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self._postgres_dsn, autocommit=True) as admin:
            admin.execute(
                psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name))
            )
        parts = conninfo_to_dict(make_conninfo(self._postgres_dsn, dbname=name))
        user = quote(str(parts.get("user", "postgres")))
        password = parts.get("password")
        credentials = f"{user}:{quote(str(password))}" if password else user
        host, port = parts.get("host", "127.0.0.1"), parts.get("port", "5432")
        return f"postgresql://{credentials}@{host}:{port}/{name}"

    def require_kafka(self) -> str:
        if not self.kafka_bootstrap_servers:
            raise RuntimeError("this benchmark needs the Kafka broker, which was not started")
        return self.kafka_bootstrap_servers

    def event_log(self) -> GoalsApplication:
        """The goals store holding `sizes.events` events, seeded on first use."""
        if self._event_log is None:
            self._event_log = goals_application(self.scratch / "event-log" / "goals.db")
            seed_goal_events(self._event_log, self.sizes.events)
        return self._event_log

    def postgres_event_log(self) -> GoalsApplication:
        """`event_log`'s events, stored on PostgreSQL (seeded on first use)."""
        if self._postgres_event_log is None:
            url = self.new_postgres_url()
            self._postgres_event_log = GoalsApplication(env=persistence_env("goals", url))
            seed_goal_events(self._postgres_event_log, self.sizes.events)
        return self._postgres_event_log

    def close(self) -> None:
        for app in (self._event_log, self._postgres_event_log):
            if app is not None:
                app.close()
        self._event_log = self._postgres_event_log = None
        self._resources.close()

    def settings(self, namespace: str, folder: str, store_url: str = "") -> ServiceSettings:
        """Service settings on a folder of their own (or `store_url`), reading and writing
        `namespace` topics."""
        return ServiceSettings(
            data_dir=self.scratch / folder,
            store_url=store_url,
            kafka_bootstrap_servers=self.require_kafka(),
            topic_namespace=namespace,
            jwt_dev_secret=DEFAULT_DEV_SECRET,
        )


def new_namespace(label: str) -> str:
    return f"bench{label}{uuid.uuid4().hex[:8]}"


def goals_application(path: Path) -> GoalsApplication:
    return GoalsApplication(env=persistence_env("goals", f"sqlite:///{path}"))


def new_goal(title: str) -> Goal:
    """An active goal with a numeric metric, as a person would set one for themselves."""
    goal = Goal.create(
        tenant_id=TENANT,
        title=title,
        description="Benchmark goal with a measurable target",
        owner_id=OWNER,
        team_id=TEAM,
        level="personal",
        start_date=date(2026, 1, 1),
        due_date=date(2026, 12, 31),
        metric=Metric("number", "increase", 0.0, 100.0, unit="deals"),
        parent_goal_id=None,
        visibility="public",
        created_by=OWNER,
    )
    goal.activate(OWNER)
    return goal


def check_in(goal: Goal, step: int) -> None:
    goal.check_in(float(step % 100), 0.7, f"week {step}", OWNER)


def seed_goal_events(app: GoalsApplication, events: int) -> None:
    """Stores exactly `events` goal events: goals of EVENTS_PER_GOAL events each."""
    if events <= 0 or events % EVENTS_PER_GOAL:
        raise ValueError(f"the event count must be a positive multiple of {EVENTS_PER_GOAL}")
    context = CommandContext.new(TENANT, OWNER)
    goals_per_save = max(SAVE_BATCH // EVENTS_PER_GOAL, 1)
    pending: list[Goal] = []
    for number in range(events // EVENTS_PER_GOAL):
        goal = new_goal(f"Close {number} deals this year")
        for step in range(CHECK_INS_PER_GOAL):
            check_in(goal, step)
        pending.append(goal)
        if len(pending) == goals_per_save:
            _save(app, context, pending)
            pending = []
    _save(app, context, pending)
    stored = app.recorder.max_notification_id() or 0
    if stored != events:
        raise RuntimeError(f"seeding stored {stored} events, not {events}")


def seed_long_history(app: GoalsApplication, check_ins: int) -> UUID:
    """One goal with `check_ins` check-ins, saved SAVE_BATCH events at a time."""
    context = CommandContext.new(TENANT, OWNER)
    goal = new_goal("Call every customer once a quarter")
    for step in range(check_ins):
        check_in(goal, step)
        if (step + 1) % SAVE_BATCH == 0:
            _save(app, context, [goal])
    _save(app, context, [goal])
    return goal.id


def _save(app: GoalsApplication, context: CommandContext, goals: list[Goal]) -> None:
    if goals:
        with command_context(context):
            app.save(*goals)


async def create_topics(bootstrap_servers: str, names: list[str]) -> None:
    """Made ahead, and ready to take writes, so that no timed figure includes topic creation
    or leader election."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(name, num_partitions=TOPIC_PARTITIONS, replication_factor=1)
                for name in names
            ]
        )
    finally:
        await admin.close()
    # Listing offsets is answered only by a partition's leader, and aiokafka retries until then.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        await consumer.end_offsets(
            [
                TopicPartition(name, partition)
                for name in names
                for partition in range(TOPIC_PARTITIONS)
            ]
        )
    finally:
        await consumer.stop()


async def warm_up_broker(bootstrap_servers: str) -> None:
    """The first consumer group makes the broker create its offsets topic: done once, untimed."""
    # Until that topic exists aiokafka logs the coordinator as unavailable: expected, so hushed.
    client_logger = logging.getLogger("aiokafka")
    level = client_logger.level
    client_logger.setLevel(logging.CRITICAL)
    try:
        await _join_first_group(bootstrap_servers)
    finally:
        client_logger.setLevel(level)


async def _join_first_group(bootstrap_servers: str) -> None:
    topic = f"{new_namespace('warmup')}.goals.v1"
    await create_topics(bootstrap_servers, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"warm-up", key=b"warm-up")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(WARM_UP_DEADLINE_SECONDS):
            while not await consumer.getmany(timeout_ms=100):
                pass
        await consumer.commit()
    finally:
        await consumer.stop()


def register_owner(replica: DirectoryReplica) -> None:
    """Puts the benchmark's team and goal owner into a service's directory replica, through the
    directory's public events, as if the directory service had published them."""
    team = TeamRegisteredV1(
        tenant_id=TENANT,
        team_id=TEAM,
        name="Team A",
        parent_team_id="",
        lead_id="",
        effective_at=utc_now(),
    )
    owner = PersonRegisteredV1(
        tenant_id=TENANT,
        person_id=OWNER,
        name="Owner One",
        email=f"{OWNER}@{TENANT}.example",
        title="",
        team_id=TEAM,
        manager_id="",
        employment_status="active",
        start_date=None,
        leave_date=None,
        effective_at=utc_now(),
    )
    for sequence, (aggregate_type, key, contract) in enumerate(
        (("Team", TEAM, team), ("Person", OWNER, owner)), start=1
    ):
        aggregate_id = str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"northstar-bench:{aggregate_type}:{key}")
        )
        replica.apply_envelope(
            EventEnvelope(
                id=envelope_id(aggregate_id, 1),
                type=f"{TYPE_PREFIX}{type(contract).__name__.removesuffix('V1')}",
                schema_version=1,
                source=SOURCE,
                tenant_id=TENANT,
                aggregate_type=aggregate_type,
                aggregate_id=aggregate_id,
                aggregate_version=1,
                sequence=sequence,
                occurred_at=utc_now(),
                actor_id="northstar-bench",
                data=contract.model_dump(mode="json"),
            )
        )


def bearer_metadata(subject: str = OWNER) -> tuple[tuple[str, str]]:
    token = mint_dev_token(DEFAULT_DEV_SECRET, subject=subject, tenant_id=TENANT, roles=[EMPLOYEE])
    return (("authorization", f"Bearer {token}"),)


@contextlib.contextmanager
def service_banners_to_stderr() -> Iterator[None]:
    """Services print their endpoints on start; stdout is kept for the results table."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
