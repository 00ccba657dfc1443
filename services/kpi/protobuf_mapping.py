"""Protobuf <-> domain values for the KPI API: closed sets as enums, thresholds, KPIs, periods
and survey results. Every refusal names the request field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from northstar.kpi.v1 import kpi_pb2
from services.kpi.domain import Kpi
from services.kpi.nps import NpsResult
from services.kpi.survey_use_cases import SurveyResults
from services.kpi.thresholds import BANDS, Band, Thresholds, min_target_max
from services.shared.errors import InvalidArgument
from services.shared.proto_enums import EnumTable
from services.shared.validation import require_finite_number

TARGET_TYPES: EnumTable[Any, str] = EnumTable(
    kpi_pb2.TargetType.DESCRIPTOR,
    {
        kpi_pb2.TARGET_TYPE_INCREASE_TO: "increase_to",
        kpi_pb2.TARGET_TYPE_DECREASE_TO: "decrease_to",
        kpi_pb2.TARGET_TYPE_STAY_AT_OR_ABOVE: "stay_at_or_above",
        kpi_pb2.TARGET_TYPE_STAY_AT_OR_BELOW: "stay_at_or_below",
    },
)
CADENCES: EnumTable[Any, str] = EnumTable(
    kpi_pb2.Cadence.DESCRIPTOR,
    {
        kpi_pb2.CADENCE_DAILY: "daily",
        kpi_pb2.CADENCE_WEEKLY: "weekly",
        kpi_pb2.CADENCE_MONTHLY: "monthly",
        kpi_pb2.CADENCE_QUARTERLY: "quarterly",
    },
)
SUMMARIES: EnumTable[Any, str] = EnumTable(
    kpi_pb2.Summary.DESCRIPTOR,
    {
        kpi_pb2.SUMMARY_LAST: "last",
        kpi_pb2.SUMMARY_SUM: "sum",
        kpi_pb2.SUMMARY_AVERAGE: "average",
    },
)
VISIBILITIES: EnumTable[Any, str] = EnumTable(
    kpi_pb2.KpiVisibility.DESCRIPTOR,
    {
        kpi_pb2.KPI_VISIBILITY_TENANT: "tenant",
        kpi_pb2.KPI_VISIBILITY_RESTRICTED: "restricted",
    },
)
STATUSES: EnumTable[Any, str] = EnumTable(
    kpi_pb2.KpiStatus.DESCRIPTOR,
    {
        kpi_pb2.KPI_STATUS_NO_DATA: "no_data",
        kpi_pb2.KPI_STATUS_RED: "red",
        kpi_pb2.KPI_STATUS_AMBER: "amber",
        kpi_pb2.KPI_STATUS_GREEN: "green",
    },
)
SOURCES: EnumTable[Any, str] = EnumTable(
    kpi_pb2.MeasurementSource.DESCRIPTOR,
    {
        kpi_pb2.MEASUREMENT_SOURCE_MANUAL: "manual",
        kpi_pb2.MEASUREMENT_SOURCE_INTEGRATION: "integration",
    },
)
SURVEY_KINDS: EnumTable[Any, str] = EnumTable(
    kpi_pb2.SurveyKind.DESCRIPTOR,
    {kpi_pb2.SURVEY_KIND_NPS: "nps", kpi_pb2.SURVEY_KIND_ENPS: "enps"},
)


def thresholds_from_proto(message: kpi_pb2.Thresholds, field: str = "thresholds") -> Thresholds:
    kind = message.WhichOneof("kind")
    if kind == "bands":
        bands = []
        for index, band in enumerate(message.bands.bands):
            where = f"{field}.bands[{index}]"
            status = STATUSES.from_request(band.status, f"{where}.status")
            if status == "no_data":
                raise InvalidArgument("must be RED, AMBER or GREEN", field=f"{where}.status")
            lower = _optional(band, "lower", f"{where}.lower")
            upper = _optional(band, "upper", f"{where}.upper")
            bands.append(Band(status, lower, upper))
        return Thresholds(BANDS, tuple(bands))
    if kind == "min_target_max":
        limits = message.min_target_max
        return min_target_max(
            minimum=_optional(limits, "minimum", f"{field}.minimum"),
            maximum=_optional(limits, "maximum", f"{field}.maximum"),
        )
    raise InvalidArgument("set bands or min_target_max", field=field)


def _optional(message: Any, name: str, field: str) -> float | None:
    if not message.HasField(name):
        return None
    return require_finite_number(getattr(message, name), field)


def thresholds_to_proto(thresholds: Thresholds) -> kpi_pb2.Thresholds:
    if thresholds.kind == BANDS:
        return kpi_pb2.Thresholds(
            bands=kpi_pb2.ThresholdBands(
                bands=[
                    kpi_pb2.ThresholdBand(
                        status=STATUSES.to_proto(band.status), lower=band.lower, upper=band.upper
                    )
                    for band in thresholds.bands
                ]
            )
        )
    return kpi_pb2.Thresholds(
        min_target_max=kpi_pb2.MinTargetMax(minimum=thresholds.minimum, maximum=thresholds.maximum)
    )


def kpi_to_proto(kpi: Kpi) -> kpi_pb2.Kpi:
    return kpi_pb2.Kpi(
        kpi_id=str(kpi.id),
        name=kpi.name,
        description=kpi.description,
        unit=kpi.unit,
        owner_id=kpi.owner_id,
        objective_goal_id=kpi.objective_goal_id,
        target_type=TARGET_TYPES.to_proto(kpi.target_type),
        cadence=CADENCES.to_proto(kpi.cadence),
        summary=SUMMARIES.to_proto(kpi.summary),
        visibility=VISIBILITIES.to_proto(kpi.visibility),
        first_period=kpi.first_period,
        targets=[
            kpi_pb2.TargetFrom(from_period=period, target=target)
            for period, target in kpi.target_history
        ],
        thresholds=thresholds_to_proto(kpi.thresholds),
        status=STATUSES.to_proto(kpi.status),
        status_period=kpi.status_period,
        version=kpi.version,
        overdue_periods=list(kpi.overdue_periods),
    )


def periods_to_proto(kpi: Kpi) -> list[kpi_pb2.KpiPeriod]:
    return [
        kpi_pb2.KpiPeriod(
            period=summary.period,
            value=summary.value,
            target=summary.target,
            status=STATUSES.to_proto(summary.status),
            overdue=summary.overdue,
            measurements=[_measurement(m) for m in kpi.measurements(summary.period)],
        )
        for summary in kpi.summaries()
    ]


def _measurement(data: Mapping[str, Any]) -> kpi_pb2.Measurement:
    return kpi_pb2.Measurement(
        measurement_id=data["measurement_id"],
        value=data["value"],
        original_value=data["original_value"],
        source=SOURCES.to_proto(data["source"]),
        source_account=data["source_account"],
        source_record_id=data["source_record_id"],
        corrections=[
            kpi_pb2.Correction(
                value=c["value"], previous_value=c["previous_value"], reason=c["reason"], by=c["by"]
            )
            for c in data["corrections"]
        ],
    )


def nps_to_proto(result: NpsResult) -> kpi_pb2.NpsScore:
    low, high = result.interval
    return kpi_pb2.NpsScore(
        responses=result.responses,
        score=result.score,
        interval_low=low,
        interval_high=high,
        promoter_percent=result.promoter_percent,
        passive_percent=result.passive_percent,
        detractor_percent=result.detractor_percent,
        distribution=list(result.distribution),
    )


def results_to_proto(results: SurveyResults) -> kpi_pb2.SurveyResults:
    return kpi_pb2.SurveyResults(
        survey_id=str(results.survey.id),
        period=results.period,
        kind=SURVEY_KINDS.to_proto(results.survey.kind),
        overall=nps_to_proto(results.overall),
        groups=[
            kpi_pb2.GroupScore(group=group.group, score=nps_to_proto(group.result))
            for group in results.groups
        ],
        hidden_groups=results.hidden_groups,
        anonymity_minimum=results.anonymity_minimum,
    )
