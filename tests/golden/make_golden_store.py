"""Writes the golden store: events and snapshots stored by the code of the day it was run.

Run once, deliberately: `.venv/bin/python -m tests.golden.make_golden_store` (it refuses
to replace the committed files without `--replace-committed-fixture`). The committed
stored_events.json and expected_states.json are what an older release left in real stores;
tests/unit/test_golden_store.py loads them with today's code. Regenerating them after a
refactoring would hide exactly the breakage they exist to catch (a moved class, a renamed
event attribute), so never regenerate to make that test pass: register the old topic, or
upcast the old event, instead.

The history drives the real applications (directory, then goals with the directory replica,
the goal index, the departure policy and planning) and covers every event class of Person,
Team and Goal, every goal level, metric kind and direction, and snapshots of a busy goal.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from services.directory.application import DirectoryApplication
from services.directory.domain import Person, PersonDetails, Team, TeamDetails
from services.directory.publishing import directory_envelope
from services.goals.application import SNAPSHOT_EVERY, GoalsApplication
from services.goals.goal import Goal
from services.goals.index import GoalIndex
from services.goals.metrics import Metric
from services.goals.planning import GoalPlanning, GoalTemplate
from services.goals.policies import DeparturePolicy
from services.shared.auth import Principal
from services.shared.directory_replica import DirectoryReplica
from services.shared.eventstore import CommandContext, NorthstarApplication, persistence_env
from services.shared.readmodel import ReadModelDatabase
from tests.golden.fixture import EXPECTED_STATES, STORED_EVENTS, dump, row_of
from tests.golden.state import aggregate_state

HR = Principal(subject="hr-1", tenant_id="acme", roles=frozenset({"hr_admin"}))
LEAD = CommandContext.new("acme", "max")
# max, the CEO, as a caller: the HR admin role lets them set goals at every level for anyone.
LEAD_CALLER = Principal(subject="max", tenant_id="acme", roles=frozenset({"hr_admin"}))
Q1 = (date(2026, 1, 1), date(2026, 3, 31))


def event_classes(aggregate_class: type[Aggregate]) -> set[type[Any]]:
    """The event classes an aggregate class declares (its own, not inherited).

    eventsourcing also defines an unused `Created` on an aggregate that is created by another
    event (Person.Registered), so creation events are left out here and checked apart.
    """
    base = aggregate_class.Event
    return {
        value
        for value in vars(aggregate_class).values()
        if isinstance(value, type)
        and issubclass(value, base)
        and value is not base
        and not issubclass(value, Aggregate.Created)
    }


class History:
    def __init__(self, folder: Path) -> None:
        self.directory = DirectoryApplication(
            env=persistence_env("directory", f"sqlite:///{folder}/directory.db")
        )
        self.replica = DirectoryReplica(ReadModelDatabase(f"sqlite:///{folder}/replica.db"))
        self.goals = GoalsApplication(
            env=persistence_env("goals", f"sqlite:///{folder}/goals.db"), directory=self.replica
        )
        self.index = GoalIndex(self.goals, ReadModelDatabase(f"sqlite:///{folder}/index.db"))
        self.goals.after_save.append(self._index_saved)
        self.policy = DeparturePolicy(self.goals, self.index)
        self.planning = GoalPlanning(self.goals, self.index)
        self._fed = 0
        self._clock = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def _index_saved(self, appended: int) -> None:
        self.index.catch_up()

    def at(self) -> datetime:
        """Effective times of directory records, one minute apart."""
        self._clock += timedelta(minutes=1)
        return self._clock

    def feed(self) -> None:
        """Directory events to the replica and the departure policy, as Kafka would carry them."""
        for notification in self.directory.recorder.select_notifications(self._fed + 1, 10_000):
            envelope = directory_envelope(
                self.directory.mapper.to_domain_event(notification), notification
            )
            self.replica.apply_envelope(envelope)
            asyncio.run(self.policy.apply(envelope))
            self._fed = notification.id

    def person(self, person_id: str, **fields: Any) -> None:
        details = PersonDetails(name=person_id.title(), email=f"{person_id}@acme.example")
        details = PersonDetails(**{**vars(details), **fields})
        self.directory.upsert_person(HR, person_id, details, effective_at=self.at())

    def team(self, team_id: str, name: str, parent: str = "", lead: str = "") -> None:
        details = TeamDetails(name=name, parent_team_id=parent, lead_id=lead)
        self.directory.upsert_team(HR, team_id, details, effective_at=self.at())

    def goal(self, owner_id: str, level: str, metric: Metric | None, **fields: Any) -> UUID:
        arguments: dict[str, Any] = {
            "title": f"{level.title()} goal of {owner_id}",
            "description": "",
            "team_id": "",
            "start_date": Q1[0],
            "due_date": Q1[1],
            "parent_goal_id": None,
            "visibility": "public",
            "activate": True,
        }
        arguments.update(fields)
        return self.goals.create_goal(
            LEAD_CALLER, owner_id=owner_id, level=level, metric=metric, **arguments
        ).goal.id

    def change(self, goal_id: UUID, command: Any) -> None:
        """Any aggregate method, called directly: the store holds every kind of event."""
        goal = self.goals.goal_for_update(LEAD, goal_id, 0)
        command(goal)
        self.goals.save_goals(LEAD, goal)


def add_key_result(into: list[UUID], title: str, metric: Metric, weight: float) -> Any:
    return lambda goal: into.append(goal.add_key_result(title, metric, weight, "max"))


def check_in(value: float | None, confidence: float, note: str, key_result: UUID | None) -> Any:
    return lambda goal: goal.check_in(value, confidence, note, "ann", key_result)


def directory_history(h: History) -> None:
    h.team("acme", "Acme")  # a department: no parent
    h.team("sales", "Sales", parent="acme", lead="max")
    h.team("eng", "Engineering", parent="acme")
    h.person("max", team_id="acme", title="CEO", start_date=date(2020, 1, 1))
    h.person("ann", team_id="sales", manager_id="max", start_date=date(2021, 3, 1))
    h.person("bob", team_id="eng", manager_id="max")
    h.person("cy", team_id="sales", manager_id="ann", start_date=date(2022, 6, 1))
    h.person("dee", team_id="eng", manager_id="bob")
    # Team.Renamed, ParentChanged, LeadChanged
    h.team("eng", "Engineering & Data", parent="sales", lead="bob")
    h.team("eng", "Engineering & Data", parent="acme", lead="bob")
    # Person.ProfileChanged, TeamChanged, ManagerChanged, EmploymentChanged (on leave and back)
    h.person("dee", name="Dee Ramos", title="Engineer", team_id="sales", manager_id="ann")
    h.person(
        "dee",
        name="Dee Ramos",
        title="Engineer",
        team_id="sales",
        manager_id="ann",
        employment_status="on_leave",
    )
    h.person("dee", name="Dee Ramos", title="Engineer", team_id="sales", manager_id="ann")
    h.feed()


def goals_history(h: History) -> UUID:
    """Returns the busy goal (the one with snapshots)."""
    strategy = h.goal(
        "max",
        "strategy",
        Metric("percentage", "increase", 20, 60, "%"),
        title="Win the mid-market",
        visibility="public",
    )
    company = h.goal(
        "max",
        "company",
        Metric("currency", "increase", 1_000_000, 2_500_000, "EUR"),
        parent_goal_id=strategy,
        team_id="acme",
    )
    team = h.goal(
        "ann",
        "team",
        Metric("number", "decrease", 40, 10, "open escalations"),
        parent_goal_id=company,
        team_id="sales",
    )

    # A goal with key results of every metric kind and direction, and many check-ins.
    busy = h.goal("ann", "team", None, team_id="sales", title="Make renewals predictable")
    h.change(busy, lambda g: g.describe("Every renewal forecast within 5%.", "max"))
    h.change(busy, lambda g: g.rename("Make every renewal predictable", "max"))
    h.change(busy, lambda g: g.change_visibility("team", "max"))
    key_results: list[UUID] = []
    for kind, unit in (("number", "deals"), ("percentage", "%"), ("currency", "USD")):
        for direction, start, target in (
            ("increase", 10, 50),
            ("decrease", 50, 10),
            ("stay_above", 30, 30),
            ("stay_below", 70, 70),
        ):
            metric = Metric(kind, direction, start, target, unit)
            title = f"{kind} {direction}"
            weight = 1.5 if direction == "increase" else 1.0
            h.change(busy, add_key_result(key_results, title, metric, weight))
    milestone = Metric("binary", "increase", 0, 1)
    h.change(busy, add_key_result(key_results, "Playbook out", milestone, 2))
    milestone_id = key_results[-1]
    h.change(busy, lambda g: g.remove_key_result(key_results[3], "folded into the others", "max"))
    live = [kr for kr in key_results if kr != key_results[3]]
    h.change(busy, lambda g: g.change_target(60, "stretch", "max", key_results[0]))
    h.change(busy, lambda g: g.change_due_date(date(2026, 4, 30), "fiscal quarter moved", "max"))
    for n in range(2 * SNAPSHOT_EVERY + 5 - h.goals.get_goal("acme", busy).version):
        kr = live[n % len(live)] if n % 3 else None
        value = None if kr is None else float(10 + n % 20)
        if kr == milestone_id:
            value = float(n % 2)
        h.change(busy, check_in(value, 0.5 + (n % 5) / 10, f"week {n}", kr))

    # A personal goal measured later, aligned, realigned, contributing with weights.
    personal = h.goal("cy", "personal", None, activate=False, visibility="private")
    h.change(
        personal,
        lambda g: g.define_metric(
            Metric("number", "stay_below", 5, 5, "bugs"), "cy", measured_by_own_metric=True
        ),
    )
    h.goals.align_goal(HR, personal, team, "")
    h.goals.align_goal(HR, personal, busy, "renewals matter more")
    h.goals.set_contributions(HR, personal, {company: 0.25}, "")
    h.goals.set_contributions(HR, personal, {company: 0.5, strategy: 1.0}, "both")
    h.change(personal, lambda g: g.activate("cy"))
    h.change(personal, lambda g: g.check_in(3, 0.8, "", "cy"))
    h.change(team, lambda g: g.check_in(25, 0.6, "half way", "ann"))
    h.change(team, lambda g: g.change_target(5, "tougher", "max"))

    # Every lifecycle transition: complete and archive; cancel, reopen, cancel, archive.
    h.change(team, lambda g: g.complete("ann"))
    h.change(team, lambda g: g.archive("max"))
    doomed = h.goal("bob", "personal", Metric("binary", "increase", 0, 1), activate=False)
    h.change(doomed, lambda g: g.cancel("not this quarter", "bob"))
    h.change(doomed, lambda g: g.reopen("back on", "bob"))
    h.change(doomed, lambda g: g.complete("bob"))
    h.change(doomed, lambda g: g.reopen("one more thing", "bob"))
    h.change(doomed, lambda g: g.cancel("superseded", "bob"))
    h.change(doomed, lambda g: g.archive("max"))

    # A recurring goal rolled into its next period; goals from a template; a cascade.
    recurring = h.goal(
        "bob",
        "personal",
        Metric("number", "increase", 0, 12, "demos"),
        recurring=True,
        parent_goal_id=company,
    )
    h.change(recurring, lambda g: g.check_in(7, 0.9, "", "bob"))
    h.planning.roll_over_goal(LEAD_CALLER, recurring, parent_goal_id=None, activate=True)
    template = GoalTemplate(
        title="Complete security training",
        description="",
        level="personal",
        start_date=Q1[0],
        due_date=None,
        metric=Metric("binary", "increase", 0, 1),
        visibility="team",
        parent_goal_id=company,
    )
    h.planning.create_goals_from_template(
        LEAD_CALLER, template, ["ann", "bob"], template_id=UUID(int=7), activate=False
    )
    cascade = h.goal("ann", "team", Metric("percentage", "increase", 0, 100, "%"), team_id="sales")
    h.planning.cascade_goal(LEAD_CALLER, cascade, activate=True)  # to ann, cy and dee
    return busy


def departure_history(h: History) -> None:
    """cy leaves (their open goals are flagged), a goal moves to dee, cy is rehired."""
    h.directory.record_departure(HR, "cy", date(2026, 2, 27), "moved abroad", effective_at=h.at())
    h.feed()
    flagged = [g for g in goal_ids(h) if h.goals.get_goal("acme", g).reassignment is not None]
    assert flagged, "the departure flagged no goal"
    h.goals.reassign_goal(HR, flagged[0], "dee", "")
    h.person("cy", team_id="eng", manager_id="bob", start_date=date(2026, 6, 1))
    h.feed()


def goal_ids(h: History) -> list[UUID]:
    return list(dict.fromkeys(n.originator_id for n in notifications(h.goals)))


def notifications(app: NorthstarApplication) -> Iterator[Any]:
    yield from app.recorder.select_notifications(1, 1_000_000)


def store_rows(app: NorthstarApplication) -> dict[str, list[dict[str, Any]]]:
    events = list(notifications(app))
    snapshots: list[StoredEvent] = []
    if app.snapshots is not None:
        for originator_id in dict.fromkeys(e.originator_id for e in events):
            snapshots += app.snapshots.recorder.select_events(originator_id)
    return {"events": [row_of(e) for e in events], "snapshots": [row_of(s) for s in snapshots]}


def states_by_version(
    app: NorthstarApplication, snapshots: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Each aggregate as loaded by the application's repository: at its first 20 versions,
    every 25th, either side of each snapshot, and its latest (enough to pin every event's
    effect without a state per check-in of a busy goal)."""
    last: dict[UUID, int] = {}
    for notification in notifications(app):
        last[notification.originator_id] = notification.originator_version
    around_snapshots: dict[str, set[int]] = {}
    for row in snapshots:
        version = row["originator_version"]
        around_snapshots.setdefault(row["originator_id"], set()).update(
            (version - 1, version, version + 1)
        )
    states: dict[str, dict[str, Any]] = {}
    for aggregate_id, latest in last.items():
        versions = {*range(1, min(latest, 20) + 1), *range(25, latest + 1, 25), latest}
        versions |= {v for v in around_snapshots.get(str(aggregate_id), ()) if v <= latest}
        states[str(aggregate_id)] = {
            str(version): aggregate_state(app.repository.get(aggregate_id, version=version))
            for version in sorted(versions)
        }
    return states


