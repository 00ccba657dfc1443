"""The committed golden store: stored rows as readable JSON, and back to StoredEvents."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

HERE = Path(__file__).parent
STORED_EVENTS = HERE / "stored_events.json"
EXPECTED_STATES = HERE / "expected_states.json"


def _json_bytes(value: Any) -> bytes:
    # The settings of eventsourcing's JSONTranscoder, so a JSON state round-trips byte for byte.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf8")


def row_of(stored: StoredEvent) -> dict[str, Any]:
    """One stored event or snapshot as JSON: the state inline when it is JSON, else base64."""
    row: dict[str, Any] = {
        "originator_id": str(stored.originator_id),
        "originator_version": stored.originator_version,
        "topic": stored.topic,
    }
    try:
        state = json.loads(stored.state.decode("utf8"))
    except ValueError:
        state = None
    if state is not None and _json_bytes(state) == stored.state:
        row["state"] = state
    else:
        row["state_base64"] = base64.b64encode(stored.state).decode("ascii")
    return row


def stored_event_of(row: dict[str, Any]) -> StoredEvent:
    state = _json_bytes(row["state"]) if "state" in row else base64.b64decode(row["state_base64"])
    return StoredEvent(
        originator_id=UUID(row["originator_id"]),
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=state,
    )


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf8"))
    return data


def dump(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf8")
