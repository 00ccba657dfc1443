"""gRPC servicer of the KPI service: protobuf in, one application call, protobuf out.

Request fields are parsed here (each bad field named); the application authorises and decides.
Application calls touch the store, so they run in a worker thread off the event loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from google.protobuf.message import Message

from northstar.kpi.v1 import kpi_pb2, kpi_pb2_grpc
from services.kpi.application import KpiApplication, KpiDefinition, Saved
from services.kpi.index import KpiIndex
from services.kpi.nps import require_score
from services.kpi.protobuf_mapping import (
    CADENCES,
    SUMMARIES,
    SURVEY_KINDS,
    TARGET_TYPES,
    VISIBILITIES,
    kpi_to_proto,
    periods_to_proto,
    results_to_proto,
    thresholds_from_proto,
)
from services.kpi.survey_use_cases import SurveyUseCases
from services.shared.auth import Principal, current_principal
from services.shared.errors import InvalidArgument
from services.shared.idempotency import REQUEST_ID_FIELD, parse_request_id, run_once
from services.shared.kpi_visibility import KpiAudience, can_view_kpi
from services.shared.validation import page_size, parse_uuid, require_finite_number

SERVICE_FULL_NAME = "northstar.kpi.v1.KpiService"
Context = grpc.aio.ServicerContext[Any, Any]
_PAGE_TOKEN = re.compile(r"^after:[0-9a-f-]{36}$")


class KpiServicer(kpi_pb2_grpc.KpiServiceServicer):
    def __init__(self, app: KpiApplication, index: KpiIndex) -> None:
        self.app = app
        self.index = index
        self.surveys = SurveyUseCases(app)

    # ---- KPI commands ----

    async def DefineKpi(  # noqa: N802 (gRPC method names)
        self, request: kpi_pb2.DefineKpiRequest, context: Context
    ) -> kpi_pb2.DefineKpiResponse:
        principal = current_principal()
        definition = KpiDefinition(
            name=request.name,
            description=request.description,
            unit=request.unit,
            owner_id=request.owner_id or principal.subject,
            objective_goal_id=request.objective_goal_id,
            target_type=TARGET_TYPES.from_request(request.target_type, "target_type"),
            cadence=CADENCES.from_request(request.cadence, "cadence"),
            summary=SUMMARIES.from_request(request.summary, "summary"),
            visibility=VISIBILITIES.from_request(request.visibility, "visibility"),
            first_period=request.first_period,
            target=require_finite_number(request.target, "target"),
            thresholds=thresholds_from_proto(request.thresholds),
        )
        saved = await self._once(
            principal, request, lambda: self.app.define_kpi(principal, definition)
        )
        return kpi_pb2.DefineKpiResponse(
            kpi=kpi_to_proto(saved.aggregate), position_token=saved.position_token
        )

    async def ChangeKpiTarget(  # noqa: N802
        self, request: kpi_pb2.ChangeKpiTargetRequest, context: Context
    ) -> kpi_pb2.ChangeKpiTargetResponse:
        kpi_id = parse_uuid(request.kpi_id, "kpi_id")
        target = require_finite_number(request.target, "target")
        _require_version(request.expected_version)
        principal = current_principal()
        saved = await self._once(
            principal,
            request,
            lambda: self.app.change_target(
                principal,
                kpi_id,
                request.from_period,
                target,
                request.reason,
                request.expected_version,
            ),
        )
        return kpi_pb2.ChangeKpiTargetResponse(
            kpi=kpi_to_proto(saved.aggregate), position_token=saved.position_token
        )

    async def ChangeKpiThresholds(  # noqa: N802
        self, request: kpi_pb2.ChangeKpiThresholdsRequest, context: Context
    ) -> kpi_pb2.ChangeKpiThresholdsResponse:
        kpi_id = parse_uuid(request.kpi_id, "kpi_id")
        thresholds = thresholds_from_proto(request.thresholds)
        _require_version(request.expected_version)
        principal = current_principal()
        saved = await self._once(
            principal,
            request,
            lambda: self.app.change_thresholds(
                principal, kpi_id, thresholds, request.reason, request.expected_version
            ),
        )
        return kpi_pb2.ChangeKpiThresholdsResponse(
            kpi=kpi_to_proto(saved.aggregate), position_token=saved.position_token
        )

    async def RecordMeasurement(  # noqa: N802
        self, request: kpi_pb2.RecordMeasurementRequest, context: Context
    ) -> kpi_pb2.RecordMeasurementResponse:
        kpi_id = parse_uuid(request.kpi_id, "kpi_id")
        value = require_finite_number(request.value, "value")
        principal = current_principal()
        saved = await self._once(
            principal,
            request,
            lambda: self.app.record_measurement(
                principal, kpi_id, request.period, value, request.source_record_id
            ),
        )
        return kpi_pb2.RecordMeasurementResponse(
            kpi=kpi_to_proto(saved.aggregate),
            position_token=saved.position_token,
            measurement_id=str(saved.measurement_id or ""),
            recorded=saved.changed,
        )

    async def CorrectMeasurement(  # noqa: N802
        self, request: kpi_pb2.CorrectMeasurementRequest, context: Context
    ) -> kpi_pb2.CorrectMeasurementResponse:
        kpi_id = parse_uuid(request.kpi_id, "kpi_id")
        measurement_id = parse_uuid(request.measurement_id, "measurement_id")
        value = require_finite_number(request.value, "value")
        _require_version(request.expected_version)
        principal = current_principal()
        saved = await self._once(
            principal,
            request,
            lambda: self.app.correct_measurement(
                principal, kpi_id, measurement_id, value, request.reason, request.expected_version
            ),
        )
        return kpi_pb2.CorrectMeasurementResponse(
            kpi=kpi_to_proto(saved.aggregate), position_token=saved.position_token
        )

    # ---- KPI queries ----

    async def GetKpi(  # noqa: N802
        self, request: kpi_pb2.GetKpiRequest, context: Context
    ) -> kpi_pb2.Kpi:
        kpi_id = parse_uuid(request.kpi_id, "kpi_id")
        kpi = await asyncio.to_thread(self.app.get_kpi, current_principal(), kpi_id)
        return kpi_to_proto(kpi)

    async def ListKpiPeriods(  # noqa: N802
        self, request: kpi_pb2.ListKpiPeriodsRequest, context: Context
    ) -> kpi_pb2.ListKpiPeriodsResponse:
        kpi_id = parse_uuid(request.kpi_id, "kpi_id")
        kpi = await asyncio.to_thread(self.app.get_kpi, current_principal(), kpi_id)
        return kpi_pb2.ListKpiPeriodsResponse(periods=periods_to_proto(kpi))

    async def ListKpis(  # noqa: N802
        self, request: kpi_pb2.ListKpisRequest, context: Context
    ) -> kpi_pb2.ListKpisResponse:
        principal = current_principal()
        limit = page_size(request.page_size)
        if request.page_token and not _PAGE_TOKEN.match(request.page_token):
            raise InvalidArgument("malformed page token", field="page_token")
        after = request.page_token.removeprefix("after:")

        def page() -> kpi_pb2.ListKpisResponse:
            self.index.catch_up()
            shown: list[kpi_pb2.Kpi] = []
            cursor = after
            while len(shown) < limit:
                rows = self.index.kpis(principal.tenant_id, after=cursor, limit=limit)
                for row in rows:
                    cursor = str(row.kpi_id)
                    audience = KpiAudience(row.tenant_id, row.owner_id, row.visibility)
                    manages = self.app.directory.is_in_management_chain
                    if can_view_kpi(principal, audience, manages):
                        shown.append(kpi_to_proto(self.app.get_kpi(principal, row.kpi_id)))
                        if len(shown) == limit:
                            break
                if len(rows) < limit:
                    return kpi_pb2.ListKpisResponse(kpis=shown)
            return kpi_pb2.ListKpisResponse(kpis=shown, next_page_token=f"after:{cursor}")

        return await asyncio.to_thread(page)

    # ---- surveys ----

    async def CreateSurvey(  # noqa: N802
        self, request: kpi_pb2.CreateSurveyRequest, context: Context
    ) -> kpi_pb2.CreateSurveyResponse:
        principal = current_principal()
        kind = SURVEY_KINDS.from_request(request.kind, "kind")
        cadence = CADENCES.from_request(request.cadence, "cadence")
        saved = await self._once(
            principal,
            request,
            lambda: self.surveys.create_survey(
                principal, name=request.name, kind=kind, cadence=cadence, owner_id=request.owner_id
            ),
        )
        return kpi_pb2.CreateSurveyResponse(
            survey_id=str(saved.aggregate.id),
            version=saved.aggregate.version,
            position_token=saved.position_token,
        )

    async def RecordSurveyResponse(  # noqa: N802
        self, request: kpi_pb2.RecordSurveyResponseRequest, context: Context
    ) -> kpi_pb2.RecordSurveyResponseResponse:
        principal = current_principal()
        survey_id = parse_uuid(request.survey_id, "survey_id")
        score = require_score(request.score)
        saved = await self._once(
            principal,
            request,
            lambda: self.surveys.record_response(
                principal,
                survey_id,
                period=request.period,
                score=score,
                respondent_id=request.respondent_id,
                group=request.group,
            ),
        )
        return kpi_pb2.RecordSurveyResponseResponse(
            recorded=saved.changed, version=saved.aggregate.version
        )

    async def GetSurveyResults(  # noqa: N802
        self, request: kpi_pb2.GetSurveyResultsRequest, context: Context
    ) -> kpi_pb2.SurveyResults:
        principal = current_principal()
        survey_id = parse_uuid(request.survey_id, "survey_id")
        results = await asyncio.to_thread(
            self.surveys.results, principal, survey_id, request.period
        )
        return results_to_proto(results)

    async def SetAnonymityMinimum(  # noqa: N802
        self, request: kpi_pb2.SetAnonymityMinimumRequest, context: Context
    ) -> kpi_pb2.SetAnonymityMinimumResponse:
        principal = current_principal()
        saved = await self._once(
            principal,
            request,
            lambda: self.surveys.set_anonymity_minimum(principal, request.anonymity_minimum),
        )
        return kpi_pb2.SetAnonymityMinimumResponse(
            anonymity_minimum=saved.aggregate.anonymity_minimum
        )

    # ---- helpers ----

    async def _once(
        self, principal: Principal, request: Message, run: Callable[[], Saved]
    ) -> Saved:
        """`run` in a worker thread, at most once per request id (services.shared.idempotency):
        a retry answers what the first run saved. Saves wake the relay and the index through the
        application's after_save hooks."""
        request_id = parse_request_id(getattr(request, REQUEST_ID_FIELD))
        method = type(request).__name__.removesuffix("Request")
        log, retention = self.app.request_log, self.app.request_retention

        def replay(result: Mapping[str, Any]) -> Saved:
            return self.app.recorded(principal, result)

        return await asyncio.to_thread(
            run_once, log, principal, request_id, method, request, retention, run, replay
        )


def _require_version(version: int) -> None:
    if version < 0:
        raise InvalidArgument("must not be negative", field="expected_version")
