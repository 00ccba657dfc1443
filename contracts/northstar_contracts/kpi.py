"""Public events of the KPI topic (northstar.kpi.v1) and the inbound measurement feed's record.

A KPI's events are keyed by the KPI's id (the envelope's aggregate id), so one KPI's history
keeps its order. Survey responses never travel: they stay in the KPI service, which answers
only aggregated, anonymity-checked results through its API.

`kpi.MeasurementRecorded` and `kpi.MeasurementCorrected` carry the period's summarised value,
so a consumer (e.g. a goal measured by a KPI) needs no other event to know where the KPI stands
for that period; the envelope's `id` is what such a consumer cites as its causation id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from northstar_contracts.errors import ContractViolation, violation_of
from northstar_contracts.kpi_periods import MAX_PERIOD_LENGTH, Cadence
from northstar_contracts.registry import EVENTS, Contract, EventContract

TOPIC = "northstar.kpi.v1"
SOURCE = "northstar/kpi"
TYPE_PREFIX = "kpi."
AGGREGATE_TYPE = "Kpi"
KPI_DEFINED = "kpi.KpiDefined"
MEASUREMENT_RECORDED = "kpi.MeasurementRecorded"
MEASUREMENT_CORRECTED = "kpi.MeasurementCorrected"

MEASUREMENTS_INBOUND_TOPIC = "northstar.kpi.measurements.inbound.v1"
MAX_RECORD_BYTES = 16 * 1024
MAX_ID_LENGTH = 128
MAX_TENANT_LENGTH = 64

TargetType = Literal["increase_to", "decrease_to", "stay_at_or_above", "stay_at_or_below"]
Summary = Literal["last", "sum", "average"]
BandStatus = Literal["red", "amber", "green"]
Status = Literal["no_data", "red", "amber", "green"]
Visibility = Literal["tenant", "restricted"]
Source = Literal["manual", "integration"]
ThresholdKind = Literal["bands", "min_target_max"]


def kpi_event(type_name: str, version: int = 1) -> Callable[[Contract], Contract]:
    return EVENTS.register(type_name, version=version, topic=TOPIC, aggregate_type=AGGREGATE_TYPE)


By = Field(description="Person or integration account id of whoever caused the change.")
Reason = Field(description="Why the change was made, in the actor's words.")
PeriodKey = Field(description="The period, spelled per the KPI's cadence (docs/kpi.md).")
Finite = Field(allow_inf_nan=False)


class BandContract(EventContract):
    """One status band: values in [lower, upper) have `status`; null bounds are open."""

    status: BandStatus = Field(description="red, amber or green.")
    lower: float | None = Field(description="Smallest value in the band (inclusive); null: none.")
    upper: float | None = Field(description="Values below this are in the band; null: no bound.")


class ThresholdsContract(EventContract):
    """How a period's value maps to a status."""

    kind: ThresholdKind = Field(
        description="bands: explicit value bands; min_target_max: green at or beyond the "
        "period's target, amber up to `minimum` (rising KPIs) or `maximum` (falling ones), red "
        "beyond."
    )
    bands: list[BandContract] = Field(description="The bands, lowest first (kind bands).")
    minimum: float | None = Field(description="Amber floor of a rising KPI (min_target_max).")
    maximum: float | None = Field(description="Amber ceiling of a falling KPI (min_target_max).")


@kpi_event(KPI_DEFINED)
class KpiDefinedV1(EventContract):
    """A KPI was defined: what it measures, who owns it, its target, thresholds and cadence."""

    tenant_id: str = Field(description="Tenant that owns the KPI.")
    name: str = Field(description="Short name, e.g. 'Customer NPS'.")
    description: str = Field(description="What the KPI measures and how.")
    unit: str = Field(description="Unit shown with values, e.g. '%', 'EUR', 'tickets'.")
    owner_id: str = Field(description="Person id of the owner.")
    objective_goal_id: str = Field(
        description="The strategic objective (a goal id) the KPI serves; '' for none."
    )
    target_type: TargetType = Field(description="Which way the KPI should go, or stay.")
    cadence: Cadence = Field(description="How often a value is expected.")
    summary: Summary = Field(description="How a period's measurements summarise to one value.")
    visibility: Visibility = Field(
        description="tenant: everyone in the tenant sees it; restricted: its owner, the owner's "
        "managers, HR admins, auditors and integrations."
    )
    first_period: str = Field(description="The first period a value is expected for.")
    target: float = Field(description="Target from the first period on.")
    thresholds: ThresholdsContract = Field(description="How values map to a status.")
    by: str = By


@kpi_event("kpi.TargetChanged")
class TargetChangedV1(EventContract):
    """The KPI's target changed from a period on (earlier periods keep their target)."""

    from_period: str = Field(description="First period the new target applies to.")
    target: float = Field(description="The new target.")
    previous_target: float = Field(description="The target that applied to that period before.")
    reason: str = Reason
    by: str = By


