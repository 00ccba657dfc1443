"""Read-side views of goals inside the goals service: progress rolled up from aligned goals,
expected progress, status and the SMART assessment, all computed by the domain's own rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from services.goals.application import GoalsApplication
from services.goals.domain import Goal
from services.goals.index import GoalIndex
from services.goals.progress import rollup_progress
from services.goals.smart import SmartAssessment, assess_smart


@dataclass(frozen=True)
class GoalView:
    goal: Goal
    progress: float
    expected_progress: float
    status: str
    smart: SmartAssessment


def descendants_graph(
    app: GoalsApplication, index: GoalIndex, root: Goal
) -> tuple[dict[UUID, Goal], dict[UUID, list[tuple[UUID, float]]]]:
    """Every goal below `root` (primary children and contributors) and the child lists."""
    goals: dict[UUID, Goal] = {root.id: root}
    children_of: dict[UUID, list[tuple[UUID, float]]] = {}
    pending = [root.id]
    while pending:
        goal_id = pending.pop()
        children = index.children_of(goal_id)
        if children:
            children_of[goal_id] = children
        for child_id, _weight in children:
            if child_id not in goals:
                child: object = app.repository.get(child_id)
                if isinstance(child, Goal) and child.tenant_id == root.tenant_id:
                    goals[child_id] = child
                    pending.append(child_id)
    # A child the tenant cannot see (or that vanished) contributes nothing.
    children_of = {
        goal_id: [(c, w) for c, w in children if c in goals]
        for goal_id, children in children_of.items()
    }
    return goals, children_of


def rolled_up_progress(app: GoalsApplication, index: GoalIndex, goal: Goal) -> float:
    goals, children_of = descendants_graph(app, index, goal)
    own = {goal_id: g.own_progress() for goal_id, g in goals.items()}
    progress = rollup_progress(
        [goal.id],
        {goal_id: value for goal_id, value in own.items() if value is not None},
        children_of,
        measured_by_own={goal_id for goal_id, g in goals.items() if g.measured_by_own_metric},
    )
    return progress[goal.id]


def goal_view(app: GoalsApplication, index: GoalIndex, goal: Goal, today: date) -> GoalView:
    progress = rolled_up_progress(app, index, goal)
    return GoalView(
        goal=goal,
        progress=progress,
        expected_progress=goal.expected_progress(today),
        status=goal.status(today, progress=progress),
        smart=assess_smart(goal, app.ancestor_levels(goal)),
    )
