"""The feedback service in the running system (directory, goals, feedback, projections) on real
Kafka, started once for the module: the visibility matrix through gRPC and in the projections'
activity view (waited for by position token), precise errors for bad input, and anonymous
answers that never reach the real topic."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiokafka import AIOKafkaConsumer

from northstar.directory.v1 import directory_pb2, directory_pb2_grpc
from northstar.feedback.v1 import feedback_pb2 as pb
from northstar.feedback.v1 import feedback_pb2_grpc
from northstar.goals.v1 import goals_pb2, goals_pb2_grpc
from northstar.projections.v1 import projections_pb2, projections_pb2_grpc
from northstar_contracts.envelope import EventEnvelope
from services.directory.__main__ import DirectoryService, start_directory_service
from services.feedback.__main__ import FeedbackService, start_feedback_service
from services.goals.__main__ import GoalsService, start_goals_service
from services.projections.__main__ import ProjectionsService, start_projections_service
from services.shared.canonical import utc_now
from services.shared.grpc_server import error_details
from tests.feedback_support import ORGANISATION
from tests.integration.conftest import FAST_RETRY, bearer, system_settings
from tests.waiting import eventually

pytestmark = pytest.mark.kafka

TEAMS = ("team-top", "team-b", "team-a")
VIEWERS = (
    "giver-1",
    "recipient-1",
    "manager-1",
    "skip-1",
    "peer-1",
    "hr-1",
    "auditor-1",
    "integration-1",
)
VISIBILITIES = {
    "public": pb.FEEDBACK_VISIBILITY_PUBLIC,
    "private": pb.FEEDBACK_VISIBILITY_PRIVATE,
    "private_with_manager": pb.FEEDBACK_VISIBILITY_PRIVATE_WITH_MANAGER,
    "manager_only": pb.FEEDBACK_VISIBILITY_MANAGER_ONLY,
    "giver_only": pb.FEEDBACK_VISIBILITY_GIVER_ONLY,
}
# The matrix of docs/feedback.md, written out here on its own: F full, M metadata, - none.
EXPECTED = {
    #                 public private p+manager manager-only giver-only
    "giver-1":       ("F",   "F",    "F",      "F",         "F"),
    "recipient-1":   ("F",   "F",    "F",      "-",         "-"),
    "manager-1":     ("F",   "-",    "F",      "F",         "-"),
    "skip-1":        ("F",   "-",    "-",      "-",         "-"),
    "peer-1":        ("F",   "-",    "-",      "-",         "-"),
    "hr-1":          ("F",   "M",    "M",      "M",         "M"),
    "auditor-1":     ("M",   "M",    "M",      "M",         "M"),
    "integration-1": ("F",   "M",    "M",      "M",         "M"),
}  # fmt: skip


def who(person_id: str, tenant: str = "acme") -> tuple[tuple[str, str]]:
    return bearer(person_id, sorted(ORGANISATION[person_id][2]), tenant)


@dataclass
class System:
    directory: DirectoryService
    goals: GoalsService
    feedback: FeedbackService
    projections: ProjectionsService
    channels: dict[str, grpc.aio.Channel]
    kafka: str

    @property
    def stub(self) -> feedback_pb2_grpc.FeedbackServiceAsyncStub:
        return feedback_pb2_grpc.FeedbackServiceStub(self.channels["feedback"])

    @property
    def projections_stub(self) -> projections_pb2_grpc.ProjectionServiceAsyncStub:
        return projections_pb2_grpc.ProjectionServiceStub(self.channels["projections"])

    @property
    def goals_stub(self) -> goals_pb2_grpc.GoalServiceAsyncStub:
        return goals_pb2_grpc.GoalServiceStub(self.channels["goals"])


@pytest.fixture(scope="module")
async def system(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap_servers: str
) -> AsyncIterator[System]:
    folder: Path = tmp_path_factory.mktemp("feedback-system")
    settings = system_settings("sqlite", folder, kafka_bootstrap_servers)
    directory = await start_directory_service(settings, retry=FAST_RETRY)
    goals = await start_goals_service(settings, retry=FAST_RETRY)
    feedback = await start_feedback_service(settings, retry=FAST_RETRY)
    projections = await start_projections_service(
        settings, group_id=f"projections-{uuid.uuid4().hex[:8]}", retry=FAST_RETRY
    )
    ports = {
        "directory": directory.runtime.grpc_port,
        "goals": goals.runtime.grpc_port,
        "feedback": feedback.runtime.grpc_port,
        "projections": projections.runtime.grpc_port,
    }
    channels = {
        name: grpc.aio.insecure_channel(f"127.0.0.1:{port}") for name, port in ports.items()
    }
    running = System(directory, goals, feedback, projections, channels, kafka_bootstrap_servers)
    try:
        stub = directory_pb2_grpc.DirectoryServiceStub(channels["directory"])
        for team in TEAMS:
            await stub.UpsertTeam(
                directory_pb2.UpsertTeamRequest(team_id=team, name=team), metadata=who("hr-1")
            )
        for person_id, (manager_id, team_id, _roles) in ORGANISATION.items():
            await stub.UpsertPerson(
                directory_pb2.UpsertPersonRequest(
                    person_id=person_id,
                    name=person_id,
                    email=f"{person_id}@acme.example",
                    team_id=team_id,
                    manager_id=manager_id,
                ),
                metadata=who("hr-1"),
            )

        def replicated() -> bool:
            return all(
                r.person("acme", "integration-1") is not None
                for r in (feedback.replica, projections.replica)
            )

        await eventually(replicated, within_seconds=60, what="the directory in both replicas")
        yield running
    finally:
        for channel in channels.values():
            await channel.close(None)
        await projections.runtime.stop()
        await feedback.stop()
        await goals.stop()
        await directory.stop()
        projections.db.close()


def access_of(level: int) -> str:
    return "F" if level == pb.FEEDBACK_ACCESS_FULL else "M"


async def give_one_of_each(system: System, text: str) -> tuple[list[str], list[str]]:
    ids, tokens = [], []
    for name, visibility in VISIBILITIES.items():
        kind = pb.FEEDBACK_KIND_NOTE_TO_SELF if name == "giver_only" else pb.FEEDBACK_KIND_PRAISE
        response = await system.stub.GiveFeedback(
            pb.GiveFeedbackRequest(
                recipient_id="recipient-1",
                kind=kind,
                visibility=visibility,
                text=f"{text} ({name})",
                values=["ownership"],
            ),
            metadata=who("giver-1"),
        )
        ids.append(response.feedback.feedback_id)
        tokens.append(response.position_token)
    return ids, tokens


async def test_visibility_matrix_through_grpc(system: System) -> None:
    ids, _ = await give_one_of_each(system, "matrix")
    for viewer in VIEWERS:
        seen: list[str] = []
        for feedback_id, name in zip(ids, VISIBILITIES, strict=True):
            try:
                found = await system.stub.GetFeedback(
                    pb.GetFeedbackRequest(feedback_id=feedback_id), metadata=who(viewer)
                )
            except grpc.aio.AioRpcError as error:
                seen.append("-" if error.code() == grpc.StatusCode.NOT_FOUND else error.code().name)
                continue
            level = access_of(found.access)
            assert (found.text == f"matrix ({name})") == (level == "F"), (viewer, name)
            seen.append(level)
        assert tuple(seen) == EXPECTED[viewer], viewer


async def test_the_same_matrix_in_the_projections_activity_view(system: System) -> None:
    ids, tokens = await give_one_of_each(system, "view")
    for viewer in VIEWERS:
        activity = await system.projections_stub.GetFeedbackActivity(
            projections_pb2.GetFeedbackActivityRequest(
                person_id="recipient-1", consistency_tokens=tokens
            ),
            metadata=who(viewer),
        )
        items = {item.feedback_id: item for item in activity.feedback}
        seen = []
        for feedback_id, name in zip(ids, VISIBILITIES, strict=True):
            item = items.get(feedback_id)
            if item is None:
                seen.append("-")
                continue
            full = item.access == projections_pb2.FEEDBACK_ITEM_ACCESS_FULL
            seen.append("F" if full else "M")
            # Only public text is ever in the view; private texts stay in the service.
            assert (item.text == f"view ({name})") == (full and name == "public"), (viewer, name)
        assert tuple(seen) == EXPECTED[viewer], viewer
        received = next(p for p in activity.people if p.person_id == "recipient-1").received
        assert received >= sum(1 for level in EXPECTED[viewer] if level != "-")


async def test_praise_reaches_the_recognition_feed_and_a_retraction_takes_it_out(
    system: System,
) -> None:
    given = await system.stub.GiveFeedback(
        pb.GiveFeedbackRequest(
            recipient_id="peer-2",
            kind=pb.FEEDBACK_KIND_PRAISE,
            visibility=pb.FEEDBACK_VISIBILITY_PUBLIC,
            text="shipped the launch",
            values=["craft"],
        ),
        metadata=who("peer-1"),
    )
    request = projections_pb2.GetFeedbackActivityRequest(
        person_id="peer-2", consistency_tokens=[given.position_token]
    )
    activity = await system.projections_stub.GetFeedbackActivity(request, metadata=who("skip-1"))
    assert [i.text for i in activity.recognition_feed] == ["shipped the launch"]
    retracted = await system.stub.RetractFeedback(
        pb.RetractFeedbackRequest(feedback_id=given.feedback.feedback_id), metadata=who("peer-1")
    )
    assert retracted.feedback.text == ""
    assert retracted.feedback.retracted
    request = projections_pb2.GetFeedbackActivityRequest(
        person_id="peer-2", consistency_tokens=[retracted.position_token]
    )
    activity = await system.projections_stub.GetFeedbackActivity(request, metadata=who("skip-1"))
    assert list(activity.recognition_feed) == []
    assert [(i.text, i.retracted) for i in activity.feedback] == [("", True)]
    history = await system.projections_stub.GetAuditHistory(
        projections_pb2.GetAuditHistoryRequest(aggregate_id=given.feedback.feedback_id),
        metadata=who("auditor-1"),
    )
    assert [e.event_type for e in history.entries] == [
        "feedback.FeedbackGiven",
        "feedback.FeedbackRetracted",
    ]
    assert "shipped the launch" not in str(history)  # the audit history holds metadata only


async def test_visibility_is_never_widened(system: System) -> None:
    given = await system.stub.GiveFeedback(
        pb.GiveFeedbackRequest(
            recipient_id="recipient-1",
            kind=pb.FEEDBACK_KIND_CONSTRUCTIVE,
            visibility=pb.FEEDBACK_VISIBILITY_PRIVATE_WITH_MANAGER,
            text="slow down in reviews",
        ),
        metadata=who("giver-1"),
    )
    narrowed = await system.stub.NarrowFeedbackVisibility(
        pb.NarrowFeedbackVisibilityRequest(
            feedback_id=given.feedback.feedback_id, visibility=pb.FEEDBACK_VISIBILITY_PRIVATE
        ),
        metadata=who("giver-1"),
    )
    assert narrowed.feedback.visibility == pb.FEEDBACK_VISIBILITY_PRIVATE
    for wider in (pb.FEEDBACK_VISIBILITY_PUBLIC, pb.FEEDBACK_VISIBILITY_MANAGER_ONLY):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await system.stub.NarrowFeedbackVisibility(
                pb.NarrowFeedbackVisibilityRequest(
                    feedback_id=given.feedback.feedback_id, visibility=wider
                ),
                metadata=who("giver-1"),
            )
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "visibility" in error_details(refused.value)


def _due(days: int = 7) -> str:
    return (utc_now().date() + timedelta(days=days)).isoformat()


BAD_INPUT: list[tuple[str, str, Any, grpc.StatusCode, str]] = [
    ("to oneself", "GiveFeedback", pb.GiveFeedbackRequest(
        recipient_id="giver-1", kind=pb.FEEDBACK_KIND_PRAISE,
        visibility=pb.FEEDBACK_VISIBILITY_PUBLIC, text="me"),
     grpc.StatusCode.INVALID_ARGUMENT, "recipient_id"),
    ("empty text", "GiveFeedback", pb.GiveFeedbackRequest(
        recipient_id="peer-1", kind=pb.FEEDBACK_KIND_PRAISE,
        visibility=pb.FEEDBACK_VISIBILITY_PUBLIC, text="   "),
     grpc.StatusCode.INVALID_ARGUMENT, "text"),
    ("oversized text", "GiveFeedback", pb.GiveFeedbackRequest(
        recipient_id="peer-1", kind=pb.FEEDBACK_KIND_PRAISE,
        visibility=pb.FEEDBACK_VISIBILITY_PUBLIC, text="x" * 4001),
     grpc.StatusCode.INVALID_ARGUMENT, "text"),
    ("unknown person", "GiveFeedback", pb.GiveFeedbackRequest(
        recipient_id="nobody", kind=pb.FEEDBACK_KIND_PRAISE,
        visibility=pb.FEEDBACK_VISIBILITY_PUBLIC, text="hi"),
     grpc.StatusCode.NOT_FOUND, "recipient_id"),
    ("unknown goal", "GiveFeedback", pb.GiveFeedbackRequest(
        recipient_id="peer-1", kind=pb.FEEDBACK_KIND_PRAISE,
        visibility=pb.FEEDBACK_VISIBILITY_PUBLIC, text="hi", goal_id=str(uuid.uuid4())),
     grpc.StatusCode.NOT_FOUND, "goal_id"),
    ("no visibility", "GiveFeedback", pb.GiveFeedbackRequest(
        recipient_id="peer-1", kind=pb.FEEDBACK_KIND_PRAISE, text="hi"),
     grpc.StatusCode.INVALID_ARGUMENT, "visibility"),
    ("no reviewers", "CreateFeedbackRequest", pb.CreateFeedbackRequestRequest(
        kind=pb.FEEDBACK_REQUEST_KIND_GENERAL, due_date=_due()),
     grpc.StatusCode.INVALID_ARGUMENT, "reviewer_ids"),
    ("unknown reviewer", "CreateFeedbackRequest", pb.CreateFeedbackRequestRequest(
        kind=pb.FEEDBACK_REQUEST_KIND_GENERAL, due_date=_due(), reviewer_ids=["peer-1", "ghost"]),
     grpc.StatusCode.NOT_FOUND, "reviewer_ids[1]"),
    ("due in the past", "CreateFeedbackRequest", pb.CreateFeedbackRequestRequest(
        kind=pb.FEEDBACK_REQUEST_KIND_GENERAL, due_date=_due(-3), reviewer_ids=["peer-1"]),
     grpc.StatusCode.INVALID_ARGUMENT, "due_date"),
    ("threshold below 3", "UpdateFeedbackSettings", pb.UpdateFeedbackSettingsRequest(
        anonymity_threshold=2),
     grpc.StatusCode.INVALID_ARGUMENT, "anonymity_threshold"),
    ("cadence start in the past", "ScheduleOneOnOne", pb.ScheduleOneOnOneRequest(
        report_id="giver-1", cadence=pb.CADENCE_WEEKLY, start_date=_due(-1)),
     grpc.StatusCode.INVALID_ARGUMENT, "start_date"),
    ("no cadence", "ScheduleOneOnOne", pb.ScheduleOneOnOneRequest(
        report_id="giver-1", start_date=_due()),
     grpc.StatusCode.INVALID_ARGUMENT, "cadence"),
    ("template without questions", "DefineQuestionTemplate", pb.DefineQuestionTemplateRequest(
        name="Empty"),
     grpc.StatusCode.INVALID_ARGUMENT, "questions"),
    ("template scale inverted", "DefineQuestionTemplate", pb.DefineQuestionTemplateRequest(
        name="Backwards", questions=[pb.Question(
            kind=pb.QUESTION_KIND_RATING, prompt="Listens?", scale_min=5, scale_max=1)]),
     grpc.StatusCode.INVALID_ARGUMENT, "questions[0].scale_max"),
    ("template too long", "DefineQuestionTemplate", pb.DefineQuestionTemplateRequest(
        name="Long", questions=[pb.Question(kind=pb.QUESTION_KIND_TEXT, prompt="Why?")] * 31),
     grpc.StatusCode.INVALID_ARGUMENT, "questions"),
    ("unknown template", "CreateFeedbackRequest", pb.CreateFeedbackRequestRequest(
        kind=pb.FEEDBACK_REQUEST_KIND_GENERAL, due_date=_due(), reviewer_ids=["peer-1"],
        template_id=str(uuid.uuid4())),
     grpc.StatusCode.NOT_FOUND, "template_id"),
]  # fmt: skip
CALLER = {
    "UpdateFeedbackSettings": "hr-1",
    "ScheduleOneOnOne": "manager-1",
    "DefineQuestionTemplate": "hr-1",
}


@pytest.mark.parametrize(
    ("case", "rpc", "request_message", "code", "field"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT]
)
async def test_bad_input_gets_a_precise_error_and_stores_nothing(
    system: System, case: str, rpc: str, request_message: Any, code: grpc.StatusCode, field: str
) -> None:
    stored_before = system.feedback.app.recorder.max_notification_id()
    caller = CALLER.get(rpc, "giver-1")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await getattr(system.stub, rpc)(request_message, metadata=who(caller))
    assert refused.value.code() == code, refused.value.details()
    assert field in error_details(refused.value), error_details(refused.value)
    assert system.feedback.app.recorder.max_notification_id() == stored_before


async def test_another_tenants_ids_are_not_found(system: System) -> None:
    given = await system.stub.GiveFeedback(
        pb.GiveFeedbackRequest(
            recipient_id="peer-1",
            kind=pb.FEEDBACK_KIND_PRAISE,
            visibility=pb.FEEDBACK_VISIBILITY_PUBLIC,
            text="thanks",
        ),
        metadata=who("giver-1"),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await system.stub.GetFeedback(
            pb.GetFeedbackRequest(feedback_id=given.feedback.feedback_id),
            metadata=bearer("hr-1", ["hr_admin"], "globex"),
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert "feedback_id" in error_details(refused.value)


async def test_feedback_about_a_goal_learnt_from_the_goals_topic(system: System) -> None:
    goal = await system.goals_stub.CreateGoal(
        goals_pb2.CreateGoalRequest(title="Ship the beta", start_date="2026-01-01"),
        metadata=who("recipient-1"),
    )
    goal_id = goal.goal.id
    await eventually(
        lambda: system.feedback.goal_ids.exists("acme", uuid.UUID(goal_id)),
        within_seconds=30,
        what="the goal id in the feedback service",
    )
    given = await system.stub.GiveFeedback(
        pb.GiveFeedbackRequest(
            recipient_id="recipient-1",
            kind=pb.FEEDBACK_KIND_PRAISE,
            visibility=pb.FEEDBACK_VISIBILITY_PUBLIC,
            text="great beta",
            goal_id=goal_id,
        ),
        metadata=who("giver-1"),
    )
    assert given.feedback.goal_id == goal_id


async def _topic(system: System) -> list[EventEnvelope]:
    topic = system.feedback.relay.topic
    expected = system.feedback.app.recorder.max_notification_id() or 0
    await eventually(lambda: system.feedback.relay.published_position() >= expected, what="relay")
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=system.kafka, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    envelopes: dict[int, EventEnvelope] = {}
    try:
        async with asyncio.timeout(30):
            while len(envelopes) < expected:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    for record in batch:
                        envelope = EventEnvelope.from_json_bytes(record.value)
                        envelopes[envelope.sequence] = envelope
    finally:
        await consumer.stop()
    return [envelopes[s] for s in sorted(envelopes)]


def _read_metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
        return str(response.read().decode())


async def test_anonymous_answers_never_reach_the_topic_or_the_metrics(system: System) -> None:
    await system.stub.UpdateFeedbackSettings(
        pb.UpdateFeedbackSettingsRequest(anonymity_threshold=3), metadata=who("hr-1")
    )
    created = await system.stub.CreateFeedbackRequest(
        pb.CreateFeedbackRequestRequest(
            kind=pb.FEEDBACK_REQUEST_KIND_THREE_SIXTY,
            due_date=_due(),
            reviewer_ids=["peer-1", "peer-2", "peer-3", "giver-1", "report-1", "report-2"],
            anonymous=True,
        ),
        metadata=who("recipient-1"),
    )
    request = created.request
    secrets = {}
    for position, reviewer in enumerate(["peer-1", "peer-2", "peer-3", "report-1"]):
        secret = f"secret-{uuid.uuid4().hex[:10]}"
        secrets[reviewer] = secret
        answers = [
            pb.Answer(question_id=q.question_id, rating=3 + position % 2)
            if q.kind == pb.QUESTION_KIND_RATING
            else pb.Answer(question_id=q.question_id, text=secret)
            for q in request.questions
        ]
        await system.stub.SubmitFeedbackAnswer(
            pb.SubmitFeedbackAnswerRequest(request_id=request.request_id, answers=answers),
            metadata=who(reviewer),
        )
    with pytest.raises(grpc.aio.AioRpcError) as early:
        await system.stub.GetFeedbackRequestResults(
            pb.GetFeedbackRequestResultsRequest(request_id=request.request_id),
            metadata=who("recipient-1"),
        )
    assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await system.stub.CloseFeedbackRequest(
        pb.CloseFeedbackRequestRequest(request_id=request.request_id), metadata=who("recipient-1")
    )
    results = await system.stub.GetFeedbackRequestResults(
        pb.GetFeedbackRequestResultsRequest(request_id=request.request_id),
        metadata=who("recipient-1"),
    )
    # Three peers reached the threshold of 3; one direct report did not: absent, as if none.
    assert [(a.perspective, a.answer_count) for a in results.aggregates] == [
        (pb.PERSPECTIVE_PEER, 3)
    ]
    envelopes = [e for e in await _topic(system) if e.aggregate_id == request.request_id]
    assert [e.type for e in envelopes] == [
        "feedback.FeedbackRequestCreated",
        "feedback.FeedbackRequestClosed",
    ]
    closed = envelopes[-1].data
    assert [a["perspective"] for a in closed["aggregates"]] == ["peer"]
    everything_published = "".join(e.model_dump_json() for e in await _topic(system))
    port = system.feedback.runtime.metrics_port
    metrics = await asyncio.to_thread(_read_metrics, port)
    for secret in secrets.values():
        assert secret not in everything_published
        assert secret not in metrics


# ---- client request ids: a retried command happens once ----


def _stored(system: System) -> int:
    return system.feedback.app.recorder.max_notification_id() or 0


def _praise(text: str, request_id: str) -> pb.GiveFeedbackRequest:
    return pb.GiveFeedbackRequest(
        recipient_id="peer-2",
        kind=pb.FEEDBACK_KIND_PRAISE,
        visibility=pb.FEEDBACK_VISIBILITY_PUBLIC,
        text=text,
        request_id=request_id,
    )


async def test_feedback_whose_answer_the_client_missed_is_answered_again_on_retry(
    system: System,
) -> None:
    saved, slowed = threading.Event(), threading.Event()

    def answer_slowly(_aggregate_type: str, _appended: int) -> None:
        # The save is done; the answer comes after the client's deadline.
        if not slowed.is_set():
            slowed.set()
            saved.set()
            time.sleep(1.0)

    system.feedback.app.after_save.insert(0, answer_slowly)
    try:
        before = _stored(system)
        request = _praise("answered after the deadline", str(uuid.uuid4()))
        with pytest.raises(grpc.aio.AioRpcError) as timed_out:
            await system.stub.GiveFeedback(request, metadata=who("peer-1"), timeout=0.3)
        assert timed_out.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        await eventually(saved.is_set, what="the first attempt's save")
        assert _stored(system) == before + 1
        retried = await system.stub.GiveFeedback(request, metadata=who("peer-1"))
    finally:
        system.feedback.app.after_save.remove(answer_slowly)
    assert _stored(system) == before + 1, "the retry stored something"
    stored = system.feedback.app.recorder.select_notifications(before, 1, inclusive_of_start=False)
    assert retried.feedback.feedback_id == str(stored[0].originator_id)
    assert retried.feedback.text == "answered after the deadline"
    assert retried.position_token


async def test_another_command_under_a_used_request_id_is_refused_and_stores_nothing(
    system: System,
) -> None:
    request_id = str(uuid.uuid4())
    given = await system.stub.GiveFeedback(_praise("first", request_id), metadata=who("peer-1"))
    before = _stored(system)
    refusals: list[Awaitable[object]] = [
        system.stub.GiveFeedback(_praise("second", request_id), metadata=who("peer-1")),
        system.stub.RetractFeedback(
            pb.RetractFeedbackRequest(
                feedback_id=given.feedback.feedback_id, request_id=request_id
            ),
            metadata=who("peer-1"),
        ),
    ]
    for refusal in refusals:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await refusal
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "request_id" in error_details(refused.value)
    assert _stored(system) == before
    # Ids are per caller: another person's identical id is another request.
    other = await system.stub.GiveFeedback(_praise("first", request_id), metadata=who("peer-3"))
    assert other.feedback.feedback_id != given.feedback.feedback_id


async def test_answers_closing_and_one_on_one_changes_retried_with_their_id_happen_once(
    system: System,
) -> None:
    stub = system.stub
    created = await stub.CreateFeedbackRequest(
        pb.CreateFeedbackRequestRequest(
            kind=pb.FEEDBACK_REQUEST_KIND_GENERAL,
            due_date=_due(),
            reviewer_ids=["peer-1", "peer-2", "peer-3"],
            questions=[pb.Question(kind=pb.QUESTION_KIND_RATING, prompt="Clear priorities?")],
            anonymous=True,
            request_id=str(uuid.uuid4()),
        ),
        metadata=who("recipient-1"),
    )
    request_id = created.request.request_id
    answer = pb.SubmitFeedbackAnswerRequest(
        request_id=request_id,
        answers=[pb.Answer(question_id="q1", rating=4)],
        client_request_id=str(uuid.uuid4()),
    )
    # Copies at once and a later retry: one ballot, every copy accepted.
    copies = await asyncio.gather(
        *(stub.SubmitFeedbackAnswer(answer, metadata=who("peer-1")) for _ in range(4))
    )
    assert all(c.accepted for c in copies)
    assert (await stub.SubmitFeedbackAnswer(answer, metadata=who("peer-1"))).accepted
    ballots = system.feedback.app.ballots.answer_sets(request_id)
    assert [len(s) for s in ballots.values()] == [1]
    answer.client_request_id = ""  # without an id, a second answer is refused as ever
    with pytest.raises(grpc.aio.AioRpcError) as twice:
        await stub.SubmitFeedbackAnswer(answer, metadata=who("peer-1"))
    assert twice.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    close = pb.CloseFeedbackRequestRequest(
        request_id=request_id, client_request_id=str(uuid.uuid4())
    )
    closed = await stub.CloseFeedbackRequest(close, metadata=who("recipient-1"))
    before = _stored(system)
    again = await stub.CloseFeedbackRequest(close, metadata=who("recipient-1"))
    assert (again.request.version, again.position_token) == (
        closed.request.version,
        closed.position_token,
    )
    assert _stored(system) == before

    scheduled = await stub.ScheduleOneOnOne(
        pb.ScheduleOneOnOneRequest(
            report_id="peer-3", cadence=pb.CADENCE_WEEKLY, start_date=_due(1)
        ),
        metadata=who("manager-1"),
    )
    item = pb.AddActionItemRequest(
        one_on_one_id=scheduled.one_on_one.one_on_one_id,
        owner_id="peer-3",
        text="write the design doc",
        request_id=str(uuid.uuid4()),
    )
    first = await stub.AddActionItem(item, metadata=who("manager-1"))
    before = _stored(system)
    retried = await stub.AddActionItem(item, metadata=who("manager-1"))
    assert retried == first
    assert len(retried.one_on_one.action_items) == 1
    assert _stored(system) == before


async def test_a_stored_template_is_listed_and_shapes_the_requests_made_with_it(
    system: System,
) -> None:
    define = pb.DefineQuestionTemplateRequest(
        name=f"Onboarding {uuid.uuid4().hex[:6]}",
        questions=[
            pb.Question(
                kind=pb.QUESTION_KIND_RATING,
                prompt="How welcome did you feel?",
                scale_min=1,
                scale_max=3,
                scale_labels=["Not at all", "Somewhat", "Very"],
            ),
            pb.Question(kind=pb.QUESTION_KIND_TEXT, prompt="What was missing?"),
        ],
        request_id=str(uuid.uuid4()),
    )
    defined = await system.stub.DefineQuestionTemplate(define, metadata=who("hr-1"))
    before = _stored(system)
    assert await system.stub.DefineQuestionTemplate(define, metadata=who("hr-1")) == defined
    assert _stored(system) == before
    listed = await system.stub.ListQuestionTemplates(
        pb.ListQuestionTemplatesRequest(), metadata=who("peer-2")
    )
    assert defined.template in listed.templates
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await system.stub.DefineQuestionTemplate(define, metadata=who("manager-1"))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

    created = await system.stub.CreateFeedbackRequest(
        pb.CreateFeedbackRequestRequest(
            kind=pb.FEEDBACK_REQUEST_KIND_GENERAL,
            due_date=_due(),
            reviewer_ids=["peer-1"],
            template_id=defined.template.template_id,
        ),
        metadata=who("peer-2"),
    )
    assert created.request.template_id == defined.template.template_id
    assert [list(q.scale_labels) for q in created.request.questions] == [
        ["Not at all", "Somewhat", "Very"],
        [],
    ]
    retired = await system.stub.RetireQuestionTemplate(
        pb.RetireQuestionTemplateRequest(template_id=defined.template.template_id),
        metadata=who("hr-1"),
    )
    assert retired.template.retired
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await system.stub.CreateFeedbackRequest(
            pb.CreateFeedbackRequestRequest(
                kind=pb.FEEDBACK_REQUEST_KIND_GENERAL,
                due_date=_due(),
                reviewer_ids=["peer-1"],
                template_id=defined.template.template_id,
            ),
            metadata=who("peer-2"),
        )
    assert gone.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "template_id" in error_details(gone.value)


async def test_one_on_ones_are_listed_as_far_as_each_caller_may_see_them(system: System) -> None:
    stub = system.stub
    scheduled = await stub.ScheduleOneOnOne(
        pb.ScheduleOneOnOneRequest(
            report_id="report-2", cadence=pb.CADENCE_MONTHLY, start_date=_due(1)
        ),
        metadata=who("recipient-1"),
    )
    series = scheduled.one_on_one.one_on_one_id
    await stub.AddAgendaItem(
        pb.AddAgendaItemRequest(one_on_one_id=series, text="growth plan"),
        metadata=who("report-2"),
    )
    await stub.AddPrivateNote(
        pb.AddPrivateNoteRequest(one_on_one_id=series, text="raise the workload"),
        metadata=who("recipient-1"),
    )

    async def listed(caller: tuple[tuple[str, str]], person_id: str = "") -> list[pb.OneOnOne]:
        found: list[pb.OneOnOne] = []
        token = ""
        while True:
            page = await stub.ListOneOnOnes(
                pb.ListOneOnOnesRequest(person_id=person_id, page_size=1, page_token=token),
                metadata=caller,
            )
            found += page.one_on_ones
            if not (token := page.next_page_token):
                return found

    for participant in ("recipient-1", "report-2"):
        mine = [s for s in await listed(who(participant)) if s.one_on_one_id == series]
        assert [list(s.my_notes) for s in mine] == [[]], participant  # never a note
        assert [[a.text for a in s.agenda] for s in mine] == [["growth plan"]], participant
    hr = [s for s in await listed(who("hr-1"), "report-2") if s.one_on_one_id == series]
    assert [(s.manager_id, list(s.agenda)) for s in hr] == [("recipient-1", [])]
    for outsider in ("manager-1", "report-1", "auditor-1"):
        assert series not in {s.one_on_one_id for s in await listed(who(outsider))}, outsider
    assert await listed(bearer("hr-1", ["hr_admin"], "globex")) == []
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ListOneOnOnes(
            pb.ListOneOnOnesRequest(page_token="²"), metadata=who("recipient-1")
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in error_details(refused.value)
    with pytest.raises(grpc.aio.AioRpcError) as nul:
        await stub.ListOneOnOnes(pb.ListOneOnOnesRequest(person_id="\x00"), metadata=who("hr-1"))
    assert nul.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "person_id" in error_details(nul.value)
