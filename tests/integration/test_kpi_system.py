"""The KPI service in the running system on real Kafka (directory, KPI and projections services,
started once for this module): the inbound feed moves a KPI and the scoreboard, replays change
nothing, malformed records are dead-lettered with the reason, bad API input gets a precise
status and stores nothing, and visibility is the same in the service and the projections."""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from grpc_health.v1 import health_pb2, health_pb2_grpc

from northstar.kpi.v1 import kpi_pb2, kpi_pb2_grpc
from northstar.projections.v1 import projections_pb2, projections_pb2_grpc
from northstar_contracts.kpi import measurements_inbound_topic
from services.directory.__main__ import DirectoryService, start_directory_service
from services.kpi.__main__ import KpiService, start_kpi_service
from services.projections.__main__ import ProjectionsService, start_projections_service
from services.shared.consumer import dead_letter_topic
from services.shared.grpc_server import error_details
from services.shared.position import encode_position_token
from tests.integration.conftest import (
    FAST_RETRY,
    bearer,
    holds_seed_organisation,
    seed_organisation,
    system_settings,
)
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka]

HR = bearer("hr-1", ["hr_admin"])
OWNER = bearer("owner-1", ["employee"])
MANAGER = bearer("manager-1", ["manager"])
PEER = bearer("owner-2", ["employee"])
GLOBEX = bearer("globex-hr", ["hr_admin"], "globex")
CRM = bearer("crm", ["integration"])
T = TypeVar("T")


@dataclass
class KpiSystem:
    bootstrap: str
    inbound_topic: str
    directory: DirectoryService
    kpi: KpiService
    projections: ProjectionsService
    kpi_stub: kpi_pb2_grpc.KpiServiceAsyncStub
    projections_stub: projections_pb2_grpc.ProjectionServiceAsyncStub
    kpi_channel: grpc.aio.Channel

    def stored_events(self) -> int:
        return self.kpi.app.recorder.max_notification_id() or 0


@pytest.fixture(scope="module")
async def system(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap_servers: str
) -> AsyncIterator[KpiSystem]:
    tmp_path: Path = tmp_path_factory.mktemp("kpi-system")
    settings = system_settings(f"sqlite:///{tmp_path}/store.db", tmp_path, kafka_bootstrap_servers)
    directory = await start_directory_service(settings, retry=FAST_RETRY)
    kpi = await start_kpi_service(settings, retry=FAST_RETRY)
    projections = await start_projections_service(
        settings, group_id=f"projections-{uuid.uuid4().hex[:8]}", retry=FAST_RETRY
    )
    channels = [
        grpc.aio.insecure_channel(f"127.0.0.1:{service.runtime.grpc_port}")
        for service in (directory, kpi, projections)
    ]
    from northstar.directory.v1 import directory_pb2_grpc

    try:
        await seed_organisation(directory_pb2_grpc.DirectoryServiceStub(channels[0]))
        for replica in (kpi.replica, projections.replica):
            await eventually(
                lambda replica=replica: holds_seed_organisation(replica),  # type: ignore[misc]
                within_seconds=60,
                what="a directory replica holding the seed organisation",
            )
        yield KpiSystem(
            kafka_bootstrap_servers,
            measurements_inbound_topic(settings.topic_namespace),
            directory,
            kpi,
            projections,
            kpi_pb2_grpc.KpiServiceStub(channels[1]),
            projections_pb2_grpc.ProjectionServiceStub(channels[2]),
            channels[1],
        )
    finally:
        for channel in channels:
            await channel.close(None)
        await projections.runtime.stop()
        await kpi.stop()
        await directory.stop()
        projections.db.close()


def define_request(**changes: Any) -> kpi_pb2.DefineKpiRequest:
    fields: dict[str, Any] = {
        "name": "Qualified leads",
        "unit": "leads",
        "owner_id": "owner-1",
        "objective_goal_id": "objective-growth",
        "target_type": kpi_pb2.TARGET_TYPE_INCREASE_TO,
        "cadence": kpi_pb2.CADENCE_MONTHLY,
        "summary": kpi_pb2.SUMMARY_SUM,
        "visibility": kpi_pb2.KPI_VISIBILITY_TENANT,
        "first_period": "2026-01",
        "target": 100.0,
        "thresholds": kpi_pb2.Thresholds(min_target_max=kpi_pb2.MinTargetMax(minimum=80.0)),
    } | changes
    return kpi_pb2.DefineKpiRequest(**fields)


async def define(system: KpiSystem, **changes: Any) -> kpi_pb2.DefineKpiResponse:
    response: kpi_pb2.DefineKpiResponse = await system.kpi_stub.DefineKpi(
        define_request(**changes), metadata=HR
    )
    return response


