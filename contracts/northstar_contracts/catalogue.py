"""Every topic of the published language and what travels on it: the source of the AsyncAPI
document and the event catalogue, and the one place a new event module is listed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from northstar_contracts import directory, feedback, goals, hris, kpi
from northstar_contracts.registry import EVENTS, ContractRegistry

DEAD_LETTER_SUFFIX = ".dlq"

# Headers of a dead-lettered record (its key and body are the original's, unchanged).
DEAD_LETTER_HEADERS: dict[str, str] = {
    "dlq_original_topic": "Topic the record was read from.",
    "dlq_original_partition": "Partition it was read from.",
    "dlq_original_offset": "Its offset there.",
    "dlq_consumer": "The consumer (read model or policy) that gave it up.",
    "dlq_attempts": "How many times it was tried.",
    "dlq_error_type": "Class of the error.",
    "dlq_error": "Why the record was given up (at most 2,000 characters).",
}


@dataclass(frozen=True)
class OutboundTopic:
    name: str
    producer: str
    description: str


@dataclass(frozen=True)
class InboundTopic:
    """A feed other systems publish to. `schemas` are its record formats (file name -> JSON
    Schema, written under contracts/schemas/<schema_folder>/); `message_schema` names the one a
    message holds."""

    name: str
    consumer: str
    description: str
    message: str
    title: str
    summary: str
    doc: str
    schema_folder: str
    schemas: Callable[[], dict[str, dict[str, Any]]]
    message_schema: str


OUTBOUND_TOPICS = (
    OutboundTopic(
        directory.TOPIC,
        "directory",
        "People, teams and reporting lines, keyed by aggregate id (one partition order per "
        "person or team).",
    ),
    OutboundTopic(
        goals.TOPIC,
        "goals",
        "Every change of every goal, keyed by goal id (one partition order per goal).",
    ),
    OutboundTopic(
        feedback.TOPIC,
        "feedback",
        "Feedback, feedback requests, 1:1s and reminders, keyed by aggregate id. Private texts "
        "and anonymous answers never travel here; only aggregates that met the threshold.",
    ),
    OutboundTopic(
        kpi.TOPIC,
        "kpi",
        "KPI definitions, targets, thresholds, measurements, overdue periods and status "
        "changes, keyed by KPI id (one partition order per KPI). Survey responses never travel.",
    ),
)
INBOUND_TOPICS = (
    InboundTopic(
        hris.HRIS_INBOUND_TOPIC,
        "directory",
        "Records from the enterprise's HRIS: people, teams, departures. Key: the tenant id.",
        message="HrisRecord",
        title="HRIS feed record",
        summary="A person_upsert, team_upsert or departure record (docs/hris-feed.md).",
        doc="hris-feed.md",
        schema_folder="hris",
        schemas=hris.json_schemas,
        message_schema="hris_record.json",
    ),
    InboundTopic(
        kpi.MEASUREMENTS_INBOUND_TOPIC,
        "kpi",
        "Measurements of KPIs from external systems, applied once per (KPI, period, source "
        "record id). Key: the KPI id.",
        message="MeasurementRecord",
        title="KPI measurement feed record",
        summary="One measured value of a KPI for a period (docs/kpi-feed.md).",
        doc="kpi-feed.md",
        schema_folder="kpi",
        schemas=kpi.json_schemas,
        message_schema="measurement_record.json",
    ),
)


def all_events() -> ContractRegistry:
    """The registry with every event module loaded (importing this module loads them)."""
    return EVENTS
