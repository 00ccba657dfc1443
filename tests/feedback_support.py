"""A feedback application on real stores (SQLite files by default, or PostgreSQL), with a
directory replica fed by real directory events and a settable clock: what the feedback tests
build on (no Kafka)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from northstar_contracts.directory import PERSON_DEPARTED
from northstar_contracts.envelope import EventEnvelope, envelope_id
from northstar_contracts.registry import EVENTS
from services.feedback.__main__ import sibling_store_url
from services.feedback.application import FeedbackApplication
from services.feedback.ballots import BallotBox
from services.feedback.goal_ids import GoalIds
from services.feedback.index import FeedbackIndex
from services.shared.auth import AUDITOR, EMPLOYEE, HR_ADMIN, INTEGRATION, MANAGER, Principal
from services.shared.directory_replica import DirectoryReplica
from services.shared.eventstore import persistence_env
from services.shared.readmodel import ReadModelDatabase

TENANT = "acme"
# person id -> (manager id, team id, roles in their tokens)
ORGANISATION: dict[str, tuple[str, str, frozenset[str]]] = {
    "hr-1": ("", "", frozenset({HR_ADMIN})),
    "skip-1": ("", "team-top", frozenset({MANAGER})),
    "manager-1": ("skip-1", "team-b", frozenset({MANAGER})),
    "recipient-1": ("manager-1", "team-a", frozenset({EMPLOYEE})),
    "giver-1": ("manager-1", "team-a", frozenset({EMPLOYEE})),
    "peer-1": ("manager-1", "team-a", frozenset({EMPLOYEE})),
    "peer-2": ("manager-1", "team-a", frozenset({EMPLOYEE})),
    "peer-3": ("manager-1", "team-a", frozenset({EMPLOYEE})),
    "report-1": ("recipient-1", "team-a", frozenset({EMPLOYEE})),
    "report-2": ("recipient-1", "team-a", frozenset({EMPLOYEE})),
    "report-3": ("recipient-1", "team-a", frozenset({EMPLOYEE})),
    "auditor-1": ("", "", frozenset({AUDITOR})),
    "integration-1": ("", "", frozenset({INTEGRATION})),
}


def principal(person_id: str, tenant_id: str = TENANT) -> Principal:
    roles = ORGANISATION[person_id][2] if person_id in ORGANISATION else frozenset({EMPLOYEE})
    return Principal(person_id, tenant_id, roles)


class SettableClock:
    """The service's clock, moved by the test: time is an input, never a sleep."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, days: int) -> None:
        self.now += timedelta(days=days)


def person_registered(
    tenant: str, person_id: str, manager_id: str, team_id: str, version: int = 1
) -> EventEnvelope:
    aggregate_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{person_id}"))
    _, data = EVENTS.outbound_data(
        "directory.PersonRegistered",
        {
            "tenant_id": tenant,
            "person_id": person_id,
            "name": person_id.title(),
            "email": f"{person_id}@{tenant}.example",
            "title": "",
            "team_id": team_id,
            "manager_id": manager_id,
            "employment_status": "active",
            "start_date": None,
            "leave_date": None,
            "effective_at": datetime(2026, 1, 1, tzinfo=UTC),
        },
    )
    return EventEnvelope.produce(
        id=envelope_id(aggregate_id, version),
        type="directory.PersonRegistered",
        schema_version=1,
        source="northstar/directory",
        tenant_id=tenant,
        aggregate_type="Person",
        aggregate_id=aggregate_id,
        aggregate_version=version,
        sequence=1,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        actor_id="hr-1",
        data=data,
    )


def person_departed(
    tenant: str, person_id: str, leave_date: date, version: int = 2
) -> EventEnvelope:
    """The directory's event for a person who left (after their registration, version 1)."""
    aggregate_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{person_id}"))
    manager_id, team_id, _roles = ORGANISATION.get(person_id, ("", "", frozenset()))
    _, data = EVENTS.outbound_data(
        PERSON_DEPARTED,
        {
            "person_id": person_id,
            "leave_date": leave_date,
            "manager_id": manager_id,
            "team_id": team_id,
            "reason": "",
            "effective_at": datetime(2026, 3, 2, tzinfo=UTC),
        },
    )
    return EventEnvelope.produce(
        id=envelope_id(aggregate_id, version),
        type=PERSON_DEPARTED,
        schema_version=1,
        source="northstar/directory",
        tenant_id=tenant,
        aggregate_type="Person",
        aggregate_id=aggregate_id,
        aggregate_version=version,
        sequence=version,
        occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
        actor_id="hr-1",
        data=data,
    )


def seed(replica: DirectoryReplica, tenant: str = TENANT) -> None:
    for person_id, (manager_id, team_id, _roles) in ORGANISATION.items():
        replica.apply_envelope(person_registered(tenant, person_id, manager_id, team_id))


@dataclass
class FeedbackWorld:
    app: FeedbackApplication
    index: FeedbackIndex
    replica: DirectoryReplica
    goal_ids: GoalIds
    clock: SettableClock
    databases: list[ReadModelDatabase]

    def close(self) -> None:
        self.app.close()
        for db in self.databases:
            db.close()


def feedback_world(
    folder: Path, today: date = date(2026, 3, 2), store_url: str = ""
) -> FeedbackWorld:
    """A Monday, 2 March 2026, 09:00 UTC unless told otherwise; SQLite files in `folder` unless
    a store URL is given (the stores laid out as the service lays them out)."""
    clock = SettableClock(datetime(today.year, today.month, today.day, 9, tzinfo=UTC))
    store_url = store_url or f"sqlite:///{folder / 'feedback.db'}"
    replica_db = ReadModelDatabase(
        sibling_store_url(store_url, "directory"), schema="feedback_directory"
    )
    local_db = ReadModelDatabase(sibling_store_url(store_url, "index"), schema="feedback_index")
    ballots_db = ReadModelDatabase(
        sibling_store_url(store_url, "ballots"), schema="feedback_ballots"
    )
    replica = DirectoryReplica(replica_db)
    seed(replica)
    goal_ids = GoalIds(local_db)
    app = FeedbackApplication(
        env=persistence_env("feedback", store_url),
        directory=replica,
        goal_ids=goal_ids,
        ballots=BallotBox(ballots_db),
        clock=clock,
    )
    index = FeedbackIndex(app, local_db)
    app.index = index

    def after_save(_aggregate_type: str, _appended: int) -> None:
        index.catch_up()

    app.after_save.append(after_save)
    return FeedbackWorld(app, index, replica, goal_ids, clock, [replica_db, local_db, ballots_db])
