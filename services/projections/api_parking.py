"""Parked events over gRPC: list them (per tenant), retry an aggregate, skip one event."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from northstar.projections.v1 import projections_pb2
from services.projections.api_support import Page
from services.projections.authorization import ParkingAction, require_parking_operator
from services.projections.operator_requests import OperatorRequests
from services.projections.protobuf_mapping import READ_MODELS
from services.shared.auth import current_principal
from services.shared.errors import InvalidArgument, NotFound
from services.shared.parking import HELD, PARKED, ParkedEvent
from services.shared.sequencing import Outcome, SequencedLedger
from services.shared.validation import reject_control_characters

MAX_ID_LENGTH = 200
MAX_REASON_LENGTH = 500

LedgerOf = Callable[[str], SequencedLedger]


def _text(value: str, field: str, limit: int, *, required: bool) -> str:
    if required and not value.strip():
        raise InvalidArgument("is required", field=field)
    if len(value) > limit:
        raise InvalidArgument(f"must be at most {limit} characters", field=field)
    return reject_control_characters(value, field)


class ParkingOperations:
    def __init__(self, ledger_of: LedgerOf, requests: OperatorRequests) -> None:
        self.ledger_of = ledger_of
        self.requests = requests

    async def list(
        self, request: projections_pb2.ListParkedEventsRequest
    ) -> projections_pb2.ListParkedEventsResponse:
        tenant = require_parking_operator(current_principal(), ParkingAction.LIST)
        ledger = self.ledger_of(READ_MODELS.from_request(request.read_model, "read_model"))
        aggregate_id = _text(request.aggregate_id, "aggregate_id", MAX_ID_LENGTH, required=False)
        page = Page.of(request.page_size, request.page_token)
        events = await asyncio.to_thread(
            ledger.parked_events,
            tenant_id=tenant,
            aggregate_id=aggregate_id,
            limit=page.offset + page.limit + 1,
        )
        shown, next_token = page.slice(events)
        return projections_pb2.ListParkedEventsResponse(
            events=[_to_proto(ledger.projection, event) for event in shown],
            next_page_token=next_token,
        )

    async def retry(
        self, request: projections_pb2.RetryParkedEventsRequest
    ) -> projections_pb2.ParkedEventsOutcome:
        tenant = require_parking_operator(current_principal(), ParkingAction.RETRY)
        ledger = self.ledger_of(READ_MODELS.from_request(request.read_model, "read_model"))
        aggregate_id = _text(request.aggregate_id, "aggregate_id", MAX_ID_LENGTH, required=True)

        async def run() -> projections_pb2.ParkedEventsOutcome:
            await self._require_tenant(ledger, tenant, aggregate_id)
            outcome = await asyncio.to_thread(ledger.retry, aggregate_id)
            return await self._outcome(ledger, aggregate_id, outcome)

        return await self.requests.once("RetryParkedEvents", request, run, _result, _replay)

    async def skip(
        self, request: projections_pb2.SkipParkedEventRequest
    ) -> projections_pb2.ParkedEventsOutcome:
        principal = current_principal()
        tenant = require_parking_operator(principal, ParkingAction.SKIP)
        ledger = self.ledger_of(READ_MODELS.from_request(request.read_model, "read_model"))
        aggregate_id = _text(request.aggregate_id, "aggregate_id", MAX_ID_LENGTH, required=True)
        event_id = _text(request.event_id, "event_id", MAX_ID_LENGTH, required=True)
        reason = _text(request.reason, "reason", MAX_REASON_LENGTH, required=True)

        async def run() -> projections_pb2.ParkedEventsOutcome:
            await self._require_tenant(ledger, tenant, aggregate_id)
            outcome = await asyncio.to_thread(
                ledger.skip, aggregate_id, event_id, reason, principal.subject
            )
            return await self._outcome(ledger, aggregate_id, outcome)

        # A retry after the skip finds nothing parked: it answers the recorded outcome.
        return await self.requests.once("SkipParkedEvent", request, run, _result, _replay)

    @staticmethod
    async def _require_tenant(ledger: SequencedLedger, tenant: str, aggregate_id: str) -> None:
        """Another tenant's parked aggregate answers exactly like one with nothing parked."""
        mine = await asyncio.to_thread(
            ledger.parked_events, tenant_id=tenant, aggregate_id=aggregate_id, limit=1
        )
        if not mine:
            raise NotFound(f"no parked events of {aggregate_id}", field="aggregate_id")

    @staticmethod
    async def _outcome(
        ledger: SequencedLedger, aggregate_id: str, outcome: Outcome
    ) -> projections_pb2.ParkedEventsOutcome:
        left = await asyncio.to_thread(ledger.parked_events, aggregate_id=aggregate_id)
        return projections_pb2.ParkedEventsOutcome(
            applied=len(outcome.applied),
            skipped=outcome.skipped,
            still_parked=sum(1 for event in left if event.state == PARKED),
            still_held=sum(1 for event in left if event.state == HELD),
        )


def _result(outcome: projections_pb2.ParkedEventsOutcome) -> Mapping[str, Any]:
    """What a request record keeps of an outcome: its counts."""
    return {
        "applied": outcome.applied,
        "skipped": outcome.skipped,
        "still_parked": outcome.still_parked,
        "still_held": outcome.still_held,
    }


async def _replay(result: Mapping[str, Any]) -> projections_pb2.ParkedEventsOutcome:
    return projections_pb2.ParkedEventsOutcome(**{name: int(n) for name, n in result.items()})


def _to_proto(version: str, event: ParkedEvent) -> projections_pb2.ParkedEvent:
    return projections_pb2.ParkedEvent(
        aggregate_id=event.aggregate_id,
        aggregate_version=event.version,
        event_id=event.event_id,
        event_type=event.event_type,
        state=event.state,
        kind=event.kind,
        reason=event.reason,
        applied_event_id=event.applied_event_id,
        source=event.source,
        arrived_at=event.arrived_at,
        read_model_version=version,
    )
