"""The goals service's queries as a caller asks them, one method each: the caller's tenant and
the visibility policy (services.goals.authorization) decide what is found, so the servicer only
translates requests and answers. The views, pages and summaries themselves are computed in
services.goals.queries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from uuid import UUID

from services.goals import authorization as policy
from services.goals.application import GoalsApplication
from services.goals.goal import Goal
from services.goals.index import GoalIndex
from services.goals.queries import (
    GoalFilter,
    GoalView,
    goal_view,
    smart_summaries,
    visible_goals_page,
)
from services.goals.smart import SmartSummary
from services.shared.auth import Principal


class GoalQueries:
    def __init__(self, app: GoalsApplication, index: GoalIndex) -> None:
        self.app = app
        self.index = index

    def goal(
        self,
        caller: Principal,
        goal_id: UUID,
        today: date,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
    ) -> GoalView:
        """The goal now, at a version or at a moment, when the caller may see it (a goal they
        may not see is not found, like a missing one)."""
        goal = self.app.get_goal(caller.tenant_id, goal_id, version=version, as_of=as_of)
        policy.require_can_view(caller, self.app.directory_replica(), goal, "goal_id")
        past = version is not None or as_of is not None
        # A past state rolls up its aligned goals as they were at that same moment.
        moment = (as_of or goal.modified_on) if past else None
        return goal_view(self.app, self.index, goal, today, moment)

    def goals_page(
        self, caller: Principal, goal_filter: GoalFilter, *, after_goal_id: str, page_size: int
    ) -> tuple[list[Goal], str]:
        """Up to `page_size` goals the caller may see, in id order, and the id to continue
        after ('' when no goal is left)."""
        return visible_goals_page(
            self.app,
            self.index,
            caller.tenant_id,
            goal_filter,
            self._may_view(caller),
            after_goal_id=after_goal_id,
            page_size=page_size,
        )

    def smart_summaries(
        self, caller: Principal, goal_filter: GoalFilter
    ) -> dict[str, SmartSummary]:
        """Per team, how many of the live goals the caller may see hold each SMART letter."""
        return smart_summaries(
            self.app, self.index, caller.tenant_id, goal_filter, self._may_view(caller)
        )

    def _may_view(self, caller: Principal) -> Callable[[Goal], bool]:
        directory = self.app.directory_replica()
        return lambda goal: policy.can_view(caller, directory, goal)