def record(kpi_id: str, period: str, value: float, record_id: str, **extra: Any) -> bytes:
    body = {
        "tenant_id": "acme",
        "kpi_id": kpi_id,
        "period": period,
        "value": value,
        "source_record_id": record_id,
        "source_system": "crm",
    } | extra
    return json.dumps(body).encode()


async def publish(system: KpiSystem, bodies: list[bytes], key: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=system.bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        for body in bodies:
            await producer.send_and_wait(system.inbound_topic, value=body, key=key.encode())
    finally:
        await producer.stop()


async def poll(read: Callable[[], Awaitable[T]], holds: Callable[[T], bool], what: str) -> T:
    """Reads until `holds` is true of the answer, within a deadline (no fixed sleeps)."""
    async with asyncio.timeout(60):
        delay = 0.01
        while True:
            value = await read()
            if holds(value):
                return value
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)
    raise AssertionError(what)  # pragma: no cover (the timeout raises first)


async def scoreboard(
    system: KpiSystem, metadata: Any, tokens: list[str] | None = None
) -> dict[str, projections_pb2.KpiScore]:
    response = await system.projections_stub.ListKpiScoreboard(
        projections_pb2.ListKpiScoreboardRequest(consistency_tokens=tokens or []),
        metadata=metadata,
    )
    return {score.kpi_id: score for score in response.kpis}


async def test_a_measurement_on_the_inbound_topic_moves_the_kpi_and_the_scoreboard(
    system: KpiSystem,
) -> None:
    defined = await define(system)
    kpi_id = defined.kpi.kpi_id
    board = await scoreboard(system, OWNER, [defined.position_token])
    assert board[kpi_id].status == "no_data"
    assert board[kpi_id].target == 100.0

    await publish(system, [record(kpi_id, "2026-01", 60, "crm-1")], kpi_id)
    await publish(system, [record(kpi_id, "2026-01", 45, "crm-2")], kpi_id)
    kpi = await poll(
        lambda: system.kpi_stub.GetKpi(kpi_pb2.GetKpiRequest(kpi_id=kpi_id), metadata=OWNER),
        lambda kpi: kpi.status == kpi_pb2.KPI_STATUS_GREEN,
        "the KPI turning green",
    )
    assert kpi.status_period == "2026-01"
    # Read-your-writes on the projections with the KPI's position.
    board = await scoreboard(system, OWNER, [encode_position_token(kpi_id, kpi.version)])
    score = board[kpi_id]
    assert (score.status, score.latest_period, score.latest_value) == ("green", "2026-01", 105.0)
    assert (score.owner_id, score.objective_goal_id, score.target) == (
        "owner-1",
        "objective-growth",
        100.0,
    )
    assert [(p.period, p.value, p.status) for p in score.trend] == [("2026-01", 105.0, "green")]

    # Replaying the feed twice changes nothing: only the sentinel after it is new.
    before = system.stored_events()
    replay = [record(kpi_id, "2026-01", 60, "crm-1"), record(kpi_id, "2026-01", 45, "crm-2")]
    await publish(system, replay + replay + [record(kpi_id, "2026-02", 70, "crm-3")], kpi_id)
    kpi = await poll(
        lambda: system.kpi_stub.GetKpi(kpi_pb2.GetKpiRequest(kpi_id=kpi_id), metadata=OWNER),
        lambda kpi: kpi.status_period == "2026-02",
        "the sentinel measurement",
    )
    assert system.stored_events() == before + 2  # the sentinel's measurement and status change
    periods = await system.kpi_stub.ListKpiPeriods(
        kpi_pb2.ListKpiPeriodsRequest(kpi_id=kpi_id), metadata=OWNER
    )
    assert [(p.period, p.value, len(p.measurements)) for p in periods.periods] == [
        ("2026-01", 105.0, 2),
        ("2026-02", 70.0, 1),
    ]
    board = await scoreboard(system, OWNER, [encode_position_token(kpi_id, kpi.version)])
    assert [(p.period, p.value) for p in board[kpi_id].trend] == [
        ("2026-01", 105.0),
        ("2026-02", 70.0),
    ]
    assert (board[kpi_id].status, board[kpi_id].trend_direction) == ("red", "worsening")