def check_coverage(app: NorthstarApplication, *aggregate_classes: type[Aggregate]) -> None:
    stored = {app.mapper.to_domain_event(n).__class__ for n in notifications(app)}
    for aggregate_class in aggregate_classes:
        missing = event_classes(aggregate_class) - stored
        created = {c for c in stored if issubclass(c, aggregate_class.Event)}
        assert any(issubclass(c, Aggregate.Created) for c in created), aggregate_class
        assert not missing, f"{aggregate_class.__name__} events never stored: {missing}"


def main(argv: list[str]) -> None:
    if STORED_EVENTS.exists() and "--replace-committed-fixture" not in argv:
        raise SystemExit(
            f"{STORED_EVENTS} exists and stands for data already stored; read "
            "tests/golden/README.md before replacing it (--replace-committed-fixture)"
        )
    with tempfile.TemporaryDirectory() as folder:
        h = History(Path(folder))
        directory_history(h)
        busy = goals_history(h)
        departure_history(h)
        check_coverage(h.directory, Person, Team)
        check_coverage(h.goals, Goal)
        goal_rows = store_rows(h.goals)
        directory_rows = store_rows(h.directory)
        assert goal_rows["snapshots"], "no snapshot was taken"
        assert {r["originator_id"] for r in goal_rows["snapshots"]} == {str(busy)}
        levels = {h.goals.get_goal("acme", g).level for g in goal_ids(h)}
        assert levels == {"strategy", "company", "team", "personal"}, levels
        dump(
            STORED_EVENTS,
            {
                "about": "Rows stored by the goals and directory services; never regenerate "
                "(see tests/golden/README.md).",
                "goals": goal_rows,
                "directory": directory_rows,
            },
        )
        dump(
            EXPECTED_STATES,
            {
                "about": "Each aggregate at each version (tests/golden/state.py rendering).",
                "goals": states_by_version(h.goals, goal_rows["snapshots"]),
                "directory": states_by_version(h.directory, directory_rows["snapshots"]),
            },
        )


if __name__ == "__main__":
    main(sys.argv[1:])
