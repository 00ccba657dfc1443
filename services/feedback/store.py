"""What every feedback use case stands on: the event store (an eventsourcing Application), the
local directory replica, the goal ids, the ballot box, the injectable clock, loading within a
tenant and saving with the command's context."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from services.feedback.ballots import BallotBox
from services.feedback.event_clock import Clock
from services.feedback.goal_ids import GoalIds
from services.feedback.index import FeedbackIndex
from services.feedback.rules import UnknownGoal, UnknownPerson
from services.shared.auth import Principal
from services.shared.canonical import utc_now
from services.shared.directory_replica import DirectoryReplica, ReplicaPerson
from services.shared.errors import ConcurrentUpdate, NotFound
from services.shared.eventstore import CommandContext, NorthstarApplication, command_context
from services.shared.idempotency import raise_if_recorded_meanwhile, request_kwargs
from services.shared.position import encode_position_token

AggregateT = TypeVar("AggregateT", bound=Aggregate)
SYSTEM_ACTOR = "northstar/feedback"


@dataclass(frozen=True)
class Saved:
    aggregate_id: UUID
    version: int
    position_token: str


class FeedbackStore(NorthstarApplication):
    name = "feedback"
    index: FeedbackIndex | None = None  # set by the wiring: list queries read it

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        directory: DirectoryReplica,
        goal_ids: GoalIds,
        ballots: BallotBox,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(env)
        self.directory = directory
        self.goal_ids = goal_ids
        self.ballots = ballots
        self.clock = clock
        # Called with the aggregate type and the number of events each save appended (index,
        # relay wake-up, metrics). Anonymous answers are not saved here, so they never count.
        self.after_save: list[Callable[[str, int], None]] = []
        # Closing reads the ballot box, then records the aggregates: an answer cast in between
        # would be lost, so casting and closing take turns (within this process).
        self.ballot_lock = threading.Lock()

    def today(self) -> date:
        return self.clock().date()

    # ---- loading ----

    def load(
        self, cls: type[AggregateT], tenant_id: str, aggregate_id: UUID, field: str
    ) -> AggregateT:
        """The aggregate, or NotFound (missing, another kind, or another tenant's)."""
        what = {
            "Feedback": "feedback",
            "FeedbackRequest": "feedback request",
            "QuestionTemplate": "question template",
        }.get(cls.__name__, cls.__name__)
        try:
            aggregate: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"{what} {aggregate_id} not found", field=field) from None
        if not isinstance(aggregate, cls) or getattr(aggregate, "tenant_id", None) != tenant_id:
            raise NotFound(f"{what} {aggregate_id} not found", field=field)
        return aggregate

    def for_update(
        self,
        cls: type[AggregateT],
        tenant_id: str,
        aggregate_id: UUID,
        field: str,
        expected_version: int,
    ) -> AggregateT:
        aggregate = self.load(cls, tenant_id, aggregate_id, field)
        if expected_version and aggregate.version != expected_version:
            raise ConcurrentUpdate(
                f"it is at version {aggregate.version}, not {expected_version}; reload and retry",
                field="expected_version",
            )
        return aggregate

    def require_person(self, tenant_id: str, person_id: str, field: str) -> ReplicaPerson:
        person = self.directory.person(tenant_id, person_id)
        if person is None or person.has_departed:
            raise UnknownPerson(f"no current person {person_id!r} in the directory", field=field)
        return person

    def require_goal(self, tenant_id: str, goal_id: UUID | None) -> None:
        if goal_id is not None and not self.goal_ids.exists(tenant_id, goal_id):
            raise UnknownGoal(f"goal {goal_id} not found", field="goal_id")

    def recorded(
        self, cls: type[AggregateT], principal: Principal, result: Mapping[str, object]
    ) -> tuple[AggregateT, Saved]:
        """What a recorded command saved (its request record's result), at the version it saved:
        the answer a retry under the same request id gets."""
        aggregate_id, version = UUID(str(result["id"])), int(str(result["version"]))
        aggregate: object = self.repository.get(aggregate_id, version=version)
        if not isinstance(aggregate, cls) or getattr(aggregate, "tenant_id", None) != (
            principal.tenant_id
        ):
            raise TypeError(f"a request record names a {type(aggregate).__name__} of another kind")
        return aggregate, Saved(aggregate_id, version, encode_position_token(aggregate_id, version))

    # ---- saving ----

    def save_as(self, principal: Principal | None, tenant_id: str, *aggregates: Aggregate) -> Saved:
        """Saves in one transaction, stamped with who asked (the service itself for the
        scheduler and policies); the result names the first aggregate. A command with a client
        request id stores its request record in the same transaction."""
        actor = principal.subject if principal is not None else SYSTEM_ACTOR
        first = aggregates[0]
        record = request_kwargs({"id": str(first.id), "version": first.version})
        with command_context(CommandContext.new(tenant_id, actor)):
            try:
                recordings = self.save(*aggregates, **record)
            except IntegrityError:
                raise_if_recorded_meanwhile(self.request_log)
                raise ConcurrentUpdate(
                    "changed concurrently; reload and retry", field="expected_version"
                ) from None
        for callback in self.after_save:
            callback(type(first).__name__, len(recordings))
        return Saved(first.id, first.version, encode_position_token(first.id, first.version))

    def record_request_only(self, principal: Principal) -> None:
        """Stores the current command's request record without any event (an anonymous answer:
        it goes to the ballot box, never into an event)."""
        record = request_kwargs({})
        if record:
            with command_context(CommandContext.new(principal.tenant_id, principal.subject)):
                try:
                    self.save(**record)
                except IntegrityError:
                    raise_if_recorded_meanwhile(self.request_log)
                    raise
