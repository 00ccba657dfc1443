"""Every topic of the published language and what travels on it: the source of the AsyncAPI
document and the event catalogue, and the one place a new event module is listed."""

from __future__ import annotations

from dataclasses import dataclass

from northstar_contracts import directory, goals, hris
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
    name: str
    consumer: str
    description: str


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
)
INBOUND_TOPICS = (
    InboundTopic(
        hris.HRIS_INBOUND_TOPIC,
        "directory",
        "Records from the enterprise's HRIS: people, teams, departures. Key: the tenant id.",
    ),
)


def all_events() -> ContractRegistry:
    """The registry with every event module loaded (importing this module loads them)."""
    return EVENTS
