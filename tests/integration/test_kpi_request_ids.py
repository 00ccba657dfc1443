"""Retried KPI commands happen once: a request id makes a retry answer the first result and store
nothing, over gRPC, on SQLite and PostgreSQL; another request under the same id is refused.

The KPI service runs on real Kafka; its directory replica is fed directly (the owner checks
need people in it, not the directory service)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from northstar.kpi.v1 import kpi_pb2, kpi_pb2_grpc
from services.kpi.__main__ import KpiService, start_kpi_service
from services.shared.grpc_server import error_details
from tests.integration.conftest import FAST_RETRY, bearer, system_settings
from tests.integration.test_kpi_system import define_request
from tests.unit.test_kpi_application import registered
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka]

HR = bearer("hr-1", ["hr_admin"])
OWNER = bearer("owner-1", ["employee"])


@dataclass
class KpiUnderTest:
    service: KpiService
    stub: kpi_pb2_grpc.KpiServiceAsyncStub

    def position(self) -> int:
        return self.service.app.recorder.max_notification_id() or 0


@pytest.fixture
async def kpi(
    store_url: str, tmp_path: Path, kafka_bootstrap_servers: str
) -> AsyncIterator[KpiUnderTest]:
    settings = system_settings(store_url, tmp_path, kafka_bootstrap_servers)
    service = await start_kpi_service(settings, retry=FAST_RETRY)
    for person in ("hr-1", "owner-1"):
        service.replica.apply_envelope(registered(person))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.runtime.grpc_port}")
    try:
        yield KpiUnderTest(service, kpi_pb2_grpc.KpiServiceStub(channel))
    finally:
        await channel.close(None)
        await service.stop()


async def test_a_define_whose_answer_the_client_missed_is_answered_again_on_retry(
    kpi: KpiUnderTest,
) -> None:
    saved, slowed = threading.Event(), threading.Event()

    def answer_slowly(aggregate_type: str, appended: int) -> None:
        # The save is done; the answer comes after the client's deadline.
        if not slowed.is_set():
            slowed.set()
            saved.set()
            time.sleep(1.0)

    kpi.service.app.after_save.insert(0, answer_slowly)
    before = kpi.position()
    request = define_request(request_id=str(uuid.uuid4()))
    with pytest.raises(grpc.aio.AioRpcError) as timed_out:
        await kpi.stub.DefineKpi(request, metadata=HR, timeout=0.3)
    assert timed_out.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await eventually(saved.is_set, what="the first attempt's save")
    after_first = kpi.position()
    assert after_first > before

    retried = await kpi.stub.DefineKpi(request, metadata=HR)

    assert kpi.position() == after_first, "the retry stored something"
    recorder = kpi.service.app.recorder
    stored = recorder.select_notifications(before, 100, inclusive_of_start=False)
    assert {str(n.originator_id) for n in stored} == {retried.kpi.kpi_id}
    assert retried.kpi.name == "Qualified leads"


async def test_every_kpi_command_retried_with_its_id_changes_once(kpi: KpiUnderTest) -> None:
    stub = kpi.stub
    defined = await stub.DefineKpi(define_request(), metadata=HR)
    kpi_id = defined.kpi.kpi_id
    measure = kpi_pb2.RecordMeasurementRequest(
        kpi_id=kpi_id, period="2026-01", value=40, request_id=str(uuid.uuid4())
    )
    retarget = kpi_pb2.ChangeKpiTargetRequest(
        kpi_id=kpi_id,
        from_period="2026-02",
        target=120,
        reason="new plan",
        request_id=str(uuid.uuid4()),
    )
    thresholds = kpi_pb2.ChangeKpiThresholdsRequest(
        kpi_id=kpi_id,
        thresholds=kpi_pb2.Thresholds(min_target_max=kpi_pb2.MinTargetMax(minimum=60.0)),
        reason="stricter",
        request_id=str(uuid.uuid4()),
    )
    first_measure = await stub.RecordMeasurement(measure, metadata=HR)
    correct = kpi_pb2.CorrectMeasurementRequest(
        kpi_id=kpi_id,
        measurement_id=first_measure.measurement_id,
        value=45,
        reason="late export",
        request_id=str(uuid.uuid4()),
    )
    survey = kpi_pb2.CreateSurveyRequest(
        name="Pulse",
        kind=kpi_pb2.SURVEY_KIND_ENPS,
        cadence=kpi_pb2.CADENCE_MONTHLY,
        request_id=str(uuid.uuid4()),
    )
    minimum = kpi_pb2.SetAnonymityMinimumRequest(anonymity_minimum=4, request_id=str(uuid.uuid4()))
    calls: list[tuple[Callable[..., Awaitable[Any]], Message]] = [
        (stub.ChangeKpiTarget, retarget),
        (stub.ChangeKpiThresholds, thresholds),
        (stub.CorrectMeasurement, correct),
        (stub.CreateSurvey, survey),
        (stub.SetAnonymityMinimum, minimum),
    ]
    firsts = [await call(request, metadata=HR) for call, request in calls]
    created = firsts[3]
    answer = kpi_pb2.RecordSurveyResponseRequest(
        survey_id=created.survey_id, period="2026-01", score=9, request_id=str(uuid.uuid4())
    )
    firsts.append(await stub.RecordSurveyResponse(answer, metadata=OWNER))
    before = kpi.position()

    again_measure = await stub.RecordMeasurement(measure, metadata=HR)
    agains = [await call(request, metadata=HR) for call, request in calls]
    agains.append(await stub.RecordSurveyResponse(answer, metadata=OWNER))

    assert kpi.position() == before, "a retry stored something"
    assert again_measure == first_measure
    assert again_measure.recorded
    assert again_measure.measurement_id
    assert agains == firsts
    # Without a request id, the same answer again is a new command (a second measurement).
    measure.request_id = ""
    second = await stub.RecordMeasurement(measure, metadata=HR)
    assert second.measurement_id != first_measure.measurement_id


async def test_another_kpi_request_under_a_used_id_is_refused_naming_request_id(
    kpi: KpiUnderTest,
) -> None:
    request_id = str(uuid.uuid4())
    await kpi.stub.DefineKpi(define_request(request_id=request_id), metadata=HR)
    before = kpi.position()
    other = define_request(name="Churned accounts", request_id=request_id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await kpi.stub.DefineKpi(other, metadata=HR)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "request_id" in error_details(refused.value)
    # Another RPC under the same id is another request too.
    survey = kpi_pb2.CreateSurveyRequest(
        name="Pulse",
        kind=kpi_pb2.SURVEY_KIND_NPS,
        cadence=kpi_pb2.CADENCE_MONTHLY,
        request_id=request_id,
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await kpi.stub.CreateSurvey(survey, metadata=HR)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert kpi.position() == before
    # A malformed id is bad input, named.
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await kpi.stub.DefineKpi(define_request(request_id="has spaces"), metadata=HR)
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in error_details(malformed.value)
