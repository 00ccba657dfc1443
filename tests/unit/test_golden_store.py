"""Events and snapshots stored by an earlier release still load, to the same states.

tests/golden holds rows the goals and directory services stored (written once by
tests/golden/make_golden_store.py, never regenerated) and the state of every aggregate at
chosen versions. A class that moves or is renamed changes its topic (`module:qualname`), so
its old topic must be registered (eventsourcing.utils.register_topic); a renamed or dropped
event attribute needs an upcast. Either mistake fails here, naming the topic or the state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate, DomainEvent, Snapshot
from eventsourcing.utils import resolve_topic

from services.directory.application import DirectoryApplication
from services.goals.application import GoalsApplication
from services.shared.eventstore import NorthstarApplication, persistence_env
from tests.golden.fixture import EXPECTED_STATES, STORED_EVENTS, load, stored_event_of
from tests.golden.state import aggregate_state

STORED = load(STORED_EVENTS)
EXPECTED = load(EXPECTED_STATES)
SERVICES: dict[str, type[NorthstarApplication]] = {
    "goals": GoalsApplication,
    "directory": DirectoryApplication,
}
REGISTER_HINT = (
    "a class was moved or renamed: register each old topic for its class with "
    "eventsourcing.utils.register_topic (docs/architecture.md, 'Stored topics')"
)


def restored(
    service: str,
    folder: Path,
    keep: Callable[[dict[str, Any]], bool] = lambda row: True,
    *,
    snapshots: bool = True,
) -> NorthstarApplication:
    """A fresh store of the service (our mapper and transcodings) holding the golden rows."""
    app = SERVICES[service](env=persistence_env(service, f"sqlite:///{folder}/{service}.db"))
    rows = STORED[service]
    app.recorder.insert_events([stored_event_of(row) for row in rows["events"] if keep(row)])
    if snapshots and rows["snapshots"]:
        assert app.snapshots is not None, f"{service} stores snapshots but takes none now"
        app.snapshots.recorder.insert_events([stored_event_of(r) for r in rows["snapshots"]])
    return app


def stored_topics(service: str) -> dict[str, type]:
    """Every topic in the service's rows -> the kind of class it must resolve to."""
    rows = STORED[service]
    topics: dict[str, type] = {}
    for row in rows["events"]:
        topics[row["topic"]] = DomainEvent
        if "originator_topic" in row["state"]:
            topics[row["state"]["originator_topic"]] = Aggregate
    for row in rows["snapshots"]:
        topics[row["topic"]] = Snapshot
        topics[row["state"]["topic"]] = Aggregate
    return topics


@pytest.mark.parametrize("service", SERVICES)
def test_every_stored_topic_still_resolves_to_an_event_or_aggregate_class(service: str) -> None:
    unresolved: list[str] = []
    for topic, kind in stored_topics(service).items():
        try:
            resolved = resolve_topic(topic)
        except Exception as error:
            unresolved.append(f"{topic!r} ({type(error).__name__}: {error})")
            continue
        if not (isinstance(resolved, type) and issubclass(resolved, kind)):
            unresolved.append(f"{topic!r} is now {resolved!r}, not a {kind.__name__}")
    assert not unresolved, (
        f"stored {service} topics no longer resolve: {'; '.join(unresolved)}. {REGISTER_HINT}"
    )


@pytest.mark.parametrize("snapshots", [True, False], ids=["with-snapshots", "events-only"])
@pytest.mark.parametrize("service", SERVICES)
def test_every_aggregate_loads_to_its_recorded_state_at_each_version(
    service: str, snapshots: bool, tmp_path: Path
) -> None:
    app = restored(service, tmp_path, snapshots=snapshots)
    for aggregate_id, by_version in EXPECTED[service].items():
        for version, expected in by_version.items():
            loaded: object = app.repository.get(UUID(aggregate_id), version=int(version))
            assert aggregate_state(loaded) == expected, f"{service} {aggregate_id} v{version}"
        latest = by_version[max(by_version, key=int)]
        assert aggregate_state(app.repository.get(UUID(aggregate_id))) == latest
    stored_ids = {row["originator_id"] for row in STORED[service]["events"]}
    assert set(EXPECTED[service]) == stored_ids


def test_each_snapshot_decodes_to_the_state_at_its_version(tmp_path: Path) -> None:
    app = restored("goals", tmp_path)
    snapshots = STORED["goals"]["snapshots"]
    assert len(snapshots) >= 2
    for row in snapshots:
        snapshot = app.mapper.to_domain_event(stored_event_of(row))
        assert isinstance(snapshot, Snapshot)
        expected = EXPECTED["goals"][row["originator_id"]][str(row["originator_version"])]
        assert aggregate_state(snapshot.mutate(None)) == expected


def test_a_goal_loads_from_its_snapshot_and_the_events_after_it(tmp_path: Path) -> None:
    # Without the events the latest snapshot covers, only the snapshot can rebuild the goal.
    snapshot_at = {
        r["originator_id"]: r["originator_version"] for r in STORED["goals"]["snapshots"]
    }
    app = restored(
        "goals",
        tmp_path,
        keep=lambda row: row["originator_version"] > snapshot_at.get(row["originator_id"], 0),
    )
    for goal_id, version in snapshot_at.items():
        by_version = EXPECTED["goals"][goal_id]
        latest = max(by_version, key=int)
        assert int(latest) > version
        goal: object = app.repository.get(UUID(goal_id))
        assert aggregate_state(goal) == by_version[latest]
        assert (
            aggregate_state(app.repository.get(UUID(goal_id), version=version))
            == (by_version[str(version)])
        )
