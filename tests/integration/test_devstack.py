"""The local infrastructure is the real thing: Kafka delivers and keeps messages across a
restart, PostgreSQL commits and rolls back, and the infrastructure choice honours the environment.
"""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from psycopg.conninfo import conninfo_to_dict

from devstack import infra
from devstack.kafka import (
    KafkaUnavailableError,
    LocalKafka,
    free_loopback_port,
    kafka_version,
    pom_kafka_version,
)

DELIVERY_DEADLINE_SECONDS = 30.0


async def produce(bootstrap_servers: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def consume(bootstrap_servers: str, topic: str, count: int) -> list[tuple[bytes, bytes]]:
    """Read `count` messages from the start of `topic`, failing past the deadline."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=f"test-{uuid.uuid4().hex[:12]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[tuple[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + DELIVERY_DEADLINE_SECONDS
        while len(received) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                received.extend((record.key, record.value) for record in records)
    finally:
        await consumer.stop()
    return received


def accepts_connections(bootstrap_servers: str) -> bool:
    host, port = bootstrap_servers.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


# --- Kafka ------------------------------------------------------------------------------------


@pytest.mark.kafka
async def test_message_produced_with_acks_all_is_consumed_back(
    kafka_bootstrap_servers: str, fresh_topic_prefix: str
) -> None:
    topic = f"{fresh_topic_prefix}northstar.roundtrip.v1"

    await produce(kafka_bootstrap_servers, topic, [(b"goal-1", b"GoalCreated")])

    assert await consume(kafka_bootstrap_servers, topic, count=1) == [(b"goal-1", b"GoalCreated")]


@pytest.mark.kafka
def test_local_broker_runs_the_kafka_version_the_pom_names() -> None:
    with LocalKafka() as broker:
        reported = broker.reported_version()

    assert reported == pom_kafka_version()
    assert kafka_version() == pom_kafka_version()


@pytest.mark.kafka
async def test_local_broker_keeps_messages_across_a_restart_on_the_same_data_folder(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "kafka"
    topic = "northstar.restart-check.v1"
    messages = [(b"goal-1", b"GoalCreated"), (b"goal-1", b"CheckedIn"), (b"goal-2", b"GoalCreated")]

    with LocalKafka(data_dir) as first_run:
        await produce(first_run.bootstrap_servers, topic, messages)
        first_address = first_run.bootstrap_servers
    assert not accepts_connections(first_address)

    with LocalKafka(data_dir) as second_run:
        received = await consume(second_run.bootstrap_servers, topic, count=len(messages))

    # Order holds per key (partition), not across keys.
    assert sorted(received) == sorted(messages)
    assert [value for key, value in received if key == b"goal-1"] == [b"GoalCreated", b"CheckedIn"]


def plain_bind_refused(port: int) -> bool:
    """True when bind() without SO_REUSEADDR fails, as it does while connections to the port
    are in TIME_WAIT (the condition under which the broker used to move)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


async def crash_with_a_client_connected(broker: LocalKafka) -> int:
    """SIGKILLs the broker while a producer is connected and then closes the producer, so the
    broker's side of that connection is left in TIME_WAIT; returns the broker's port."""
    port = int(broker.bootstrap_servers.rsplit(":", 1)[1])
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    await producer.send_and_wait("northstar.crash-probe.v1", b"connected")
    broker.kill()
    await producer.stop()
    return port


@pytest.mark.kafka
@pytest.mark.fault
async def test_a_broker_restarted_after_a_crash_keeps_its_ports(tmp_path: Path) -> None:
    topic = "northstar.crash-check.v1"
    with LocalKafka() as broker:
        await produce(broker.bootstrap_servers, topic, [(b"goal-1", b"GoalCreated")])
        address = broker.bootstrap_servers
        port = await crash_with_a_client_connected(broker)
        assert not accepts_connections(address)
        assert plain_bind_refused(port)

        broker.start()

        assert broker.bootstrap_servers == address
        assert await consume(address, topic, count=1) == [(b"goal-1", b"GoalCreated")]


@pytest.mark.kafka
@pytest.mark.fault
async def test_a_persistent_broker_takes_its_previous_ports_after_a_crash(
    tmp_path: Path,
) -> None:
    first = LocalKafka(tmp_path / "kafka").start()
    address = first.bootstrap_servers
    port = await crash_with_a_client_connected(first)
    assert plain_bind_refused(port)

    with LocalKafka(tmp_path / "kafka") as second:
        assert second.bootstrap_servers == address
    first.stop()


@pytest.mark.kafka
def test_an_explicit_port_in_use_fails_naming_the_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]

        with pytest.raises(KafkaUnavailableError, match=f"broker port {taken} \\(asked for\\)"):
            LocalKafka(port=taken).start()

    free = free_loopback_port()
    with LocalKafka(port=free) as broker:
        assert broker.bootstrap_servers == f"127.0.0.1:{free}"


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_keeps_a_committed_transaction_and_drops_a_rolled_back_one(
    postgres_schema_dsn: str,
) -> None:
    with psycopg.connect(postgres_schema_dsn) as connection:
        connection.execute("CREATE TABLE goals (id text PRIMARY KEY, title text NOT NULL)")
        connection.commit()
        with connection.transaction():
            connection.execute("INSERT INTO goals VALUES ('g-1', 'Ship the audit trail')")
        with connection.transaction():
            connection.execute("INSERT INTO goals VALUES ('g-2', 'Never recorded')")
            raise psycopg.Rollback()

    with psycopg.connect(postgres_schema_dsn) as other_connection:
        rows = other_connection.execute("SELECT id, title FROM goals").fetchall()

    assert rows == [("g-1", "Ship the audit trail")]


@pytest.mark.postgres
def test_postgres_reports_a_server_version_of_15_or_newer(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn) as connection:
        row = connection.execute("SHOW server_version_num").fetchone()

    assert row is not None
    assert int(row[0]) >= 150000


@pytest.mark.postgres
def test_each_test_gets_an_empty_database_of_its_own(
    postgres_dsn: str, postgres_schema_dsn: str
) -> None:
    with psycopg.connect(postgres_schema_dsn) as connection:
        database = connection.execute("SELECT current_database()").fetchone()
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()

    assert database is not None
    assert database[0] != conninfo_to_dict(postgres_dsn).get("dbname")
    assert tables == []


# --- choosing the infrastructure --------------------------------------------------------------


def test_endpoints_given_in_the_environment_are_used_and_announced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(infra.KAFKA_BOOTSTRAP_ENV, "broker.example:9092")
    announced: list[str] = []

    with infra.kafka_endpoint(announce=announced.append) as endpoint:
        assert endpoint.bootstrap_servers == "broker.example:9092"

    assert announced == [endpoint.description]
    assert infra.KAFKA_BOOTSTRAP_ENV in endpoint.description
