"""Directory use cases: upsert people and teams, record departures, read them back.

Every use case authorises first (services.directory.authorization), then checks references
within the caller's tenant (manager, team, parent team, no loops), then records only what
changed. The HRIS feed and the gRPC API both come through here.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import RecordConflictError

from services.directory.authorization import Action, authorize
from services.directory.batch_loading import can_load_together, load_together
from services.directory.domain import (
    ManagerCycle,
    ManagerDeparted,
    Person,
    PersonDetails,
    Team,
    TeamCycle,
    TeamDetails,
    UnknownManager,
    UnknownPerson,
    UnknownTeam,
    find_loop,
    person_uuid,
    require_id,
    team_uuid,
)
from services.shared.auth import Principal
from services.shared.canonical import utc_now
from services.shared.directory_replica import DirectoryReplica, ReplicaPerson
from services.shared.errors import ConcurrentUpdate, FailedPrecondition
from services.shared.eventstore import (
    CommandContext,
    NorthstarApplication,
    command_context,
    stamp_command_context,
)
from services.shared.idempotency import raise_if_recorded_meanwhile, request_kwargs
from services.shared.metrics import ServiceMetrics

AggregateT = TypeVar("AggregateT", bound=Aggregate)


@dataclass
class _SavedTogether:
    """What a `saving_together` block of `app` has loaded (None: not found) and changed."""

    app: DirectoryApplication
    loaded: dict[UUID, Aggregate | None] = field(default_factory=dict)
    changed: dict[UUID, Aggregate] = field(default_factory=dict)


# The open `saving_together` block of this thread or task only: commands served meanwhile on
# other threads load and save as usual.
_saved_together: contextvars.ContextVar[_SavedTogether | None] = contextvars.ContextVar(
    "directory_saved_together", default=None
)


@dataclass(frozen=True)
class PersonChange:
    """The person after a command, and whether the command recorded anything."""

    person: Person
    changed: bool


@dataclass(frozen=True)
class TeamChange:
    team: Team
    changed: bool


class DirectoryApplication(NorthstarApplication):
    name = "directory"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        metrics: ServiceMetrics | None = None,
        replica: DirectoryReplica | None = None,
    ) -> None:
        super().__init__(env=env)
        self.metrics = metrics
        # The directory's own replica of its events (fed from Kafka, like every service's)
        # answers the list queries that the aggregates cannot.
        self.replica = replica

    # ---- commands ----

    @contextmanager
    def saving_together(self) -> Iterator[None]:
        """Commands inside the block see each other's changes, and all their events are stored
        in one transaction when it ends (all or none): a feed's batch of records costs one
        commit, not one per record, and loads each aggregate it reads once. A block that raises
        stores nothing; a concurrent change of one of its aggregates makes the whole block fail
        with ConcurrentUpdate."""
        if _saved_together.get() is not None:
            raise RuntimeError("saving_together blocks do not nest")
        block = _SavedTogether(self)
        token = _saved_together.set(block)
        try:
            yield
        finally:
            _saved_together.reset(token)
        changed = block.changed
        pending = {type(a).__name__: 0 for a in changed.values()}
        for aggregate in changed.values():
            pending[type(aggregate).__name__] += len(aggregate.pending_events)
        if not changed:
            return
        try:
            self.save(*changed.values())
        except RecordConflictError as error:
            raise ConcurrentUpdate("the directory changed concurrently; retry") from error
        self._count_appended(pending)

    def load_ahead(self, aggregate_ids: Iterable[UUID]) -> None:
        """Loads, in one query per few hundred ids, the people and teams the commands of the open
        `saving_together` block are about to read: each is then read once for the whole block,
        and one not stored yet is known absent without a load of its own."""
        block = self._open_block()
        if block is None:
            raise RuntimeError("load_ahead belongs in a saving_together block")
        if can_load_together(self):
            block.loaded.update(
                load_together(self, (i for i in aggregate_ids if i not in block.loaded))
            )

    def upsert_person(
        self,
        principal: Principal,
        person_id: str,
        details: PersonDetails,
        *,
        effective_at: datetime | None = None,
        correlation_id: str = "",
    ) -> PersonChange:
        """Creates the person or brings them up to date; a stale or repeated upsert is a no-op."""
        tenant_id = principal.tenant_id
        authorize(principal, Action.UPSERT_PERSON, tenant_id)
        person_id = require_id(person_id, "person_id")
        details = details.validated()
        effective_at = effective_at or utc_now()
        person = self._find(Person, person_uuid(tenant_id, person_id))
        if person is not None and person.is_stale(effective_at):
            return PersonChange(person, changed=False)
        if details.team_id and (person is None or details.team_id != person.team_id):
            self._require_team(tenant_id, details.team_id, field="team_id")
        if details.manager_id and (person is None or details.manager_id != person.manager_id):
            self._require_manager(tenant_id, person_id, details.manager_id, person is not None)
        if person is None:
            person = Person.register(tenant_id, person_id, details, effective_at)
        else:
            person.update(details, effective_at)
        return PersonChange(person, self._save(principal, person, correlation_id))

    def record_departure(
        self,
        principal: Principal,
        person_id: str,
        leave_date: date,
        reason: str = "",
        *,
        effective_at: datetime | None = None,
        correlation_id: str = "",
    ) -> PersonChange:
        """Marks the person as departed (PersonDeparted tells other services to reassign)."""
        tenant_id = principal.tenant_id
        authorize(principal, Action.RECORD_DEPARTURE, tenant_id)
        person = self._require_person(tenant_id, require_id(person_id, "person_id"))
        effective_at = effective_at or utc_now()
        if person.is_stale(effective_at):
            return PersonChange(person, changed=False)
        person.depart(leave_date, reason, effective_at)
        return PersonChange(person, self._save(principal, person, correlation_id))

    def upsert_team(
        self,
        principal: Principal,
        team_id: str,
        details: TeamDetails,
        *,
        effective_at: datetime | None = None,
        correlation_id: str = "",
    ) -> TeamChange:
        """Creates the team or brings it up to date; a stale or repeated upsert is a no-op.

        The lead may name a person the directory does not know yet: teams and their leads refer
        to each other, so a feed can send either first.
        """
        tenant_id = principal.tenant_id
        authorize(principal, Action.UPSERT_TEAM, tenant_id)
        team_id = require_id(team_id, "team_id")
        details = details.validated()
        effective_at = effective_at or utc_now()
        team = self._find(Team, team_uuid(tenant_id, team_id))
        if team is not None and team.is_stale(effective_at):
            return TeamChange(team, changed=False)
        parent_id = details.parent_team_id
        if parent_id and (team is None or parent_id != team.parent_team_id):
            self._require_team(tenant_id, parent_id, field="parent_team_id")
            if team is not None and find_loop(
                parent_id, team_id, lambda t: self._parent_team_of(tenant_id, t)
            ):
                raise TeamCycle(
                    f"team {parent_id!r} is already below team {team_id!r}",
                    field="parent_team_id",
                )
        if team is None:
            team = Team.register(tenant_id, team_id, details, effective_at)
        else:
            team.update(details, effective_at)
        return TeamChange(team, self._save(principal, team, correlation_id))

    # ---- queries (the aggregates themselves: always up to date) ----

    def get_person(self, principal: Principal, person_id: str) -> Person:
        authorize(principal, Action.READ_PERSON, principal.tenant_id)
        return self._require_person(principal.tenant_id, require_id(person_id, "person_id"))

    def get_team(self, principal: Principal, team_id: str) -> Team:
        authorize(principal, Action.READ_TEAM, principal.tenant_id)
        return self._require_team(principal.tenant_id, require_id(team_id, "team_id"))

    def manager_chain(self, principal: Principal, person_id: str) -> list[str]:
        """The person's manager, their manager, ... up to the top (nearest first)."""
        tenant_id = principal.tenant_id
        authorize(principal, Action.READ_MANAGER_CHAIN, tenant_id)
        person = self._require_person(tenant_id, require_id(person_id, "person_id"))
        chain: list[str] = []
        current = person.manager_id
        while current and current not in chain and current != person_id:
            chain.append(current)
            current = self._manager_of(tenant_id, current)
        return chain

    def list_team_members(
        self, principal: Principal, team_id: str, *, include_subteams: bool = False
    ) -> list[ReplicaPerson]:
        """Members (not departed) of a known team, from the replica: eventually consistent."""
        tenant_id = principal.tenant_id
        authorize(principal, Action.LIST_TEAM_MEMBERS, tenant_id)
        self._require_team(tenant_id, require_id(team_id, "team_id"))
        if self.replica is None:
            raise FailedPrecondition("this directory instance keeps no replica", field="team_id")
        replica = self.replica
        members = replica.team_members(tenant_id, team_id, include_subteams=include_subteams)
        people = (replica.person(tenant_id, person_id) for person_id in members)
        return [person for person in people if person is not None]

    # ---- helpers ----

    def _require_manager(
        self, tenant_id: str, person_id: str, manager_id: str, person_exists: bool
    ) -> None:
        manager = self._find(Person, person_uuid(tenant_id, manager_id))
        if manager is None:
            raise UnknownManager(f"no person {manager_id!r} in this tenant", field="manager_id")
        if manager.has_departed:
            raise ManagerDeparted(f"person {manager_id!r} has left", field="manager_id")
        # Only an existing person can be someone's manager already, hence part of a loop.
        if person_exists and find_loop(
            manager_id, person_id, lambda p: self._manager_of(tenant_id, p)
        ):
            raise ManagerCycle(
                f"{manager_id!r} already reports (indirectly) to {person_id!r}",
                field="manager_id",
            )

    def _require_person(self, tenant_id: str, person_id: str) -> Person:
        person = self._find(Person, person_uuid(tenant_id, person_id))
        if person is None:
            raise UnknownPerson(f"no person {person_id!r} in this tenant", field="person_id")
        return person

    def _require_team(self, tenant_id: str, team_id: str, *, field: str = "team_id") -> Team:
        team = self._find(Team, team_uuid(tenant_id, team_id))
        if team is None:
            raise UnknownTeam(f"no team {team_id!r} in this tenant", field=field)
        return team

    def _manager_of(self, tenant_id: str, person_id: str) -> str:
        person = self._find(Person, person_uuid(tenant_id, person_id))
        return person.manager_id if person is not None else ""

    def _parent_team_of(self, tenant_id: str, team_id: str) -> str:
        team = self._find(Team, team_uuid(tenant_id, team_id))
        return team.parent_team_id if team is not None else ""

    def _open_block(self) -> _SavedTogether | None:
        block = _saved_together.get()
        return block if block is not None and block.app is self else None

    def _find(self, kind: type[AggregateT], aggregate_id: UUID) -> AggregateT | None:
        block = self._open_block()
        aggregate: Any
        if block is not None and aggregate_id in block.loaded:
            aggregate = block.loaded[aggregate_id]
        else:
            try:
                aggregate = self.repository.get(aggregate_id)
            except AggregateNotFoundError:
                aggregate = None
            if block is not None:
                block.loaded[aggregate_id] = aggregate
        if aggregate is None:
            return None
        # Ids are derived from (tenant, kind, id), so a match of another kind means corruption.
        if not isinstance(aggregate, kind):
            raise TypeError(f"{aggregate_id} is a {type(aggregate).__name__}, not {kind.__name__}")
        return aggregate

    def recorded_person(self, principal: Principal, result: Mapping[str, Any]) -> PersonChange:
        """The answer a recorded command gave (services.shared.idempotency): the person at the
        version it left them."""
        person = self._at_version(Person, principal, result)
        return PersonChange(person, changed=bool(result["changed"]))

    def recorded_team(self, principal: Principal, result: Mapping[str, Any]) -> TeamChange:
        return TeamChange(self._at_version(Team, principal, result), bool(result["changed"]))

    def _at_version(
        self, kind: type[AggregateT], principal: Principal, result: Mapping[str, Any]
    ) -> AggregateT:
        aggregate: Any = self.repository.get(UUID(result["id"]), version=int(result["version"]))
        tenant_id = getattr(aggregate, "tenant_id", None)
        if not isinstance(aggregate, kind) or tenant_id != principal.tenant_id:
            raise TypeError(f"request record names a {type(aggregate).__name__} of another kind")
        return aggregate

    def _save(self, principal: Principal, aggregate: Aggregate, correlation_id: str) -> bool:
        """Stores pending events, stamped with the caller; False when there were none. A command
        with a request id is recorded even when it changed nothing, so a retry answers the same."""
        pending = len(aggregate.pending_events)
        result = {"id": str(aggregate.id), "version": aggregate.version, "changed": bool(pending)}
        record = request_kwargs(result)
        if not pending and not record:
            return False
        context = CommandContext.new(principal.tenant_id, principal.subject, correlation_id)
        block = self._open_block()
        if block is not None and not record:
            # Stored when the block ends, each event stamped with the command it came from; the
            # next commands of the block find this very aggregate.
            stamp_command_context(aggregate.pending_events, context)
            block.changed[aggregate.id] = aggregate
            block.loaded[aggregate.id] = aggregate
            return True
        try:
            with command_context(context):
                self.save(aggregate, **record)
        except RecordConflictError as error:
            raise_if_recorded_meanwhile(self.request_log)
            kind = type(aggregate).__name__.lower()
            raise ConcurrentUpdate(f"{kind} changed concurrently; reload and retry") from error
        self._count_appended({type(aggregate).__name__: pending})
        return bool(pending)

    def _count_appended(self, events_by_type: Mapping[str, int]) -> None:
        if self.metrics is None:
            return
        for aggregate_type, count in events_by_type.items():
            if count:
                self.metrics.events_appended_total.labels(aggregate_type=aggregate_type).inc(count)
