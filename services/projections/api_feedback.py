"""Feedback activity queries: the caller's view of a person's or a team's feedback activity,
through the same visibility rule as the feedback service."""

from __future__ import annotations

import asyncio
from datetime import date

from northstar.projections.v1 import projections_pb2 as pb
from northstar_contracts.hris import MAX_ID_LENGTH
from services.projections.api_support import ReadContext
from services.projections.feedback_activity import FEEDBACK_READ_MODEL, FeedbackTables
from services.projections.feedback_views import ActivityItem, activity, sees_one_on_ones
from services.projections.protobuf_mapping import FEEDBACK_ITEM_ACCESS
from services.projections.versions import table_prefix
from services.shared.auth import current_principal
from services.shared.directory_replica import DirectoryReplica
from services.shared.errors import InvalidArgument
from services.shared.feedback_visibility import Viewer
from services.shared.validation import parse_optional_date, reject_control_characters


def validated_period(request: pb.GetFeedbackActivityRequest) -> tuple[date | None, date | None]:
    """The request's period, after its person and team ids are checked as the directory checks
    ids: an id the directory could never hold is refused by name, not echoed back."""
    for field in ("person_id", "team_id"):
        value: str = getattr(request, field)
        if len(value) > MAX_ID_LENGTH:
            raise InvalidArgument(f"must be at most {MAX_ID_LENGTH} characters", field=field)
        reject_control_characters(value, field)
    start = parse_optional_date(request.period_start, "period_start")
    end = parse_optional_date(request.period_end, "period_end")
    if start is not None and end is not None and end < start:
        raise InvalidArgument(f"{end} is before period_start {start}", field="period_end")
    return start, end


class FeedbackQueries:
    def __init__(self, context: ReadContext, directory: DirectoryReplica) -> None:
        self.context = context
        self.directory = directory

    async def activity(self, request: pb.GetFeedbackActivityRequest) -> pb.FeedbackActivity:
        principal = current_principal()
        start, end = validated_period(request)
        await self.context.wait(principal, request.consistency_tokens)
        tenant = principal.tenant_id
        tables = FeedbackTables(table_prefix(self.context.live.live_name(FEEDBACK_READ_MODEL)))
        directory = self.directory

        def viewer_for(recipient_id: str) -> Viewer:
            recipient = directory.person(tenant, recipient_id)
            manages = recipient is not None and recipient.manager_id == principal.subject
            return Viewer(tenant, principal.subject, principal.roles, manages)

        def query() -> pb.FeedbackActivity:
            if request.team_id:
                people = directory.team_members(tenant, request.team_id)
            else:
                people = [request.person_id or principal.subject]
            me = Viewer(tenant, principal.subject, principal.roles)
            found = activity(
                self.context.db,
                tables,
                tenant_id=tenant,
                people=people,
                start=start,
                end=end,
                viewer_for=viewer_for,
                sees_one_on_ones_of=lambda person: sees_one_on_ones(
                    me, person, directory.manager_chain(tenant, person)
                ),
            )
            return pb.FeedbackActivity(
                people=[
                    pb.PersonFeedbackActivity(
                        person_id=p.person_id,
                        given=p.given,
                        received=p.received,
                        requests_answered=p.requests_answered,
                        last_one_on_one=p.last_one_on_one,
                        overdue_one_on_ones=p.overdue_one_on_ones,
                    )
                    for p in found.people
                ],
                feedback=[_item(i) for i in found.items],
                recognition_feed=[_item(i) for i in found.recognition],
            )

        return await asyncio.to_thread(query)


def _item(item: ActivityItem) -> pb.FeedbackItem:
    return pb.FeedbackItem(
        feedback_id=item.feedback_id,
        giver_id=item.giver_id,
        recipient_id=item.recipient_id,
        kind=item.kind,
        visibility=item.visibility,
        goal_id=item.goal_id,
        values=item.values,
        text=item.text,
        given_at=item.given_at,
        retracted=item.retracted,
        access=FEEDBACK_ITEM_ACCESS.to_proto(item.access),
    )
