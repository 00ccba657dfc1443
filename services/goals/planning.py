"""Use cases that create several goals in one command: cascading a team goal to its members,
goals from a template for a set of people, and rolling a recurring goal into its next period.

Each takes the caller and authorises them (services.goals.authorization) on what it loaded
before it creates anything; each saves all its goals in one transaction (all or none), and each
is idempotent where a retry could otherwise duplicate goals: members or people who already have
the goal are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID, uuid4

from services.goals import authorization as policy
from services.goals.application import CommandResult, GoalsApplication
from services.goals.index import GoalIndex
from services.goals.metrics import Metric
from services.goals.rules import OPEN_LIFECYCLES, GoalNotActive
from services.shared.auth import Principal
from services.shared.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.shared.eventstore import CommandContext

CASCADE_REASON = "cascaded from the team goal"


@dataclass(frozen=True)
class GoalTemplate:
    """What every goal made from the template shares; given in the request, not stored."""

    title: str
    description: str
    level: str
    start_date: date
    due_date: date | None
    metric: Metric | None
    visibility: str
    parent_goal_id: UUID | None = None
    recurring: bool = False


@dataclass(frozen=True)
class ManyGoalsResult:
    created: list[CommandResult]
    # Person id -> the goal they already had, for people the command skipped.
    already_there: dict[str, UUID] = field(default_factory=dict)
    template_id: UUID | None = None


@dataclass(frozen=True)
class RollOverResult:
    previous: CommandResult
    next: CommandResult


class GoalPlanning:
    def __init__(self, app: GoalsApplication, index: GoalIndex) -> None:
        self.app = app
        self.index = index

    def cascade_goal(self, caller: Principal, goal_id: UUID, *, activate: bool) -> ManyGoalsResult:
        """One personal goal per current member of the team goal's team, aligned under it, in
        one transaction; the caller must see and change the team goal and may create a goal
        for each member.

        The personal goals copy the team goal's title, description, period, metric (from its
        start value) and visibility. Members who already have an open or completed goal
        aligned under it are skipped, so repeating the command after a new member joined
        creates exactly the missing goal.
        """
        directory = self.app.directory_replica()
        team_goal = self.app.get_goal(caller.tenant_id, goal_id)
        policy.require_can_view(caller, directory, team_goal, "goal_id")
        member_ids = directory.team_members(caller.tenant_id, team_goal.team_id)
        policy.require_can_cascade(caller, directory, team_goal, member_ids)
        context = CommandContext.new(caller.tenant_id, caller.subject)
        if team_goal.level != "team":
            raise FailedPrecondition(
                f"only team goals cascade to members; this is a {team_goal.level} goal",
                field="goal_id",
            )
        if team_goal.lifecycle not in OPEN_LIFECYCLES:
            raise GoalNotActive(
                f"a {team_goal.lifecycle} team goal cannot be cascaded", field="goal_id"
            )
        existing = self.index.primary_children_by_owner(goal_id)
        metric = team_goal.metric
        goals = [
            self.app.new_goal(
                context,
                owner_id=member_id,
                team_id=team_goal.team_id,
                parent_goal_id=goal_id,
                activate=activate,
                owner_field=f"members[{position}]",
                title=team_goal.title,
                description=team_goal.description,
                level="personal",
                start_date=team_goal.start_date,
                due_date=team_goal.due_date,
                metric=None if metric is None else _fresh(metric),
                visibility=team_goal.visibility,
            )
            for position, member_id in enumerate(member_ids)
            if member_id not in existing
        ]
        already = {m: existing[m] for m in member_ids if m in existing}
        # Saved even with no goal to create, so a request id records this answer too.
        created = self.app.save_goals(context, *goals, noted=_noted(already))
        return ManyGoalsResult(created=created, already_there=already)

    def create_goals_from_template(
        self,
        caller: Principal,
        template: GoalTemplate,
        owner_ids: Sequence[str],
        *,
        template_id: UUID | None,
        activate: bool,
    ) -> ManyGoalsResult:
        """One goal per person, each in the person's current team, in one transaction; the
        caller must be allowed to create a goal at the template's level for each of them.

        Goals remember the template id; when the caller names one, people who already have a
        goal from it are skipped, so a retried request creates nothing twice.
        """
        if not owner_ids:
            raise InvalidArgument("name at least one person", field="owner_ids")
        for position, owner_id in enumerate(owner_ids):
            if owner_id in owner_ids[:position]:
                raise InvalidArgument(f"{owner_id} is listed twice", field=f"owner_ids[{position}]")
        directory = self.app.directory_replica()
        for position, owner_id in enumerate(owner_ids):
            try:
                policy.require_can_create(
                    caller, directory, owner_id=owner_id, level=template.level
                )
            except PermissionDenied as refused:
                if refused.field != "owner_id":
                    raise
                raise PermissionDenied(refused.reason, field=f"owner_ids[{position}]") from None
        context = CommandContext.new(caller.tenant_id, caller.subject)
        template_id = template_id or uuid4()
        existing = self.index.template_uses_by_owner(context.tenant_id, template_id)
        goals = [
            self.app.new_goal(
                context,
                owner_id=owner_id,
                team_id="",
                parent_goal_id=template.parent_goal_id,
                activate=activate,
                owner_field=f"owner_ids[{position}]",
                title=template.title,
                description=template.description,
                level=template.level,
                start_date=template.start_date,
                due_date=template.due_date,
                metric=template.metric,
                visibility=template.visibility,
                recurring=template.recurring,
                template_id=template_id,
            )
            for position, owner_id in enumerate(owner_ids)
            if owner_id not in existing
        ]
        already = {o: existing[o] for o in owner_ids if o in existing}
        created = self.app.save_goals(
            context, *goals, noted={**_noted(already), "template_id": str(template_id)}
        )
        return ManyGoalsResult(created=created, already_there=already, template_id=template_id)

    def roll_over_goal(
        self,
        caller: Principal,
        goal_id: UUID,
        *,
        parent_goal_id: UUID | None,
        activate: bool,
        expected_version: int = 0,
    ) -> RollOverResult:
        """The same recurring goal for its next period, recorded on the old goal; only once. The
        caller must be allowed to change the goal and to create one for its owner at its level.

        The new goal keeps the owner, team, metric (from its start value) and, unless
        `parent_goal_id` names another, the parent; contributes-to links are not carried over.
        """
        previous, context = self.app.goal_to_change(caller, goal_id, expected_version)
        policy.require_can_create(
            caller, self.app.directory_replica(), owner_id=previous.owner_id, level=previous.level
        )
        arguments = previous.next_period_arguments(context.actor_id)
        previous_parent = arguments.pop("parent_goal_id")
        for name in ("tenant_id", "created_by"):
            arguments.pop(name)
        owner_id, team_id = arguments.pop("owner_id"), arguments.pop("team_id")
        following = self.app.new_goal(
            context,
            owner_id=owner_id,
            team_id=team_id,
            parent_goal_id=parent_goal_id or previous_parent,
            activate=activate,
            **arguments,
        )
        previous.roll_over(following.id, context.actor_id)
        saved_previous, saved_next = self.app.save_goals(context, previous, following)
        return RollOverResult(previous=saved_previous, next=saved_next)


def _noted(already_there: dict[str, UUID]) -> dict[str, dict[str, str]]:
    """What a retry of the command answers besides the goals it created."""
    return {"already_there": {person: str(goal) for person, goal in already_there.items()}}


def _fresh(metric: Metric) -> Metric:
    """The same measure, back at its start value (nothing checked in yet)."""
    return Metric(metric.kind, metric.direction, metric.start, metric.target, metric.unit)
