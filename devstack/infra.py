"""Picks the Kafka and PostgreSQL that tests and local runs use, and says which one it picked.

Order: endpoints given in the environment; testcontainers when a Docker engine answers;
local processes (Kafka from its jars, PostgreSQL from initdb) otherwise. Nothing is skipped:
when no option works the error names what each one said.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from devstack.kafka import (
    LocalKafka,
    broker_lists_itself,
    free_loopback_port,
    kafka_version,
    pom_kafka_version,
)
from devstack.postgres import LocalPostgres

KAFKA_BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
POSTGRES_DSN_ENV = "NORTHSTAR_TEST_POSTGRES_DSN"
POSTGRES_IMAGE = "postgres:16"
DOCKER_PING_TIMEOUT_SECONDS = 3
CONTAINER_START_TIMEOUT_SECONDS = 120

Announce = Callable[[str], None]
EndpointT = TypeVar("EndpointT")


class InfrastructureUnavailableError(RuntimeError):
    """No Kafka or no PostgreSQL could be had; the message lists what each option said."""


@dataclass(frozen=True)
class KafkaEndpoint:
    bootstrap_servers: str
    description: str


@dataclass(frozen=True)
class PostgresEndpoint:
    dsn: str
    description: str


def print_line(text: str) -> None:
    print(text, flush=True)


# --- Kafka ------------------------------------------------------------------------------------


@contextlib.contextmanager
def kafka_endpoint(announce: Announce = print_line) -> Iterator[KafkaEndpoint]:
    """A Kafka broker for the duration of the block; what was chosen goes to `announce`."""
    with contextlib.ExitStack() as resources:
        endpoint = _provide_kafka(resources)
        announce(endpoint.description)
        yield endpoint


def _provide_kafka(resources: contextlib.ExitStack) -> KafkaEndpoint:
    given = os.environ.get(KAFKA_BOOTSTRAP_ENV, "").strip()
    if given:
        # A broker does not report its release over the wire; say where it came from instead.
        return KafkaEndpoint(
            given,
            f"kafka: broker at {given} (from {KAFKA_BOOTSTRAP_ENV}; version not reported "
            "by the broker)",
        )

    def local(resources: contextlib.ExitStack, note: str) -> KafkaEndpoint:
        broker = resources.enter_context(LocalKafka())
        return KafkaEndpoint(
            broker.bootstrap_servers,
            f"kafka: local Apache Kafka {kafka_version()} at {broker.bootstrap_servers} "
            f"(jars from Maven Central, log {broker.log_path}){note}",
        )

    return _container_else_local(
        resources, "Kafka", _start_kafka_container, "local Kafka from its jars", local
    )


def _start_kafka_container(resources: contextlib.ExitStack) -> KafkaEndpoint:
    # testcontainers' KafkaContainer drives Confluent's image through its own scripts; the
    # apache/kafka image is configured by KAFKA_* variables instead, on a fixed host port so
    # the advertised listener is known before the container starts.
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    image = f"apache/kafka:{pom_kafka_version()}"
    port = free_loopback_port()
    container = DockerContainer(image).with_bind_ports(port, port)
    host = container.get_docker_client().host()
    settings = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"PLAINTEXT://0.0.0.0:{port},CONTROLLER://127.0.0.1:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{host}:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@127.0.0.1:9093",
        "KAFKA_NUM_PARTITIONS": "3",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "true",
        "KAFKA_LOG_RETENTION_MS": "-1",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }
    for name, value in settings.items():
        container.with_env(name, value)
    container.waiting_for(
        LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(
            CONTAINER_START_TIMEOUT_SECONDS
        )
    )
    resources.enter_context(container)
    bootstrap_servers = f"{host}:{port}"
    _wait_for_broker(bootstrap_servers)
    return KafkaEndpoint(
        bootstrap_servers,
        f"kafka: Apache Kafka {pom_kafka_version()} in a container ({image}) at "
        f"{bootstrap_servers} (testcontainers)",
    )


def _wait_for_broker(bootstrap_servers: str) -> None:
    deadline = time.monotonic() + CONTAINER_START_TIMEOUT_SECONDS
    while not broker_lists_itself(bootstrap_servers):
        if time.monotonic() > deadline:
            raise InfrastructureUnavailableError(
                f"the broker at {bootstrap_servers} never answered"
            )
        time.sleep(0.2)


# --- PostgreSQL -------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_endpoint(announce: Announce = print_line) -> Iterator[PostgresEndpoint]:
    """A PostgreSQL database for the duration of the block; the choice goes to `announce`."""
    with contextlib.ExitStack() as resources:
        endpoint = _provide_postgres(resources)
        announce(endpoint.description)
        yield endpoint


def _provide_postgres(resources: contextlib.ExitStack) -> PostgresEndpoint:
    given = os.environ.get(POSTGRES_DSN_ENV, "").strip()
    if given:
        return PostgresEndpoint(given, _describe_postgres(given, f"from {POSTGRES_DSN_ENV}"))

    def local(resources: contextlib.ExitStack, note: str) -> PostgresEndpoint:
        server = resources.enter_context(LocalPostgres())
        return PostgresEndpoint(
            server.dsn, _describe_postgres(server.dsn, f"local initdb, log {server.log_path}{note}")
        )

    return _container_else_local(
        resources, "PostgreSQL", _start_postgres_container, "local PostgreSQL (initdb)", local
    )


def _start_postgres_container(resources: contextlib.ExitStack) -> PostgresEndpoint:
    from testcontainers.community.postgres import PostgresContainer

    container = resources.enter_context(PostgresContainer(POSTGRES_IMAGE, driver=None))
    dsn = str(container.get_connection_url())
    return PostgresEndpoint(
        dsn, _describe_postgres(dsn, f"in a container ({POSTGRES_IMAGE}, testcontainers)")
    )


def _describe_postgres(dsn: str, origin: str) -> str:
    """One line naming the server's version and address (never its password)."""
    with psycopg.connect(dsn, connect_timeout=10) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    version = str(row[0]).split()[0] if row else "(unknown version)"
    parts = conninfo_to_dict(dsn)
    where = f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"
    return f"postgres: PostgreSQL {version} at {where} ({origin})"