async def test_malformed_feed_records_are_dead_lettered_with_the_reason(
    system: KpiSystem,
) -> None:
    kpi_id = (await define(system, name="Dead letters")).kpi.kpi_id
    bad = [
        (
            b'{"tenant_id": "acme", "kpi_id": "' + kpi_id.encode() + b'", "period": "2026-01", '
            b'"value": NaN, "source_record_id": "x1"}',
            "ContractViolation",
            "value",
        ),
        (record(str(uuid.uuid4()), "2026-01", 1, "x2"), "NotFound", "kpi_id"),
        (record(kpi_id, "2026-W03", 1, "x3"), "InvalidArgument", "period"),
        (record(kpi_id, "2026-01", 1, "x4", colour="blue"), "ContractViolation", "colour"),
    ]
    before = system.stored_events()
    await publish(
        system, [body for body, _, _ in bad] + [record(kpi_id, "2026-01", 9, "ok")], kpi_id
    )
    dead = await read_dead_letters(system, dead_letter_topic(system.inbound_topic), len(bad))
    assert [headers["dlq_error_type"] for headers in dead] == [kind for _, kind, _ in bad]
    for headers, (_, _, field) in zip(dead, bad, strict=True):
        assert field in headers["dlq_error"]
        assert headers["dlq_attempts"] == "1"
    await poll(
        lambda: system.kpi_stub.GetKpi(kpi_pb2.GetKpiRequest(kpi_id=kpi_id), metadata=HR),
        lambda kpi: kpi.status_period == "2026-01",
        "the good record after the bad ones",
    )
    assert system.stored_events() == before + 2


