"""The goals service's own index under concurrent catch-ups, and its views over an alignment
graph that holds a loop anyway (as two writer replicas racing could record)."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from services.goals.application import GoalsApplication
from services.goals.goal import Goal
from services.goals.index import GoalIndex
from services.goals.queries import goal_view
from services.goals.rules import AlignmentTarget
from services.shared.eventstore import CommandContext
from services.shared.readmodel import ReadModelDatabase

HR = CommandContext.new("acme", "hr-1")


def new_goal(title: str) -> Goal:
    goal = Goal.create(
        tenant_id="acme",
        title=title,
        description="",
        owner_id="ann",
        team_id="team-a",
        level="team",
        start_date=date(2026, 1, 1),
        due_date=date(2026, 12, 31),
        metric=None,
        parent_goal_id=None,
        visibility="public",
        created_by="hr-1",
    )
    goal.activate("hr-1")
    return goal


@pytest.fixture
def app_and_index(tmp_path: Path) -> tuple[GoalsApplication, GoalIndex]:
    app = GoalsApplication()
    # Only catch-ups write this index: the races below are theirs.
    db = ReadModelDatabase(f"sqlite:///{tmp_path / 'index.db'}")
    return app, GoalIndex(app, db, follow_saves=False)


def test_a_slow_catch_up_never_writes_older_goal_state_or_an_older_position(
    app_and_index: tuple[GoalsApplication, GoalIndex], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, index = app_and_index
    goal_id = app.save_goals(HR, new_goal("Old title"))[0].goal.id
    loaded, release = threading.Event(), threading.Event()
    load, select = app.repository.get, app.recorder.select_notifications
    seen: list[tuple[int, list[str]]] = []  # (position, indexed titles) at every batch

    def load_then_stall_once_in_the_slow_run(aggregate_id: UUID, **options: Any) -> Any:
        state = load(aggregate_id, **options)
        if threading.current_thread() is slow and not loaded.is_set():
            loaded.set()
            release.wait(timeout=30)
        return state

    def select_noting_what_is_indexed(*args: Any, **options: Any) -> Any:
        seen.append((index.position(), [goal.title for goal in index.list_goals("acme")]))
        return select(*args, **options)

    monkeypatch.setattr(app.repository, "get", load_then_stall_once_in_the_slow_run)
    monkeypatch.setattr(app.recorder, "select_notifications", select_noting_what_is_indexed)
    slow = threading.Thread(target=index.catch_up)
    slow.start()
    assert loaded.wait(timeout=30)  # the slow run holds the goal as it was before the rename
    renamed = app.get_goal("acme", goal_id)
    renamed.rename("New title", "hr-1")
    app.save_goals(HR, renamed)
    fast = threading.Thread(target=index.catch_up)
    fast.start()
    # The fast run gets a bounded chance to overtake the stalled one; it must not manage to.
    fast.join(timeout=0.3)
    release.set()
    slow.join(timeout=30)
    fast.join(timeout=30)

    positions = [position for position, _ in seen]
    assert positions == sorted(positions), seen
    renamed_at = next(i for i, (_, titles) in enumerate(seen) if titles == ["New title"])
    assert all(titles == ["New title"] for _, titles in seen[renamed_at:]), seen
    assert index.position() == app.recorder.max_notification_id()


def test_goal_views_answer_even_when_the_store_holds_an_alignment_loop(
    app_and_index: tuple[GoalsApplication, GoalIndex],
) -> None:
    app, index = app_and_index
    first, second = new_goal("Grow revenue in France"), new_goal("Grow revenue in Spain")
    app.save_goals(HR, first, second)
    first.align(second.id, "", "hr-1", parent=AlignmentTarget(second.id, "acme", "active"))
    app.save_goals(HR, first)
    # What a second writer replica could record at the same moment, unaware of the first link.
    looping = app.get_goal("acme", second.id)
    looping.align(first.id, "", "hr-1", parent=AlignmentTarget(first.id, "acme", "active"))
    app.save_goals(HR, looping)
    index.catch_up()
    for goal_id in (first.id, second.id):
        view = goal_view(app, index, app.get_goal("acme", goal_id), date(2026, 6, 1))
        assert 0.0 <= view.progress <= 1.0
