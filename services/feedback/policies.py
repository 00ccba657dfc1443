"""Reactions of the feedback service to other services' events.

when_person_departed_flag_their_requests: a person left (directory.PersonDeparted), so each open
request they made or that is about them records FeedbackRequestFlagged, once.
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
    flagged = 0
    for request in index.open_requests(envelope.tenant_id):
        if departure.person_id in (request.requester_id, request.subject_id):
            flagged += app.flag_departure(
                envelope.tenant_id, request.request_id, departure.person_id, departure.leave_date
            )
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
