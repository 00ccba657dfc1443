"""Shared test fixtures. Infrastructure (real Kafka and PostgreSQL) starts only when a test asks.

devstack/infra.py picks it: endpoints from the environment, else testcontainers, else local
processes; the choice is printed in the run's output.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from psycopg import sql
from psycopg.conninfo import make_conninfo

from devstack import infra

# Property tests assert behaviour, never time: Hypothesis's per-example deadline and its
# "generation is slow" check would make them fail on a shared, loaded machine (they did, at load
# averages of 8-15) without anything being wrong.
settings.register_profile("northstar", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("northstar")

# --- reporting which infrastructure a run used ------------------------------------------------

INFRASTRUCTURE_USED = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[INFRASTRUCTURE_USED] = []


def pytest_report_header(config: pytest.Config) -> str:
    return (
        "infrastructure: started on first use; chosen from the environment "
        f"({infra.KAFKA_BOOTSTRAP_ENV}, {infra.POSTGRES_DSN_ENV}), then testcontainers, "
        "then local processes"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    used = terminalreporter.config.stash.get(INFRASTRUCTURE_USED, [])
    if used:
        terminalreporter.section("infrastructure used")
        for line in used:
            terminalreporter.write_line(line)


def _announce_to_terminal(config: pytest.Config) -> infra.Announce:
    """Writes past output capture, so the choice shows in the log even without -s."""

    def announce(line: str) -> None:
        config.stash[INFRASTRUCTURE_USED].append(line)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        capture = config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            print(line)
        elif capture is None:
            reporter.write_line(line)
        else:
            with capture.global_and_fixture_disabled():
                reporter.ensure_newline()
                reporter.write_line(line)

    return announce


# --- Kafka ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(pytestconfig: pytest.Config) -> Iterator[str]:
    """Bootstrap servers of a real Kafka broker shared by the whole run."""
    with infra.kafka_endpoint(announce=_announce_to_terminal(pytestconfig)) as endpoint:
        yield endpoint.bootstrap_servers


@pytest.fixture
def fresh_topic_prefix() -> str:
    """A prefix no other test uses, e.g. "test-1a2b3c4d5e6f-", so tests never share topics."""
    return f"test-{uuid.uuid4().hex[:12]}-"


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_dsn(pytestconfig: pytest.Config) -> Iterator[str]:
    """libpq DSN of a real PostgreSQL database shared by the whole run."""
    with infra.postgres_endpoint(announce=_announce_to_terminal(pytestconfig)) as endpoint:
        yield endpoint.dsn


@pytest.fixture
def postgres_schema_dsn(postgres_dsn: str) -> Iterator[str]:
    """libpq DSN of a new, empty database of this test's own, dropped afterwards.

    Every schema and table in it belongs to the test, so tests never see each other's data.
    """
    with new_postgres_database(postgres_dsn) as dsn:
        yield dsn


@pytest.fixture(scope="module")
def module_postgres_database_dsn(postgres_dsn: str) -> Iterator[str]:
    """libpq DSN of a new, empty database shared by a module's tests, dropped afterwards."""
    with new_postgres_database(postgres_dsn) as dsn:
        yield dsn


@contextlib.contextmanager
def new_postgres_database(postgres_dsn: str) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(postgres_dsn, dbname=name)
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            # FORCE: a pool the test left open must not keep the database alive.
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
