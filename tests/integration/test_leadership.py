"""Relay leader locks: a second holder is refused while the first holds, and gets the lock once
it is released or its holder's session is gone (files here; a real PostgreSQL server too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from services.shared.leadership import (
    FileLeadership,
    PostgresLeadership,
    advisory_lock_key,
    leadership_for,
    relay_leader_gauge,
)
from services.shared.metrics import ServiceMetrics
from tests.integration.conftest import conninfo_to_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'goals.db'}"


@pytest.fixture
def postgres_url(postgres_schema_dsn: str) -> str:
    return conninfo_to_url(postgres_schema_dsn)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def locks(store: str) -> Iterator[list[FileLeadership | PostgresLeadership]]:
    made: list[FileLeadership | PostgresLeadership] = []
    yield made
    for lock in made:
        lock.release()


def new_lock(
    locks: list[FileLeadership | PostgresLeadership], url: str, relay: str, schema: str = "goals"
) -> FileLeadership | PostgresLeadership:
    lock = leadership_for(url, relay, schema=schema)
    assert isinstance(lock, FileLeadership | PostgresLeadership)
    locks.append(lock)
    return lock


def test_second_holder_is_refused_while_the_first_holds_and_takes_over_after_release(
    store: str, locks: list[FileLeadership | PostgresLeadership]
) -> None:
    first = new_lock(locks, store, "goals-relay")
    second = new_lock(locks, store, "goals-relay")

    assert first.try_acquire()
    assert not second.try_acquire()
    assert first.still_leader()
    assert not second.still_leader()

    first.release()
    assert not first.still_leader()
    assert second.try_acquire()
    assert second.still_leader()
    assert not first.try_acquire()


def test_acquiring_again_while_holding_keeps_the_lock(
    store: str, locks: list[FileLeadership | PostgresLeadership]
) -> None:
    lock = new_lock(locks, store, "goals-relay")
    assert lock.try_acquire()
    assert lock.try_acquire()
    assert lock.still_leader()
    assert not new_lock(locks, store, "goals-relay").try_acquire()


def test_release_is_idempotent_and_never_needs_a_held_lock(
    store: str, locks: list[FileLeadership | PostgresLeadership]
) -> None:
    lock = new_lock(locks, store, "goals-relay")
    lock.release()
    assert lock.try_acquire()
    lock.release()
    lock.release()
    assert new_lock(locks, store, "goals-relay").try_acquire()


def test_different_relays_lead_independently(
    store: str, locks: list[FileLeadership | PostgresLeadership]
) -> None:
    assert new_lock(locks, store, "goals-relay").try_acquire()
    assert new_lock(locks, store, "directory-relay").try_acquire()


@pytest.mark.postgres
def test_stores_in_other_schemas_of_one_database_lead_independently(
    postgres_url: str, locks: list[FileLeadership | PostgresLeadership]
) -> None:
    assert new_lock(locks, postgres_url, "relay", schema="goals").try_acquire()
    assert new_lock(locks, postgres_url, "relay", schema="directory").try_acquire()
    assert not new_lock(locks, postgres_url, "relay", schema="goals").try_acquire()


@pytest.mark.postgres
def test_a_terminated_session_is_no_longer_leader_and_frees_the_lock(
    postgres_url: str, locks: list[FileLeadership | PostgresLeadership]
) -> None:
    leader = new_lock(locks, postgres_url, "goals-relay")
    standby = new_lock(locks, postgres_url, "goals-relay")
    assert leader.try_acquire()
    assert isinstance(leader, PostgresLeadership)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (leader.backend_pid(),))

    assert not leader.still_leader()
    assert leader.backend_pid() is None
    assert standby.try_acquire()


def test_the_lock_file_lies_beside_the_database_file(tmp_path: Path) -> None:
    lock = leadership_for(f"sqlite:///{tmp_path / 'data' / 'goals.db'}", "goals-relay")
    assert isinstance(lock, FileLeadership)
    assert lock.path == tmp_path / "data" / "goals.db.goals-relay.lock"
    assert lock.try_acquire()
    assert lock.path.is_file()
    lock.release()


def test_a_deleted_lock_file_ends_leadership_before_another_process_could_lock_a_new_one(
    sqlite_url: str, locks: list[FileLeadership | PostgresLeadership]
) -> None:
    leader = new_lock(locks, sqlite_url, "goals-relay")
    assert leader.try_acquire()
    assert isinstance(leader, FileLeadership)
    leader.path.unlink()

    assert not leader.still_leader()
    assert new_lock(locks, sqlite_url, "goals-relay").try_acquire()


def test_store_urls_pick_their_lock_and_others_are_refused(tmp_path: Path) -> None:
    assert isinstance(leadership_for(f"sqlite:///{tmp_path}/x.db", "r"), FileLeadership)
    assert isinstance(leadership_for("postgresql://u@h:5432/db", "r"), PostgresLeadership)
    assert isinstance(leadership_for("postgres://u@h/db", "r"), PostgresLeadership)
    with pytest.raises(ValueError, match="mysql"):
        leadership_for("mysql://u@h/db", "r")


def test_advisory_keys_are_stable_signed_64_bit_and_differ_per_store_and_relay() -> None:
    key = advisory_lock_key("goals", "goals-relay")
    assert key == advisory_lock_key("goals", "goals-relay")
    assert -(2**63) <= key < 2**63
    assert key != advisory_lock_key("directory", "goals-relay")
    assert key != advisory_lock_key("goals", "directory-relay")


def test_leader_gauge_is_registered_once_per_service_registry() -> None:
    metrics = ServiceMetrics("goals")
    gauge = relay_leader_gauge(metrics)
    assert relay_leader_gauge(metrics) is gauge
    gauge.labels(relay="goals-relay").set(1)
    assert metrics.registry.get_sample_value(
        "northstar_relay_leader", {"relay": "goals-relay"}
    ) == (1.0)
    assert relay_leader_gauge(ServiceMetrics("goals")) is not gauge
