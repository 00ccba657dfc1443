"""The 1:1 RPCs of the feedback API: schedule, read, agenda, private notes, action items and
meetings; each command once per client request id."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf.message import Message

from northstar.feedback.v1 import feedback_pb2 as pb
from services.feedback.one_on_one_cases import OneOnOneResult
from services.feedback.one_on_ones import OneOnOne
from services.feedback.protobuf_mapping import (
    CADENCES,
    listed_one_on_one_message,
    one_on_one_message,
)
from services.feedback.rpc_base import CommandRpcs, Context, Replay, T, in_thread, page_offset
from services.shared.auth import Principal, current_principal
from services.shared.validation import (
    page_size,
    parse_date,
    parse_uuid,
    reject_control_characters,
)


class OneOnOneRpcs(CommandRpcs):
    def _one_on_one_again(self, respond: Callable[..., T], principal: Principal) -> Replay[T]:
        def again(result: Mapping[str, Any]) -> T:
            recorded = self.app.recorded(OneOnOne, principal, result)
            return respond(
                one_on_one=self._one_on_one(recorded, principal.subject),
                position_token=recorded[1].position_token,
            )

        return again

    def _one_on_one(self, result: OneOnOneResult, caller: str) -> pb.OneOnOne:
        return one_on_one_message(result[0], caller, self.app.today())

    async def _one_on_one_command(
        self,
        principal: Principal,
        request: Message,
        respond: Callable[..., T],
        change: Callable[[], OneOnOneResult],
    ) -> T:
        """Every 1:1 command: `change` once per request id, answered with the 1:1 as the caller
        sees it and the position token."""

        def run() -> T:
            result = change()
            return respond(
                one_on_one=self._one_on_one(result, principal.subject),
                position_token=result[1].position_token,
            )

        again = self._one_on_one_again(respond, principal)
        return await self._once(principal, request, run, again)

    async def ScheduleOneOnOne(  # noqa: N802
        self, request: pb.ScheduleOneOnOneRequest, context: Context
    ) -> pb.ScheduleOneOnOneResponse:
        principal = current_principal()
        cadence = CADENCES.from_request(request.cadence, "cadence")
        start = parse_date(request.start_date, "start_date")
        return await self._one_on_one_command(
            principal,
            request,
            pb.ScheduleOneOnOneResponse,
            lambda: self.app.schedule_one_on_one(
                principal,
                manager_id=request.manager_id,
                report_id=request.report_id,
                cadence=cadence,
                start_date=start,
            ),
        )

    async def GetOneOnOne(  # noqa: N802
        self, request: pb.GetOneOnOneRequest, context: Context
    ) -> pb.OneOnOne:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        found = await in_thread(lambda: self.app.get_one_on_one(principal, one_on_one_id))
        return one_on_one_message(found, principal.subject, self.app.today())

    async def ListOneOnOnes(  # noqa: N802
        self, request: pb.ListOneOnOnesRequest, context: Context
    ) -> pb.ListOneOnOnesResponse:
        principal = current_principal()
        limit, offset = page_size(request.page_size), page_offset(request.page_token)
        # Looked up in the index: a NUL would break a PostgreSQL text parameter.
        person_id = reject_control_characters(request.person_id, "person_id")
        listed, more = await in_thread(
            lambda: self.app.list_one_on_ones(principal, person_id, offset=offset, limit=limit)
        )
        today = self.app.today()
        return pb.ListOneOnOnesResponse(
            one_on_ones=[listed_one_on_one_message(item, today) for item in listed],
            next_page_token=str(offset + len(listed)) if more else "",
        )

    async def AddAgendaItem(  # noqa: N802
        self, request: pb.AddAgendaItemRequest, context: Context
    ) -> pb.AddAgendaItemResponse:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        return await self._one_on_one_command(
            principal,
            request,
            pb.AddAgendaItemResponse,
            lambda: self.app.add_agenda_item(principal, one_on_one_id, request.text),
        )

    async def AddPrivateNote(  # noqa: N802
        self, request: pb.AddPrivateNoteRequest, context: Context
    ) -> pb.AddPrivateNoteResponse:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        return await self._one_on_one_command(
            principal,
            request,
            pb.AddPrivateNoteResponse,
            lambda: self.app.add_private_note(principal, one_on_one_id, request.text),
        )

    async def AddActionItem(  # noqa: N802
        self, request: pb.AddActionItemRequest, context: Context
    ) -> pb.AddActionItemResponse:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        return await self._one_on_one_command(
            principal,
            request,
            pb.AddActionItemResponse,
            lambda: self.app.add_action_item(
                principal, one_on_one_id, request.owner_id, request.text
            ),
        )

    async def CompleteActionItem(  # noqa: N802
        self, request: pb.CompleteActionItemRequest, context: Context
    ) -> pb.CompleteActionItemResponse:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        item_id = parse_uuid(request.item_id, "item_id")
        return await self._one_on_one_command(
            principal,
            request,
            pb.CompleteActionItemResponse,
            lambda: self.app.complete_action_item(principal, one_on_one_id, item_id),
        )

    async def RecordOneOnOneMeeting(  # noqa: N802
        self, request: pb.RecordOneOnOneMeetingRequest, context: Context
    ) -> pb.RecordOneOnOneMeetingResponse:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        held_on = parse_date(request.held_on, "held_on")
        return await self._one_on_one_command(
            principal,
            request,
            pb.RecordOneOnOneMeetingResponse,
            lambda: self.app.record_meeting(principal, one_on_one_id, held_on),
        )
