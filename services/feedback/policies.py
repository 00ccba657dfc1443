"""Reactions of the feedback service to other services' events.

when_person_departed_flag_their_requests: a person left (directory.PersonDeparted), so each open
request they made, are the subject of or were asked to answer records FeedbackRequestFlagged,
and each 1:1 they are the manager or the report of records OneOnOneFlagged, once each.
"""

from __future__ import annotations

import asyncio

from northstar_contracts.directory import PERSON_DEPARTED, PersonDepartedV1
from northstar_contracts.envelope import EventEnvelope
from northstar_contracts.registry import EVENTS
from services.feedback.application import FeedbackApplication
from services.feedback.index import FeedbackIndex


def when_person_departed_flag_their_requests(
    app: FeedbackApplication, index: FeedbackIndex, envelope: EventEnvelope
) -> int:
    departure = EVENTS.read(envelope)
    if not isinstance(departure, PersonDepartedV1):
        raise TypeError(f"not a departure: {envelope.type}")
    index.catch_up()
    tenant, person, leave_date = envelope.tenant_id, departure.person_id, departure.leave_date
    flagged = 0
    for request_id in index.open_requests_of(tenant, person):
        flagged += app.flag_departure(tenant, request_id, person, leave_date)
    for one_on_one_id in index.one_on_ones_of(tenant, person):
        flagged += app.flag_one_on_one_departure(tenant, one_on_one_id, person, leave_date)
    return flagged


class DeparturePolicy:
    """The EventConsumer apply function for the directory topic."""

    def __init__(self, app: FeedbackApplication, index: FeedbackIndex) -> None:
        self.app = app
        self.index = index

    async def apply(self, envelope: EventEnvelope) -> bool:
        if envelope.type != PERSON_DEPARTED:
            return True
        flagged = await asyncio.to_thread(
            when_person_departed_flag_their_requests, self.app, self.index, envelope
        )
        return flagged > 0