# --- shared -----------------------------------------------------------------------------------


def _in_own_stack(
    resources: contextlib.ExitStack, start: Callable[[contextlib.ExitStack], EndpointT]
) -> EndpointT:
    """Run `start`; keep what it opened only if it succeeds (a half-started container goes)."""
    with contextlib.ExitStack() as attempt:
        endpoint = start(attempt)
        resources.enter_context(attempt.pop_all())
    return endpoint


def docker_engine_problem() -> str | None:
    """None when a Docker engine answers a ping quickly, else why not (never raises)."""
    try:
        import docker  # type: ignore[import-untyped]  # the SDK ships no type hints

        client = docker.from_env(timeout=DOCKER_PING_TIMEOUT_SECONDS)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"no Docker engine answers ({first_line})"
    return None


def _container_else_local(
    resources: contextlib.ExitStack,
    what: str,
    container: Callable[[contextlib.ExitStack], EndpointT],
    local_name: str,
    local: Callable[[contextlib.ExitStack, str], EndpointT],
) -> EndpointT:
    """The selection order after the environment: testcontainers where a Docker engine answers,
    else (or if the container fails) a local process; every failure is kept for the error."""
    failures: list[str] = []
    docker_problem = docker_engine_problem()
    if docker_problem is None:
        try:
            return _in_own_stack(resources, container)
        except Exception as error:
            failures.append(f"testcontainers: {error}")
    else:
        failures.append(f"testcontainers: {docker_problem}")
    try:
        return local(resources, f"; after {failures[-1]}" if docker_problem is None else "")
    except Exception as error:
        failures.append(f"{local_name}: {error}")
    raise InfrastructureUnavailableError(_nothing_worked(what, failures))


def _nothing_worked(what: str, failures: list[str]) -> str:
    in_ci = os.environ.get("CI", "").lower() == "true"
    hint = (
        "CI=true: tests that need it fail here rather than skip"
        if in_ci
        else f"set {KAFKA_BOOTSTRAP_ENV} / {POSTGRES_DSN_ENV}, start Docker, or install the tools"
    )
    details = "\n".join(f"  - {failure.rstrip()}" for failure in failures)
    return f"no {what} could be had ({hint}):\n{details}"