@kpi_event("kpi.ThresholdsChanged")
class ThresholdsChangedV1(EventContract):
    """The KPI's thresholds changed (they apply to every period)."""

    thresholds: ThresholdsContract = Field(description="The new thresholds.")
    reason: str = Reason
    by: str = By


@kpi_event(MEASUREMENT_RECORDED)
class MeasurementRecordedV1(EventContract):
    """A value was measured for a period; carries the period's summarised value and status."""

    measurement_id: UUID = Field(description="Id of this measurement (corrections name it).")
    period: str = PeriodKey
    value: float = Field(description="The measured value.")
    source: Source = Field(description="manual (a person) or integration (a system).")
    source_account: str = Field(description="The person or integration account that sent it.")
    source_record_id: str = Field(description="The source's own id of the record.")
    period_value: float = Field(description="The period's value after this measurement.")
    period_measurement_count: int = Field(ge=1, description="Measurements in the period now.")
    target: float = Field(description="The target of the period.")
    status: Status = Field(description="The period's status after this measurement.")
    by: str = By


@kpi_event(MEASUREMENT_CORRECTED)
class MeasurementCorrectedV1(EventContract):
    """A measurement's value was corrected; the original stays in the history."""

    measurement_id: UUID = Field(description="The measurement corrected.")
    period: str = PeriodKey
    value: float = Field(description="The corrected value.")
    previous_value: float = Field(description="The value before this correction.")
    period_value: float = Field(description="The period's value after the correction.")
    target: float = Field(description="The target of the period.")
    status: Status = Field(description="The period's status after the correction.")
    reason: str = Reason
    by: str = By


@kpi_event("kpi.MeasurementOverdue")
class MeasurementOverdueV1(EventContract):
    """A period ended without any measurement (recorded once per missed period)."""

    period: str = PeriodKey
    due_since: str = Field(description="The day after the period's last day (YYYY-MM-DD).")


@kpi_event("kpi.StatusChanged")
class StatusChangedV1(EventContract):
    """The KPI's status (that of its latest measured period) really changed."""

    period: str = Field(description="The latest measured period, whose status this is.")
    status: Status = Field(description="The new status.")
    previous_status: Status = Field(description="The status before.")
    by: str = By


# ---- the inbound measurement feed (northstar.kpi.measurements.inbound.v1) ----

_ID_PATTERN = r"^\S(.*\S)?$"


class MeasurementRecord(BaseModel):
    """One measurement from an external system. Unknown fields are refused: in a feed they
    nearly always mean a mapping bug, and dropping a field the sender meant would lose data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = Field(1, description="Version of this record format.")
    tenant_id: str = Field(
        min_length=1,
        max_length=MAX_TENANT_LENGTH,
        pattern=_ID_PATTERN,
        description="Tenant the KPI belongs to.",
    )
    kpi_id: UUID = Field(description="The KPI measured; also the Kafka message key.")
    period: str = Field(
        min_length=1,
        max_length=MAX_PERIOD_LENGTH,
        description="The period measured, spelled per the KPI's cadence (docs/kpi-feed.md).",
    )
    value: Annotated[float, Finite] = Field(description="The measured value (finite).")
    source_record_id: str = Field(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        pattern=_ID_PATTERN,
        description="The source's id of this record: (KPI, period, source_record_id) is applied "
        "once, however often it is sent.",
    )
    source_system: str = Field(
        "",
        max_length=MAX_ID_LENGTH,
        description="Name of the sending system, e.g. 'salesforce'; '' for the feed's default.",
    )
    measured_at: AwareDatetime | None = Field(
        None, description="When the source measured the value (RFC 3339 with offset), if known."
    )

    @property
    def occurred_at(self) -> AwareDatetime | None:
        """What the consumer runtime measures lag against."""
        return self.measured_at


def measurements_inbound_topic(namespace: str = "northstar") -> str:
    """The inbound topic; the namespace only changes to isolate test runs."""
    return f"{namespace}.kpi.measurements.inbound.v1"


def parse_measurement_record(body: bytes | None) -> MeasurementRecord:
    """The record in a message body, or ContractViolation naming every fault found."""
    if not body:
        raise ContractViolation("record has no body", field="value")
    if len(body) > MAX_RECORD_BYTES:
        raise ContractViolation(f"record exceeds {MAX_RECORD_BYTES} bytes", field="value")
    try:
        return MeasurementRecord.model_validate_json(body)
    except ValidationError as error:
        problems = [
            (".".join(str(part) for part in problem["loc"]), str(problem["msg"]))
            for problem in error.errors(include_url=False)
        ]
        raise violation_of(problems) from error


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema of the feed's record."""
    return {"measurement_record.json": MeasurementRecord.model_json_schema()}
