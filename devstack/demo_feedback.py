"""The demo organisation's feedback and 1:1s: praise tagged with company values, constructive
and private feedback, a note to self, two closed 360s (one whose anonymous perspective reaches
the anonymity threshold, one whose perspectives do not) and 1:1 series with agendas and action
items, written through the feedback API by the people who would write them."""

# ruff: noqa: E501 (data tables read best one row per line)

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import grpc

from devstack.demo_writes import Writer
from northstar.feedback.v1 import feedback_pb2
from northstar.projections.v1 import projections_pb2

VALUES = ("Customer first", "Ownership", "Craft", "Candour")


@dataclass(frozen=True)
class GivenFeedback:
    giver: str
    recipient: str
    kind: str  # praise, constructive, note_to_self
    visibility: str  # public, private, private_with_manager, manager_only ("" for a note)
    text: str
    values: tuple[str, ...] = ()
    goal: str = ""  # goal key (devstack.demo_goals)


FEEDBACK = [
    GivenFeedback("lena.fischer", "tom.becker", "praise", "public", "The gateway cut-over was flawless: zero downtime and a clear runbook.", ("Ownership", "Craft"), "personal-tom.becker"),
    GivenFeedback("aisha.khan", "tom.becker", "praise", "public", "Thanks for pairing on the flaky deploy tests until they were green.", ("Craft",)),
    GivenFeedback("alex.morgan", "sofia.marin", "praise", "public", "The availability guardrail held through the busiest month of the year.", ("Customer first",), "availability"),
    GivenFeedback("marco.rossi", "julia.kowalski", "praise", "public", "Closing the Nordlicht deal under the raised target was outstanding.", ("Customer first", "Ownership"), "new-business"),
    GivenFeedback("hannah.berg", "maya.cohen", "praise", "public", "The new manager training got the best ratings we have ever had.", ("Craft",)),
    GivenFeedback("omar.haddad", "david.kim", "praise", "public", "Customers name you in their survey comments: thank you.", ("Customer first",)),
    GivenFeedback("lena.fischer", "jonas.weber", "constructive", "private_with_manager", "Design reviews go faster when the proposal is shared a day ahead.", ("Candour",)),
    GivenFeedback("chloe.dubois", "mia.jensen", "constructive", "private", "Let us agree the campaign numbers before they go to the leadership team.", ("Candour",)),
    GivenFeedback("tom.becker", "lena.fischer", "constructive", "manager_only", "Sprint goals change mid-sprint too often; the team loses focus.", ("Candour",)),
    GivenFeedback("lena.fischer", "tom.becker", "note_to_self", "", "Tom wants to lead the next migration: discuss at the 1:1."),
]  # fmt: skip

# 360s (requester, subject, reviewers). Tom's five peers reach the default anonymity threshold
# of 5, so the peer aggregate is shown; Lena's two peers and two reports do not, so only the
# named answers (self, manager) are.
THREE_SIXTIES = {
    "tom": ("lena.fischer", "tom.becker", ("tom.becker", "lena.fischer", "aisha.khan", "jonas.weber", "mei.lin", "pedro.alves", "sara.nilsson")),
    "lena": ("sofia.marin", "lena.fischer", ("lena.fischer", "sofia.marin", "ravi.patel", "yuki.tanaka", "tom.becker", "aisha.khan")),
}  # fmt: skip
STRENGTHS = ("Calm under pressure", "Clear written designs", "Helps everyone", "Owns problems end to end", "Strong debugging", "Thorough reviews", "Pragmatic choices")  # fmt: skip
GROWTH = ("Delegate more", "Say no more often", "Share plans earlier", "Speak up in planning", "Write more tests first", "Ask for help sooner", "Document decisions")  # fmt: skip


@dataclass(frozen=True)
class Series:
    manager: str
    report: str
    cadence: str  # weekly, every_two_weeks, monthly
    agenda: tuple[str, ...]
    # (owner, text, done): added before the first meeting is recorded, so the open ones carry
    # over to the next; the agenda is the next meeting's.
    actions: tuple[tuple[str, str, bool], ...]
    held_today: bool = True


ONE_ON_ONES = {
    "lena/tom": Series("lena.fischer", "tom.becker", "weekly", ("Leading the next migration", "On-call load after the cut-over"), (("tom.becker", "Write the migration runbook for the payments service", False), ("lena.fischer", "Ask Sofia about the architecture guild", True))),
    "lena/aisha": Series("lena.fischer", "aisha.khan", "every_two_weeks", ("Paging noise",), (("aisha.khan", "Propose alert thresholds for the gateway", False),)),
    "marco/julia": Series("marco.rossi", "julia.kowalski", "weekly", ("Pipeline for next quarter",), (("julia.kowalski", "Share the Nordlicht case study", False),), held_today=False),
}  # fmt: skip


