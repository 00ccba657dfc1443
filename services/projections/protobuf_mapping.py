"""Protobuf <-> domain values for the projections API: enums, goal nodes and audit entries.

Each API enum has one table here; the read models and the event contracts keep their strings.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from uuid import UUID

from northstar.projections.v1 import projections_pb2 as pb
from northstar_contracts import progress
from services.projections.alignment import GoalNode
from services.projections.audit import AuditEntry
from services.projections.directory_audit import DIRECTORY_AUDIT_READ_MODEL
from services.projections.feedback_activity import FEEDBACK_READ_MODEL
from services.projections.goals_projection import GOALS_READ_MODEL
from services.projections.kpi_projection import KPI_READ_MODEL
from services.shared.feedback_visibility import Access
from services.shared.proto_enums import EnumTable

GOAL_LEVELS = EnumTable(
    pb.GoalLevel.DESCRIPTOR,
    {
        pb.GOAL_LEVEL_STRATEGY: "strategy",
        pb.GOAL_LEVEL_COMPANY: "company",
        pb.GOAL_LEVEL_TEAM: "team",
        pb.GOAL_LEVEL_PERSONAL: "personal",
    },
)
GOAL_STATUSES = EnumTable(
    pb.GoalStatus.DESCRIPTOR,
    {
        pb.GOAL_STATUS_NOT_STARTED: progress.NOT_STARTED,
        pb.GOAL_STATUS_ON_TRACK: progress.ON_TRACK,
        pb.GOAL_STATUS_AT_RISK: progress.AT_RISK,
        pb.GOAL_STATUS_OFF_TRACK: progress.OFF_TRACK,
        pb.GOAL_STATUS_COMPLETED: progress.COMPLETED,
        pb.GOAL_STATUS_CANCELLED: progress.CANCELLED,
    },
)
PROGRESS_SOURCES = EnumTable(
    pb.ProgressSource.DESCRIPTOR,
    {
        pb.PROGRESS_SOURCE_METRIC: progress.SOURCE_METRIC,
        pb.PROGRESS_SOURCE_KEY_RESULTS: progress.SOURCE_KEY_RESULTS,
        pb.PROGRESS_SOURCE_CHILDREN: progress.SOURCE_CHILDREN,
        pb.PROGRESS_SOURCE_KPI: progress.SOURCE_KPI,
    },
)
READ_MODELS = EnumTable(
    pb.ReadModel.DESCRIPTOR,
    {
        pb.READ_MODEL_GOALS: GOALS_READ_MODEL,
        pb.READ_MODEL_DIRECTORY_AUDIT: DIRECTORY_AUDIT_READ_MODEL,
        pb.READ_MODEL_KPI: KPI_READ_MODEL,
        pb.READ_MODEL_FEEDBACK: FEEDBACK_READ_MODEL,
    },
)
FEEDBACK_ITEM_ACCESS = EnumTable(
    pb.FeedbackItemAccess.DESCRIPTOR,
    {
        pb.FEEDBACK_ITEM_ACCESS_FULL: Access.FULL,
        pb.FEEDBACK_ITEM_ACCESS_METADATA: Access.METADATA,
    },
)
JSONL, CSV = "jsonl", "csv"
EXPORT_FORMATS = EnumTable(
    pb.ExportFormat.DESCRIPTOR,
    {pb.EXPORT_FORMAT_JSONL: JSONL, pb.EXPORT_FORMAT_CSV: CSV},
)


def status_counts(nodes: Iterable[GoalNode]) -> list[pb.StatusCount]:
    """How many nodes have each status, one entry per status present, in enum order."""
    return counted_statuses(Counter(node.status for node in nodes))


def counted_statuses(by_name: Mapping[str, int]) -> list[pb.StatusCount]:
    """Counts by status name as the API gives them: statuses with none left out, in enum order."""
    counts = {GOAL_STATUSES.to_proto(name): count for name, count in by_name.items() if count}
    return [pb.StatusCount(status=status, count=counts[status]) for status in sorted(counts)]


def node_to_proto(
    node: GoalNode, readable: Callable[[UUID], bool], depth: int | None = None
) -> pb.AlignmentNode:
    """A node as the caller sees it: children they may not read are not listed."""
    return pb.AlignmentNode(
        goal_id=str(node.goal_id),
        title=node.title,
        level=GOAL_LEVELS.to_proto(node.level),
        owner_id=node.owner_id,
        team_id=node.team_id,
        status=GOAL_STATUSES.to_proto(node.status),
        progress=node.progress,
        own_progress=node.own_progress or 0.0,
        parent_goal_id=str(node.parent_goal_id) if node.parent_goal_id else "",
        contributes_to=[
            pb.Contribution(goal_id=str(target), weight=weight)
            for target, weight in node.contributes_to
        ],
        child_goal_ids=[str(child) for child in node.child_goal_ids if readable(child)],
        depth=node.depth if depth is None else depth,
        progress_source=PROGRESS_SOURCES.to_proto(node.progress_source)
        if node.progress_source
        else pb.PROGRESS_SOURCE_UNSPECIFIED,
        key_result_sources=[
            pb.KeyResultSource(
                key_result_id=key_result_id,
                progress_source=PROGRESS_SOURCES.to_proto(source),
                kpi_id=kpi_id or "",
            )
            for key_result_id, source, kpi_id in node.key_result_sources
        ],
    )


def entry_to_proto(entry: AuditEntry) -> pb.AuditEntry:
    return pb.AuditEntry(
        aggregate_id=entry.aggregate_id,
        aggregate_type=entry.aggregate_type,
        version=entry.version,
        event_id=entry.event_id,
        event_type=entry.event_type,
        actor_id=entry.actor_id,
        occurred_at=entry.occurred_at,
        reason=entry.reason,
        changes=[
            pb.FieldChange(
                field=change.field,
                before_json=_json(change.before),
                after_json=_json(change.after),
            )
            for change in entry.changes
        ],
        entry_hash=entry.entry_hash,
        previous_hash=entry.previous_hash,
        caused_by_event_id=str(entry.data.get("kpi_event_id") or ""),
    )


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
