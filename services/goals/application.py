"""Goals use cases: load a Goal, check who may do what, call the aggregate, save.

Creating goals and changing their links live here; the commands on one goal's own state are in
services.goals.goal_commands (mixed in). Each command that changes an existing goal loads it
once and authorises the caller on that state (`goal_to_change`).

Every command runs inside a command context (tenant, actor, correlation id) that is stored
with its events, checks the caller's expected version, and maps a concurrent write to
ConcurrentUpdate (ABORTED) so no update is silently lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.goals import authorization as policy
from services.goals.goal import Goal
from services.goals.goal_commands import OneGoalCommands
from services.goals.metrics import Metric
from services.goals.people import Directory, default_team, require_owner_and_team
from services.goals.rules import AlignmentCycle, AlignmentTarget, would_create_cycle
from services.shared.auth import Principal
from services.shared.errors import ConcurrentUpdate, FailedPrecondition, InvalidArgument, NotFound
from services.shared.eventstore import CommandContext, NorthstarApplication, command_context
from services.shared.idempotency import raise_if_recorded_meanwhile, request_kwargs
from services.shared.position import encode_position_token
from services.shared.save_locks import SERIALISED_SAVE_KWARG, SerialisedSave

SNAPSHOT_EVERY = 50
logger = logging.getLogger(__name__)


class KpiCatalogue(Protocol):
    """The KPIs the goals service has learnt from the KPI topic (services/goals/kpis.py)."""

    def is_known(self, tenant_id: str, kpi_id: UUID) -> bool: ...


@dataclass(frozen=True)
class CommandResult:
    goal: Goal
    version: int
    position_token: str
    last_notification_id: int


class GoalsApplication(OneGoalCommands, NorthstarApplication):
    name = "goals"
    # A goal with thousands of check-ins loads from its latest snapshot plus a few events.
    snapshotting_intervals = {Goal: SNAPSHOT_EVERY}
    # Which KPIs a goal may be measured by; without one, no goal can link to a KPI.
    kpi_catalogue: KpiCatalogue | None = None

    def __init__(
        self, env: Mapping[str, str] | None = None, directory: Directory | None = None
    ) -> None:
        super().__init__(env)
        # People and teams (the local directory replica): needed by every use case that names
        # an owner; reading and updating existing goals works without it.
        self.directory = directory
        # Called with the number of events each save appended (relay wake-up, index, metrics).
        # They run after the events are stored, so a failing one is logged, never answered:
        # the command happened, and what they do catches up on its own (index, relay).
        self.after_save: list[Callable[[int], None]] = []
        # Called first with the goals each save stored (the goal index writes their rows).
        self.goals_saved: list[Callable[[Sequence[Goal]], None]] = []
        # Commands run in worker threads: the cycle check reads other goals' links, so two
        # link changes checked side by side could each pass and together close a loop. Held
        # from the check until the save, it keeps the graph acyclic within this process (the
        # only writer of a SQLite store). Across replicas on PostgreSQL the save re-runs the
        # check under a per-tenant advisory lock in its own transaction (_serialised_links).
        # A new goal needs no lock: nothing can link to it before it is saved.
        self._link_change_lock = threading.Lock()

    # ---- commands ----

    def create_goal(
        self,
        caller: Principal,
        *,
        title: str,
        description: str,
        owner_id: str,
        team_id: str,
        level: str,
        start_date: date,
        due_date: date | None,
        metric: Metric | None,
        parent_goal_id: UUID | None,
        visibility: str,
        activate: bool,
        recurring: bool = False,
        progress_source: str | None = None,
        kpi_id: UUID | None = None,
    ) -> CommandResult:
        """A new goal of `owner_id` ("" means the caller), if the caller may create it."""
        owner_id = owner_id or caller.subject
        policy.require_can_create(caller, self.directory_replica(), owner_id=owner_id, level=level)
        context = CommandContext.new(caller.tenant_id, caller.subject)
        if kpi_id is not None:
            self.require_known_kpi(context, kpi_id)
        goal = self.new_goal(
            context,
            title=title,
            description=description,
            owner_id=owner_id,
            team_id=team_id,
            level=level,
            start_date=start_date,
            due_date=due_date,
            metric=metric,
            parent_goal_id=parent_goal_id,
            visibility=visibility,
            activate=activate,
            recurring=recurring,
            progress_source=progress_source,
            kpi_id=kpi_id,
        )
        return self.save_goals(context, goal)[0]

    def require_known_kpi(self, context: CommandContext, kpi_id: UUID) -> None:
        # Another tenant's KPI looks exactly like one never defined.
        if self.kpi_catalogue is None or not self.kpi_catalogue.is_known(context.tenant_id, kpi_id):
            raise FailedPrecondition(
                f"KPI {kpi_id} is not known in this tenant (a KPI just defined is known once "
                "its definition reached the goals service)",
                field="kpi_id",
            )

    def new_goal(
        self,
        context: CommandContext,
        *,
        owner_id: str,
        team_id: str,
        parent_goal_id: UUID | None,
        activate: bool,
        owner_field: str = "owner_id",
        **fields: Any,
    ) -> Goal:
        """A validated, unsaved goal: the request first, then the directory and the parent.

        `team_id` "" means the owner's current team. `fields` are the other arguments of
        Goal.create(...) (title, description, level, period, metric, visibility, recurring, ...).
        """
        directory = self.directory_replica()
        team = team_id or default_team(directory, context.tenant_id, owner_id)
        goal = Goal.create(
            tenant_id=context.tenant_id,
            owner_id=owner_id,
            team_id=team,
            parent_goal_id=None,
            created_by=context.actor_id,
            **fields,
        )
        if parent_goal_id is not None and goal.level == "strategy":
            raise InvalidArgument(
                "a strategic objective is a root of alignment and has no parent",
                field="parent_goal_id",
            )
        require_owner_and_team(
            directory, context.tenant_id, owner_id, team_id, owner_field=owner_field
        )
        if parent_goal_id is not None:
            parent = self.alignment_target(context, parent_goal_id, "parent_goal_id")
            # A new goal has no children yet, so aligning it cannot close a cycle.
            goal.align(parent.goal_id, "", context.actor_id, parent=parent)
        if activate:
            goal.activate(context.actor_id)
        return goal

    def reassign_goal(
        self,
        caller: Principal,
        goal_id: UUID,
        owner_id: str,
        team_id: str,
        expected_version: int = 0,
    ) -> CommandResult:
        """A new owner (a current member of the tenant) and team; "" takes the owner's team.
        The caller must be allowed to change the goal and to create one for the new owner."""
        directory = self.directory_replica()
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        policy.require_can_create(caller, directory, owner_id=owner_id, level=goal.level)
        team = team_id or default_team(directory, context.tenant_id, owner_id)
        require_owner_and_team(directory, context.tenant_id, owner_id, team_id)
        goal.reassign(owner_id, team, context.actor_id)
        return self.save_goals(context, goal)[0]

    def align_goal(
        self,
        caller: Principal,
        goal_id: UUID,
        parent_goal_id: UUID,
        reason: str,
        expected_version: int = 0,
    ) -> CommandResult:
        with self._link_change_lock:
            goal, context = self.goal_to_change(caller, goal_id, expected_version)
            parent = self.alignment_target(context, parent_goal_id, "parent_goal_id")
            goal.align(
                parent_goal_id, reason, context.actor_id, parent=parent, parent_of=self._links_of
            )
            serialised = self._serialised_links(goal, "parent_goal_id")
            return self.save_goals(context, goal, serialised=serialised)[0]

    def set_contributions(
        self,
        caller: Principal,
        goal_id: UUID,
        contributions: Mapping[UUID, float],
        reason: str,
        expected_version: int = 0,
    ) -> CommandResult:
        with self._link_change_lock:
            goal, context = self.goal_to_change(caller, goal_id, expected_version)
            targets = {
                target_id: self.alignment_target(context, target_id, "contributions")
                for target_id in contributions
            }
            goal.set_contributions(
                contributions, reason, context.actor_id, targets=targets, parent_of=self._links_of
            )
            serialised = self._serialised_links(goal, "contributions")
            return self.save_goals(context, goal, serialised=serialised)[0]

    # ---- queries ----

    def get_goal(
        self,
        tenant_id: str,
        goal_id: UUID,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
        field: str = "goal_id",
    ) -> Goal:
        """The goal now, at a version, or as it was at a moment (NotFound across tenants)."""
        if as_of is not None:
            version = self._version_at(goal_id, as_of, field)
        try:
            goal: object = self.repository.get(goal_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(f"goal {goal_id} not found", field=field) from None
        if not isinstance(goal, Goal) or goal.tenant_id != tenant_id:
            raise NotFound(f"goal {goal_id} not found", field=field)
        if version is not None and goal.version != version:
            raise NotFound(f"goal {goal_id} has no version {version}", field="version")
        return goal

    def goal_to_change(
        self, caller: Principal, goal_id: UUID, expected_version: int
    ) -> tuple[Goal, CommandContext]:
        """The goal, loaded once, and the command's context, when `caller` may change it: a goal
        the caller may not see is not found, one they may only see is PERMISSION_DENIED, and
        only then is the version the caller expects compared (ABORTED when it moved on)."""
        goal = self.get_goal(caller.tenant_id, goal_id)
        directory = self.directory_replica()
        policy.require_can_view(caller, directory, goal, "goal_id")
        policy.require_can_change(caller, directory, goal)
        context = CommandContext.new(caller.tenant_id, caller.subject)
        return self.goal_for_update(context, goal_id, expected_version, loaded=goal), context

    def goal_for_update(
        self,
        context: CommandContext,
        goal_id: UUID,
        expected_version: int,
        *,
        loaded: Goal | None = None,
    ) -> Goal:
        """The goal at the version the caller expects (0: any); `loaded` spares a second load."""
        goal = loaded if loaded is not None else self.get_goal(context.tenant_id, goal_id)
        if expected_version and goal.version != expected_version:
            raise ConcurrentUpdate(
                f"goal is at version {goal.version}, not {expected_version}; reload and retry",
                field="expected_version",
            )
        return goal

    def ancestor_levels(self, goal: Goal) -> list[str]:
        """Levels on the primary-parent path upwards (for the SMART 'Relevant' check)."""
        levels: list[str] = []
        seen = {goal.id}
        parent_id = goal.parent_goal_id
        while parent_id is not None and parent_id not in seen:
            seen.add(parent_id)
            try:
                parent = self.get_goal(goal.tenant_id, parent_id)
            except NotFound:
                break
            levels.append(parent.level)
            parent_id = parent.parent_goal_id
        return levels

    # ---- internals ----

    def save_goals(
        self,
        context: CommandContext,
        *goals: Goal,
        noted: Mapping[str, Any] | None = None,
        serialised: SerialisedSave | None = None,
    ) -> list[CommandResult]:
        """Saves the goals' new events in one transaction: all of them or none, together with
        the command's request record when it has a request id (`noted` adds to the result it
        records: what a retry must answer besides the goals and their versions). `serialised`
        re-checks a rule over other goals in that transaction (services.shared.save_locks)."""
        result = {"goals": [[str(goal.id), goal.version] for goal in goals], **(noted or {})}
        lock = {} if serialised is None else {SERIALISED_SAVE_KWARG: serialised}
        with command_context(context):
            try:
                recordings = self.save(*goals, **request_kwargs(result), **lock)
            except IntegrityError:
                raise_if_recorded_meanwhile(self.request_log)
                raise ConcurrentUpdate(
                    "the goal was changed concurrently; reload and retry",
                    field="expected_version",
                ) from None
        for saved in self.goals_saved:
            try:
                saved(goals)
            except Exception:
                logger.exception("work after a save failed; it catches up on its own")
        for callback in self.after_save:
            try:
                callback(len(recordings))
            except Exception:
                logger.exception("work after a save failed; it catches up with the next save")
        last_by_goal: dict[UUID, int] = {}
        for recording in recordings:
            goal_id = recording.domain_event.originator_id
            last_by_goal[goal_id] = max(last_by_goal.get(goal_id, 0), recording.notification.id)
        return [
            CommandResult(
                goal=goal,
                version=goal.version,
                position_token=encode_position_token(goal.id, goal.version),
                last_notification_id=last_by_goal.get(goal.id, 0),
            )
            for goal in goals
        ]

    def directory_replica(self) -> Directory:
        if self.directory is None:
            raise RuntimeError("this use case needs the directory replica (GoalsApplication)")
        return self.directory

    def alignment_target(
        self, context: CommandContext, goal_id: UUID, field: str
    ) -> AlignmentTarget:
        try:
            target = self.get_goal(context.tenant_id, goal_id, field=field)
        except NotFound:
            # The request is fine; the goal it links to is missing (or another tenant's).
            raise FailedPrecondition(f"goal {goal_id} does not exist", field=field) from None
        return AlignmentTarget(
            goal_id=target.id, tenant_id=target.tenant_id, lifecycle=target.lifecycle
        )

    def _serialised_links(self, goal: Goal, field: str) -> SerialisedSave:
        """The no-loop rule again, under the tenant's link lock and inside the save: another
        replica may have linked the other way since the aggregate's own check."""

        def no_loop() -> None:
            for target_id in goal.linked_goal_ids:
                if would_create_cycle(goal.id, target_id, self._links_of):
                    raise AlignmentCycle(
                        f"linking to goal {target_id} would create a cycle", field=field
                    )

        return SerialisedSave(lock_key=f"goal-links:{goal.tenant_id}", check=no_loop)

    def _links_of(self, goal_id: UUID) -> Iterable[UUID]:
        try:
            goal: object = self.repository.get(goal_id)
        except AggregateNotFoundError:
            return ()
        return goal.linked_goal_ids if isinstance(goal, Goal) else ()

    def _version_at(self, goal_id: UUID, moment: datetime, field: str) -> int:
        version = 0
        for domain_event in self.events.get(goal_id):
            if cast(Goal.Event, domain_event).timestamp > moment:
                break
            version = domain_event.originator_version
        if version == 0:
            raise NotFound(f"goal {goal_id} did not exist at {moment.isoformat()}", field="as_of")
        return version