class FeedbackLoader:
    """Writes the demo's feedback, requests and 1:1s; remembers ids and position tokens."""

    def __init__(
        self, writer: Writer, goal_ids: dict[str, str], roles: dict[str, str], today: date
    ) -> None:
        self.w, self.goal_ids, self.roles, self.today = writer, goal_ids, roles, today
        self.tokens: list[str] = []
        self.requests: dict[str, str] = {}
        self.one_on_ones: dict[str, str] = {}
        self.feedback_given = 0

    def _as(self, person: str) -> Any:
        return self.w.token(person, self.roles.get(person, "employee"))

    async def run(self) -> None:
        for item in FEEDBACK:
            await self.give(item)
        for key, (requester, subject, reviewers) in THREE_SIXTIES.items():
            await self.three_sixty(key, requester, subject, reviewers)
        for key, series in ONE_ON_ONES.items():
            await self.one_on_one(key, series)

    async def give(self, item: GivenFeedback) -> None:
        request = feedback_pb2.GiveFeedbackRequest(
            recipient_id=item.recipient,
            kind=getattr(feedback_pb2, f"FEEDBACK_KIND_{item.kind.upper()}"),
            visibility=getattr(
                feedback_pb2, f"FEEDBACK_VISIBILITY_{(item.visibility or 'unspecified').upper()}"
            ),
            text=item.text,
            goal_id=self.goal_ids.get(item.goal, ""),
            values=list(item.values),
        )
        given = await self.w.retrying(
            self.w.feedback.GiveFeedback, request, self._as(item.giver), WAITING_ON
        )
        self.tokens.append(given.position_token)
        self.feedback_given += 1

    async def three_sixty(
        self, key: str, requester: str, subject: str, reviewers: tuple[str, ...]
    ) -> None:
        created = await self.w.retrying(
            self.w.feedback.CreateFeedbackRequest,
            feedback_pb2.CreateFeedbackRequestRequest(
                subject_id=subject, kind=feedback_pb2.FEEDBACK_REQUEST_KIND_THREE_SIXTY,
                reviewer_ids=list(reviewers), due_date=self.today.isoformat(), anonymous=True,
            ),
            self._as(requester),
            WAITING_ON,
        )  # fmt: skip
        request = created.request
        for number, reviewer in enumerate(reviewers):
            answers = [
                feedback_pb2.Answer(question_id=q.question_id, rating=3 + (number + i) % 3)
                if q.kind == feedback_pb2.QUESTION_KIND_RATING
                else feedback_pb2.Answer(
                    question_id=q.question_id,
                    text=(STRENGTHS if i % 2 == 0 else GROWTH)[number % len(STRENGTHS)],
                )
                for i, q in enumerate(request.questions)
            ]
            await self.w.feedback.SubmitFeedbackAnswer(
                feedback_pb2.SubmitFeedbackAnswerRequest(
                    request_id=request.request_id, answers=answers
                ),
                metadata=self._as(reviewer),
            )
        closed = await self.w.feedback.CloseFeedbackRequest(
            feedback_pb2.CloseFeedbackRequestRequest(request_id=request.request_id),
            metadata=self._as(requester),
        )
        self.tokens.append(closed.position_token)
        self.requests[key] = request.request_id

    async def one_on_one(self, key: str, series: Series) -> None:
        manager = self._as(series.manager)
        scheduled = await self.w.retrying(
            self.w.feedback.ScheduleOneOnOne,
            feedback_pb2.ScheduleOneOnOneRequest(
                report_id=series.report,
                cadence=getattr(feedback_pb2, f"CADENCE_{series.cadence.upper()}"),
                start_date=self.today.isoformat(),
            ),
            manager,
            WAITING_ON,
        )
        series_id = scheduled.one_on_one.one_on_one_id
        stub, token = self.w.feedback, scheduled.position_token
        for owner, text, done in series.actions:
            added = await stub.AddActionItem(
                feedback_pb2.AddActionItemRequest(
                    one_on_one_id=series_id, owner_id=owner, text=text
                ),
                metadata=manager,
            )
            token = added.position_token
            if done:
                item_id = added.one_on_one.action_items[-1].item_id
                token = (
                    await stub.CompleteActionItem(
                        feedback_pb2.CompleteActionItemRequest(
                            one_on_one_id=series_id, item_id=item_id
                        ),
                        metadata=manager,
                    )
                ).position_token
        if series.held_today:
            # The first meeting took place: its open action items carry over to the next one.
            token = (
                await stub.RecordOneOnOneMeeting(
                    feedback_pb2.RecordOneOnOneMeetingRequest(
                        one_on_one_id=series_id, held_on=self.today.isoformat()
                    ),
                    metadata=manager,
                )
            ).position_token
        for number, text in enumerate(series.agenda):  # the next meeting's shared agenda
            author = self._as(series.report if number % 2 == 0 else series.manager)
            token = (
                await stub.AddAgendaItem(
                    feedback_pb2.AddAgendaItemRequest(one_on_one_id=series_id, text=text),
                    metadata=author,
                )
            ).position_token
        self.tokens.append(token)
        self.one_on_ones[key] = series_id

    async def wait_for_projections(self) -> None:
        await self.w.until_read(
            self.w.projections.GetFeedbackActivity,
            projections_pb2.GetFeedbackActivityRequest(
                team_id="dept-product", consistency_tokens=self.tokens
            ),
            self.w.token("hannah.berg", "hr_admin"),
        )


# The feedback service learns people, reporting lines and goals from the directory's and the
# goals service's events: until its replicas have them, a write naming them is refused.
WAITING_ON = frozenset({grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND})
