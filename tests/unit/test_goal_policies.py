"""The goals application with its directory replica, in memory: owners must be current people,
departures flag open goals once (redelivery changes nothing), cascades skip who has a goal."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from northstar_contracts.directory import (
    PersonDepartedV1,
    PersonRegisteredV1,
    TeamRegisteredV1,
)
from northstar_contracts.envelope import EventEnvelope
from northstar_contracts.registry import EventContract
from services.goals.application import CommandResult, GoalsApplication
from services.goals.index import GoalIndex
from services.goals.metrics import Metric
from services.goals.people import UnknownPerson
from services.goals.planning import GoalPlanning
from services.goals.policies import DeparturePolicy
from services.shared.auth import Principal
from services.shared.directory_replica import DirectoryReplica
from services.shared.readmodel import ReadModelDatabase

NOW = datetime(2026, 2, 1, tzinfo=UTC)
HR_ADMIN = Principal(subject="hr-1", tenant_id="acme", roles=frozenset({"hr_admin"}))


def directory_event(contract: EventContract, aggregate_id: str, version: int) -> EventEnvelope:
    return EventEnvelope(
        id=f"{aggregate_id}-{version}",
        type=f"directory.{type(contract).__name__.removesuffix('V1')}",
        schema_version=1,
        source="northstar/directory",
        tenant_id="acme",
        aggregate_type="Person",
        aggregate_id=aggregate_id,
        aggregate_version=version,
        sequence=version,
        occurred_at=NOW,
        actor_id="hr-1",
        data=contract.model_dump(mode="json"),
    )


def registered(person_id: str, manager_id: str = "") -> EventEnvelope:
    return directory_event(
        PersonRegisteredV1(
            tenant_id="acme",
            person_id=person_id,
            name=person_id,
            email=f"{person_id}@acme.example",
            title="",
            team_id="team-a",
            manager_id=manager_id,
            employment_status="active",
            start_date=None,
            leave_date=None,
            effective_at=NOW,
        ),
        person_id,
        1,
    )


def departed(person_id: str) -> EventEnvelope:
    return directory_event(
        PersonDepartedV1(
            person_id=person_id,
            leave_date=date(2026, 1, 31),
            manager_id="max",
            team_id="team-a",
            reason="",
            effective_at=NOW,
        ),
        person_id,
        2,
    )


class Goals:
    def __init__(self, tmp_path: Path) -> None:
        self.replica = DirectoryReplica(ReadModelDatabase(f"sqlite:///{tmp_path / 'dir.db'}"))
        self.app = GoalsApplication(directory=self.replica)
        self.index = GoalIndex(self.app, ReadModelDatabase(f"sqlite:///{tmp_path / 'idx.db'}"))
        self.app.after_save.append(self._index_saved)
        team = TeamRegisteredV1(
            tenant_id="acme", team_id="team-a", name="A", parent_team_id="", lead_id="max",
            effective_at=NOW,
        )  # fmt: skip
        for envelope in (
            directory_event(team, "team-a", 1),
            registered("max"),
            registered("ann", "max"),
            registered("bob", "max"),
        ):
            self.replica.apply_envelope(envelope)

    def _index_saved(self, appended: int) -> None:
        self.index.catch_up()

    def create(
        self, owner_id: str, *, level: str = "personal", activate: bool = True
    ) -> CommandResult:
        return self.app.create_goal(
            HR_ADMIN,
            title="Publish the pricing page",
            description="",
            owner_id=owner_id,
            team_id="",
            level=level,
            start_date=date(2026, 1, 1),
            due_date=date(2026, 3, 31),
            metric=Metric("number", "increase", 0, 10),
            parent_goal_id=None,
            visibility="public",
            activate=activate,
        )


@pytest.fixture
def goals(tmp_path: Path) -> Goals:
    return Goals(tmp_path)


def test_a_goal_for_someone_unknown_or_departed_is_refused_and_stores_nothing(goals: Goals) -> None:
    goals.replica.apply_envelope(departed("bob"))
    for owner_id, reason in (("nobody", "no person"), ("bob", "has left")):
        with pytest.raises(UnknownPerson, match=reason) as caught:
            goals.create(owner_id)
        assert caught.value.field == "owner_id"
    assert goals.app.recorder.max_notification_id() in (None, 0)


def test_a_departure_flags_open_goals_once_even_when_redelivered(goals: Goals) -> None:
    active = goals.create("ann").goal.id
    draft = goals.create("ann", activate=False).goal.id
    done = goals.create("ann").goal.id
    goals.app.complete_goal(HR_ADMIN, done)
    other = goals.create("bob").goal.id
    policy = DeparturePolicy(goals.app, goals.index)
    envelope = departed("ann")

    assert asyncio.run(policy.apply(envelope)) is True
    versions = {g: goals.app.get_goal("acme", g).version for g in (active, draft, done, other)}
    assert asyncio.run(policy.apply(envelope)) is False
    assert {g: goals.app.get_goal("acme", g).version for g in versions} == versions

    flag = goals.app.get_goal("acme", active).reassignment
    assert flag is not None
    assert (flag.departed_person_id, flag.manager_id, flag.leave_date) == (
        "ann",
        "max",
        date(2026, 1, 31),
    )
    assert goals.app.get_goal("acme", draft).reassignment is not None
    assert goals.app.get_goal("acme", done).reassignment is None
    assert goals.app.get_goal("acme", other).reassignment is None

    goals.app.reassign_goal(HR_ADMIN, active, "bob", "")
    assert goals.app.get_goal("acme", active).reassignment is None
    assert asyncio.run(policy.apply(envelope)) is False
    assert goals.app.get_goal("acme", active).owner_id == "bob"


def test_a_cascade_repeated_creates_nothing_twice(goals: Goals) -> None:
    team_goal = goals.create("max", level="team").goal.id
    planning = GoalPlanning(goals.app, goals.index)
    first = planning.cascade_goal(HR_ADMIN, team_goal, activate=True)
    again = planning.cascade_goal(HR_ADMIN, team_goal, activate=True)
    assert sorted(r.goal.owner_id for r in first.created) == ["ann", "bob", "max"]
    assert again.created == []
    assert again.already_there == {r.goal.owner_id: r.goal.id for r in first.created}
