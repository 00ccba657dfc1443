"""Audit history on real Kafka and both stores: goals and directory aggregates, any past state,
exports that verify after re-import elsewhere, and tampering reported at the first broken link."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from services.directory.domain import person_uuid
from services.projections.audit import AuditTables, ensure_audit_tables, load_entries, verify_chain
from services.projections.audit_export import import_csv, import_jsonl
from services.projections.goals_projection import GOALS_READ_MODEL
from services.projections.versions import table_prefix
from services.shared.readmodel import ReadModelDatabase
from tests.integration.conftest import RunningSystem
from tests.integration.test_walking_skeleton import create, metric

pytestmark = [pytest.mark.kafka]


async def collect(chunks: AsyncIterable[projections_pb2.ExportHistoryChunk]) -> tuple[str, str]:
    """(media type, text) of a streamed export."""
    media_type, data = "", b""
    async for chunk in chunks:
        media_type = media_type or chunk.content_type
        data += chunk.data
    return media_type, data.decode()


async def history_once_projected(
    system: RunningSystem, aggregate_id: str
) -> projections_pb2.AuditHistory:
    """Directory commands give the tests no position token: poll until the history is there."""
    deadline = time.monotonic() + 30
    while True:
        try:
            history: projections_pb2.AuditHistory = await system.projections_stub.GetAuditHistory(
                projections_pb2.GetAuditHistoryRequest(aggregate_id=aggregate_id),
                metadata=system.bearer("auditor-1", ["auditor"]),
            )
            return history
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


def verify_everything(db: ReadModelDatabase) -> dict[str, bool]:
    with db.transaction() as tx:
        ids = [row[0] for row in tx.execute("SELECT DISTINCT aggregate_id FROM audit_entries")]
        return {i: verify_chain(load_entries(tx, i)).intact for i in ids}


async def test_histories_past_states_exports_and_tampering(
    tenant_system: RunningSystem, tmp_path: Path
) -> None:
    hr = tenant_system.bearer("hr-1", ["hr_admin"])
    auditor = tenant_system.bearer("auditor-1", ["auditor"])
    system = tenant_system
    stub = system.projections_stub
    goal = await create(
        system, "Cut churn to 3%", goals_pb2.GOAL_LEVEL_PERSONAL, metric=metric(0, 10)
    )
    other = await create(
        system, "Ship the mobile app", goals_pb2.GOAL_LEVEL_PERSONAL, metric=metric(0, 1)
    )
    tokens = [goal.position_token, other.position_token]
    for value in (2, 4, 6):
        response = await system.goals_stub.CheckIn(
            goals_pb2.CheckInRequest(goal_id=goal.goal.id, value=value, confidence=0.7, note=""),
            metadata=hr,
        )
        tokens.append(response.position_token)
    history = await stub.GetGoalHistory(
        projections_pb2.GetGoalHistoryRequest(
            goal_id=goal.goal.id, page_size=2, consistency_tokens=tokens
        ),
        metadata=auditor,
    )
    assert [e.version for e in history.entries] == [1, 2]
    assert history.entries[0].aggregate_type == "Goal"
    created_fields = {change.field for change in history.entries[0].changes}
    assert {"title", "owner_id", "metric", "confidence"} <= created_fields

    # The state at a version, and at the moment of an entry.
    at_three = await stub.GetGoalAsOf(
        projections_pb2.GetGoalAsOfRequest(goal_id=goal.goal.id, version=3), metadata=auditor
    )
    assert json.loads(at_three.state_json)["metric"]["current"] == 2.0
    rest = await stub.GetGoalHistory(
        projections_pb2.GetGoalHistoryRequest(
            goal_id=goal.goal.id, page_token=history.next_page_token
        ),
        metadata=auditor,
    )
    fourth = rest.entries[1]
    at_moment = await stub.GetGoalAsOf(
        projections_pb2.GetGoalAsOfRequest(goal_id=goal.goal.id, as_of=fourth.occurred_at),
        metadata=auditor,
    )
    assert at_moment.version == 4
    assert json.loads(at_moment.state_json)["metric"]["current"] == 4.0

    # Directory aggregates are audited too, in the same tenant-scoped store.
    person_id = str(person_uuid(system.tenant_id(), "owner-1"))
    person = await history_once_projected(system, person_id)
    assert person.entries[0].event_type == "directory.PersonRegistered"
    assert person.entries[0].aggregate_type == "Person"

    tenant = await stub.VerifyHistory(projections_pb2.VerifyHistoryRequest(), metadata=auditor)
    assert tenant.intact
    assert tenant.aggregates_checked >= 2 + 4  # two goals, four acme people (and teams)

    # Export the whole tenant as JSON Lines and one goal as CSV; both verify elsewhere.
    media_type, jsonl = await collect(
        stub.ExportHistory(
            projections_pb2.ExportHistoryRequest(format=projections_pb2.EXPORT_FORMAT_JSONL),
            metadata=auditor,
        )
    )
    assert media_type == "application/x-ndjson"
    lines = jsonl.splitlines()
    assert {json.loads(line)["tenant_id"] for line in lines} == {system.tenant_id()}
    assert tenant.entries_checked == len(lines)
    csv_type, csv_text = await collect(
        stub.ExportHistory(
            projections_pb2.ExportHistoryRequest(
                aggregate_id=goal.goal.id, format=projections_pb2.EXPORT_FORMAT_CSV
            ),
            metadata=hr,
        )
    )
    assert csv_type == "text/csv"
    importers: dict[str, Callable[[ReadModelDatabase], int]] = {
        "jsonl": lambda db: import_jsonl(db, lines),
        "csv": lambda db: import_csv(db, csv_text),
    }
    for name, load in importers.items():
        elsewhere = ReadModelDatabase(f"sqlite:///{tmp_path / f'{name}-{uuid.uuid4().hex}.db'}")
        ensure_audit_tables(elsewhere)
        assert load(elsewhere) > 0
        verified = verify_everything(elsewhere)
        assert goal.goal.id in verified
        assert all(verified.values())
        elsewhere.close()

    # Alter one stored entry of the live version: verify names the goal and that entry.
    audit = AuditTables(table_prefix(system.projections.read_models.live_name(GOALS_READ_MODEL)))
    with system.projections.db.transaction() as tx:
        tx.execute(
            f"UPDATE {audit.entries} SET actor_id = ? WHERE aggregate_id = ? AND version = ?",
            ("mallory", goal.goal.id, 3),
        )
    broken = await stub.VerifyHistory(
        projections_pb2.VerifyHistoryRequest(aggregate_id=goal.goal.id), metadata=auditor
    )
    assert not broken.intact
    assert (broken.broken_aggregate_id, broken.first_broken_version) == (goal.goal.id, 3)
    assert "hash" in broken.reason
    whole = await stub.VerifyHistory(projections_pb2.VerifyHistoryRequest(), metadata=auditor)
    assert (whole.intact, whole.broken_aggregate_id, whole.first_broken_version) == (
        False,
        goal.goal.id,
        3,
    )
    untouched = await stub.VerifyHistory(
        projections_pb2.VerifyHistoryRequest(aggregate_id=other.goal.id), metadata=auditor
    )
    assert untouched.intact


async def test_every_goal_command_shows_in_the_history_and_the_projected_state(
    tenant_system: RunningSystem,
) -> None:
    """Rename, describe, visibility, metric and key result removal: each is an audit entry with
    its reason, and the projections' state of the goal is the one the goals service holds."""
    hr = tenant_system.bearer("hr-1", ["hr_admin"])
    auditor = tenant_system.bearer("auditor-1", ["auditor"])
    system = tenant_system
    goals = system.goals_stub
    goal = await create(system, "Cut churn", goals_pb2.GOAL_LEVEL_PERSONAL, metric=metric(0, 10))
    goal_id = goal.goal.id
    added = await goals.AddKeyResult(
        goals_pb2.AddKeyResultRequest(
            goal_id=goal_id, title="Exit interviews", metric=metric(0, 5)
        ),
        metadata=hr,
    )
    # Calls start when made, so each is made only when the previous one has answered.
    commands: list[Callable[[], Awaitable[goals_pb2.GoalCommandResponse]]] = [
        lambda: goals.RenameGoal(
            goals_pb2.RenameGoalRequest(goal_id=goal_id, title="Cut churn to 3%"), metadata=hr
        ),
        lambda: goals.DescribeGoal(
            goals_pb2.DescribeGoalRequest(goal_id=goal_id, description="Monthly logo churn."),
            metadata=hr,
        ),
        lambda: goals.ChangeGoalVisibility(
            goals_pb2.ChangeGoalVisibilityRequest(
                goal_id=goal_id, visibility=goals_pb2.GOAL_VISIBILITY_PRIVATE
            ),
            metadata=hr,
        ),
        lambda: goals.ChangeMetric(
            goals_pb2.ChangeMetricRequest(
                goal_id=goal_id,
                metric=goals_pb2.Metric(
                    kind=goals_pb2.METRIC_KIND_PERCENTAGE,
                    start=5,
                    target=3,
                    direction=goals_pb2.METRIC_DIRECTION_DECREASE,
                ),
                reason="a rate, not a count",
            ),
            metadata=hr,
        ),
        lambda: goals.RemoveKeyResult(
            goals_pb2.RemoveKeyResultRequest(
                goal_id=goal_id,
                key_result_id=added.goal.key_results[0].id,
                reason="covered by the survey",
            ),
            metadata=hr,
        ),
    ]
    last = None
    for command in commands:
        last = await command()
    assert last is not None
    assert last.version == 8  # created, activated, key result added, then the five
    history = await system.projections_stub.GetGoalHistory(
        projections_pb2.GetGoalHistoryRequest(
            goal_id=goal_id, consistency_tokens=[last.position_token]
        ),
        metadata=auditor,
    )
    assert [(e.event_type, e.reason) for e in history.entries[3:]] == [
        ("goals.GoalRenamed", ""),
        ("goals.GoalDescribed", ""),
        ("goals.GoalVisibilityChanged", ""),
        ("goals.GoalMetricChanged", "a rate, not a count"),
        ("goals.GoalKeyResultRemoved", "covered by the survey"),
    ]
    projected = await system.projections_stub.GetGoalAsOf(
        projections_pb2.GetGoalAsOfRequest(goal_id=goal_id), metadata=auditor
    )
    state = json.loads(projected.state_json)
    assert (state["title"], state["description"], state["visibility"]) == (
        "Cut churn to 3%",
        "Monthly logo churn.",
        "private",
    )
    assert state["metric"] == {
        "kind": "percentage",
        "direction": "decrease",
        "start": 5.0,
        "target": 3.0,
        "unit": "",
        "current": 5.0,
    }
    assert state["key_results"] == []
    stored = last.goal
    assert (stored.title, stored.metric.target, len(stored.key_results)) == (
        state["title"],
        state["metric"]["target"],
        0,
    )
