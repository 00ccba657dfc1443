"""Reactions of the goals service to other services' events.

when_person_departed_flag_their_goals: a person left (directory.PersonDeparted), so each of
their open goals records FlaggedForReassignment with the person and their manager at the time.
Redelivery changes nothing: a goal already flagged for that departure is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from uuid import UUID

from northstar_contracts.directory import PERSON_DEPARTED, PersonDepartedV1
from northstar_contracts.envelope import EventEnvelope
from northstar_contracts.registry import EVENTS
from services.goals.application import GoalsApplication
from services.goals.domain import OPEN_LIFECYCLES
from services.goals.index import GoalIndex
from services.shared.eventstore import CommandContext

POLICY_ACTOR = "northstar/goals"
_PAGE = 500


def when_person_departed_flag_their_goals(
    app: GoalsApplication, index: GoalIndex, envelope: EventEnvelope
) -> int:
    """Flags the departed person's open goals; returns how many were newly flagged."""
    departure = EVENTS.read(envelope)
    if not isinstance(departure, PersonDepartedV1):
        raise TypeError(f"not a departure: {envelope.type}")
    context = CommandContext(
        tenant_id=envelope.tenant_id,
        actor_id=envelope.actor_id or POLICY_ACTOR,
        correlation_id=envelope.correlation_id or envelope.id,
        causation_id=envelope.id,
    )
    flagged = 0
    for goal_id in _open_goals_of(index, envelope.tenant_id, departure.person_id):
        goal = app.get_goal(envelope.tenant_id, goal_id)
        if goal.owner_id != departure.person_id:
            continue  # reassigned since the index row was read
        if goal.flag_for_reassignment(
            departure.person_id, departure.manager_id, departure.leave_date, context.actor_id
        ):
            # A concurrent change raises ConcurrentUpdate: the consumer retries the whole event,
            # and goals flagged on the first attempt are skipped the second time.
            app.save_goals(context, goal)
            flagged += 1
    return flagged


def _open_goals_of(index: GoalIndex, tenant_id: str, person_id: str) -> Iterator[UUID]:
    after = ""
    while True:
        rows = index.list_goals(
            tenant_id,
            owner_id=person_id,
            lifecycles=OPEN_LIFECYCLES,
            after_goal_id=after,
            limit=_PAGE,
        )
        for row in rows:
            yield row.goal_id
        if len(rows) < _PAGE:
            return
        after = str(rows[-1].goal_id)


class DeparturePolicy:
    """The EventConsumer apply function for the directory topic."""

    def __init__(self, app: GoalsApplication, index: GoalIndex) -> None:
        self.app = app
        self.index = index

    async def apply(self, envelope: EventEnvelope) -> bool:
        """False when a departure left nothing to flag (a redelivery, or no open goals); other
        directory events concern the replica, not this policy, and pass through."""
        if envelope.type != PERSON_DEPARTED:
            return True
        flagged = await asyncio.to_thread(
            when_person_departed_flag_their_goals, self.app, self.index, envelope
        )
        return flagged > 0
