"""The inbound HRIS feed's record formats (topic northstar.hris.inbound.v1).

These models are the contract with the enterprise's HRIS connector: contracts/schemas/hris/ holds
their generated JSON Schemas. Unlike our own events, a feed record with a field we do not know
is refused (dead-lettered with the reason): in a feed it nearly always means a mapping bug in
the connector, and silently dropping a field the sender thought it set would lose data.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from northstar_contracts.errors import ContractViolation, violation_of
from northstar_contracts.registry import PersonalData

# Limits of the directory's fields; the directory service enforces the same ones.
MAX_ID_LENGTH = 128
MAX_TENANT_LENGTH = 64
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254
MAX_TITLE_LENGTH = 200
MAX_REASON_LENGTH = 500

HRIS_INBOUND_TOPIC = "northstar.hris.inbound.v1"
HRIS_DEAD_LETTER_TOPIC = HRIS_INBOUND_TOPIC + ".dlq"
MAX_RECORD_BYTES = 64 * 1024
_ID_PATTERN = r"^\S(.*\S)?$"  # no surrounding whitespace

ExternalId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=_ID_PATTERN)]
OptionalExternalId = Annotated[str, Field(max_length=MAX_ID_LENGTH, pattern=r"^(\S(.*\S)?)?$")]


class HrisRecordBase(BaseModel):
    """Fields every record carries. Unknown fields are refused: they usually mean a mapping bug."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = Field(1, description="Version of this record format.")
    tenant_id: str = Field(
        min_length=1,
        max_length=MAX_TENANT_LENGTH,
        pattern=_ID_PATTERN,
        description="Tenant (enterprise) the record belongs to; also the Kafka message key.",
    )
    external_id: ExternalId = Field(
        description="The enterprise's id of the person or team (unique within the tenant)."
    )
    effective_at: AwareDatetime = Field(
        description="When the change took effect in the HRIS (RFC 3339 with offset). Records "
        "older than the last change applied to the same person or team are ignored."
    )

    @property
    def occurred_at(self) -> AwareDatetime:
        """What the consumer runtime measures lag against."""
        return self.effective_at


class PersonUpsertRecord(HrisRecordBase):
    """Creates a person or brings them up to date (every field is the complete new value)."""

    record_type: Literal["person_upsert"]
    name: str = PersonalData("Full name.", min_length=1, max_length=MAX_NAME_LENGTH)
    email: str = PersonalData(
        "Work email address.",
        min_length=3,
        max_length=MAX_EMAIL_LENGTH,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    )
    title: str = PersonalData("Job title.", default="", max_length=MAX_TITLE_LENGTH)
    team_id: OptionalExternalId = Field(
        "", description="Team (an earlier team_upsert's external_id); '' for none."
    )
    manager_id: OptionalExternalId = Field(
        "", description="Line manager (an earlier person_upsert's external_id); '' at the top."
    )
    employment_status: Literal["active", "on_leave"] = Field(
        "active", description="Departures are their own record type."
    )
    start_date: date | None = Field(None, description="First day of employment.")
    leave_date: date | None = Field(None, description="Planned last day, if known.")


class TeamUpsertRecord(HrisRecordBase):
    """Creates a team or brings it up to date; a team without parent is a department."""

    record_type: Literal["team_upsert"]
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, description="Team name.")
    parent_team_id: OptionalExternalId = Field(
        "", description="Parent team (an earlier team_upsert); '' for a department."
    )
    lead_id: OptionalExternalId = Field(
        "", description="Team lead's person id; may name a person sent later in the feed."
    )


class DepartureRecord(HrisRecordBase):
    """The person (external_id) has left; repeated departures change nothing."""

    record_type: Literal["departure"]
    leave_date: date = Field(description="Last day of employment.")
    reason: str = PersonalData("Free text for HR.", default="", max_length=MAX_REASON_LENGTH)


HrisRecord = Annotated[
    PersonUpsertRecord | TeamUpsertRecord | DepartureRecord,
    Field(discriminator="record_type"),
]
HRIS_RECORD_ADAPTER: TypeAdapter[HrisRecord] = TypeAdapter(HrisRecord)
RECORD_MODELS: dict[str, type[HrisRecordBase]] = {
    "person_upsert": PersonUpsertRecord,
    "team_upsert": TeamUpsertRecord,
    "departure": DepartureRecord,
}


def hris_inbound_topic(namespace: str = "northstar") -> str:
    """The inbound topic; the namespace only changes to isolate test runs."""
    return f"{namespace}.hris.inbound.v1"


def parse_hris_record(body: bytes | None) -> HrisRecord:
    """The record in a message body, or ContractViolation naming every fault found."""
    if not body:
        raise ContractViolation("record has no body", field="value")
    if len(body) > MAX_RECORD_BYTES:
        raise ContractViolation(f"record exceeds {MAX_RECORD_BYTES} bytes", field="value")
    try:
        return HRIS_RECORD_ADAPTER.validate_json(body)
    except ValidationError as error:
        problems = [_describe(problem) for problem in error.errors(include_url=False)]
        raise violation_of(problems) from error


def _describe(problem: Any) -> tuple[str, str]:
    # The first location element of a tagged union is the tag (e.g. "person_upsert").
    location = [str(part) for part in problem["loc"]]
    if location and location[0] in RECORD_MODELS:
        location = location[1:]
    return ".".join(location), str(problem["msg"])


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema of each record type, and of the feed's union of them."""
    schemas = {
        f"{record_type}.json": model.model_json_schema()
        for record_type, model in RECORD_MODELS.items()
    }
    schemas["hris_record.json"] = HRIS_RECORD_ADAPTER.json_schema()
    return schemas