async def read_dead_letters(system: KpiSystem, topic: str, expected: int) -> list[dict[str, str]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=system.bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[dict[str, str]] = []
    try:
        async with asyncio.timeout(30):
            while len(found) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    found.extend({key: value.decode() for key, value in r.headers} for r in records)
    finally:
        await consumer.stop()
    return found


async def expect_error(
    system: KpiSystem, call: Awaitable[Any], code: grpc.StatusCode, field: str
) -> None:
    before = system.stored_events()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == code, raised.value.details()
    assert field in error_details(raised.value), error_details(raised.value)
    assert system.stored_events() == before


async def test_bad_input_gets_a_precise_status_and_stores_nothing(system: KpiSystem) -> None:
    stub = system.kpi_stub
    kpi_id = (await define(system, name="Bad input")).kpi.kpi_id
    measured = await stub.RecordMeasurement(
        kpi_pb2.RecordMeasurementRequest(kpi_id=kpi_id, period="2026-01", value=3),
        metadata=OWNER,
    )
    invalid, missing, precondition = (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    for value in (math.nan, math.inf, -math.inf):
        await expect_error(
            system,
            stub.RecordMeasurement(
                kpi_pb2.RecordMeasurementRequest(kpi_id=kpi_id, period="2026-01", value=value),
                metadata=OWNER,
            ),
            invalid,
            "value",
        )
    await expect_error(
        system,
        stub.RecordMeasurement(
            kpi_pb2.RecordMeasurementRequest(kpi_id=str(uuid.uuid4()), period="2026-01", value=1),
            metadata=OWNER,
        ),
        missing,
        "kpi_id",
    )
    await expect_error(
        system,
        stub.RecordMeasurement(
            kpi_pb2.RecordMeasurementRequest(kpi_id=kpi_id, period="2026-W02", value=1),
            metadata=OWNER,
        ),
        invalid,
        "period",
    )
    await expect_error(
        system,
        stub.CorrectMeasurement(
            kpi_pb2.CorrectMeasurementRequest(
                kpi_id=kpi_id, measurement_id=measured.measurement_id, value=4, reason=""
            ),
            metadata=OWNER,
        ),
        invalid,
        "reason",
    )
    overlapping = kpi_pb2.Thresholds(
        bands=kpi_pb2.ThresholdBands(
            bands=[
                kpi_pb2.ThresholdBand(status=kpi_pb2.KPI_STATUS_RED, upper=60),
                kpi_pb2.ThresholdBand(status=kpi_pb2.KPI_STATUS_GREEN, lower=50),
            ]
        )
    )
    await expect_error(
        system,
        stub.DefineKpi(define_request(thresholds=overlapping), metadata=HR),
        invalid,
        "thresholds.bands[1]",
    )
    await expect_error(
        system,
        stub.ChangeKpiThresholds(
            kpi_pb2.ChangeKpiThresholdsRequest(kpi_id=kpi_id, thresholds=overlapping, reason="r"),
            metadata=HR,
        ),
        invalid,
        "thresholds.bands[1]",
    )
    await expect_error(
        system,
        stub.DefineKpi(define_request(cadence=kpi_pb2.CADENCE_UNSPECIFIED), metadata=HR),
        invalid,
        "cadence",
    )
    await expect_error(
        system,
        stub.GetKpi(kpi_pb2.GetKpiRequest(kpi_id=kpi_id), metadata=GLOBEX),
        missing,
        "kpi_id",
    )
    await expect_error(
        system,
        stub.RecordMeasurement(
            kpi_pb2.RecordMeasurementRequest(kpi_id=kpi_id, period="2026-01", value=1),
            metadata=GLOBEX,
        ),
        missing,
        "kpi_id",
    )
    await expect_error(
        system,
        stub.DefineKpi(define_request(owner_id="nobody"), metadata=HR),
        precondition,
        "owner_id",
    )
    survey = await stub.CreateSurvey(
        kpi_pb2.CreateSurveyRequest(
            name="Customers", kind=kpi_pb2.SURVEY_KIND_NPS, cadence=kpi_pb2.CADENCE_MONTHLY
        ),
        metadata=HR,
    )
    for score in (11, -1):
        await expect_error(
            system,
            stub.RecordSurveyResponse(
                kpi_pb2.RecordSurveyResponseRequest(
                    survey_id=survey.survey_id, period="2026-01", score=score, respondent_id="c1"
                ),
                metadata=CRM,
            ),
            invalid,
            "score",
        )
    await expect_error(
        system,
        stub.GetSurveyResults(
            kpi_pb2.GetSurveyResultsRequest(survey_id=survey.survey_id, period="2026-01"),
            metadata=HR,
        ),
        precondition,
        "period",
    )
    await expect_error(
        system,
        stub.SetAnonymityMinimum(
            kpi_pb2.SetAnonymityMinimumRequest(anonymity_minimum=2), metadata=HR
        ),
        invalid,
        "anonymity_minimum",
    )


async def test_survey_results_through_the_api_never_show_a_respondent(system: KpiSystem) -> None:
    stub = system.kpi_stub
    survey = await stub.CreateSurvey(
        kpi_pb2.CreateSurveyRequest(
            name="Customer NPS", kind=kpi_pb2.SURVEY_KIND_NPS, cadence=kpi_pb2.CADENCE_QUARTERLY
        ),
        metadata=HR,
    )
    for number, score in enumerate([10, 9, 9, 10, 9, 7, 8, 8, 3, 6]):
        await stub.RecordSurveyResponse(
            kpi_pb2.RecordSurveyResponseRequest(
                survey_id=survey.survey_id,
                period="2026-Q1",
                score=score,
                respondent_id=f"customer-{number}",
                group="emea" if number < 7 else "apac",
            ),
            metadata=CRM,
        )
    results = await stub.GetSurveyResults(
        kpi_pb2.GetSurveyResultsRequest(survey_id=survey.survey_id, period="2026-Q1"),
        metadata=HR,
    )
    assert (results.overall.responses, round(results.overall.score, 6)) == (10, 30.0)
    assert (round(results.overall.interval_low, 2), round(results.overall.interval_high, 2)) == (
        -19.05,
        65.20,
    )
    assert list(results.overall.distribution) == [0, 0, 0, 1, 0, 0, 1, 1, 2, 3, 2]
    # apac has 3 answers (< 5): hidden, and emea with it, or overall - emea would show apac.
    assert (list(results.groups), results.hidden_groups) == ([], 2)
    assert "customer-" not in str(results)


async def test_restricted_kpis_are_hidden_alike_by_the_service_and_the_projections(
    system: KpiSystem,
) -> None:
    defined = await define(
        system, name="Attrition", visibility=kpi_pb2.KPI_VISIBILITY_RESTRICTED, owner_id="owner-1"
    )
    kpi_id, token = defined.kpi.kpi_id, defined.position_token
    for reader in (OWNER, MANAGER, HR):
        assert kpi_id in await scoreboard(system, reader, [token])
        history = await system.projections_stub.GetAuditHistory(
            projections_pb2.GetAuditHistoryRequest(aggregate_id=kpi_id, consistency_tokens=[token]),
            metadata=reader,
        )
        assert [entry.event_type for entry in history.entries] == ["kpi.KpiDefined"]
    assert kpi_id not in await scoreboard(system, PEER, [token])
    for call in (
        system.kpi_stub.GetKpi(kpi_pb2.GetKpiRequest(kpi_id=kpi_id), metadata=PEER),
        system.projections_stub.GetAuditHistory(
            projections_pb2.GetAuditHistoryRequest(aggregate_id=kpi_id), metadata=PEER
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_kpi_service_reports_health_for_its_api(system: KpiSystem) -> None:
    health = health_pb2_grpc.HealthStub(system.kpi_channel)
    answer = await health.Check(
        health_pb2.HealthCheckRequest(service="northstar.kpi.v1.KpiService")
    )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
