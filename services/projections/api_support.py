"""What every projections query shares: the live versions it reads, read-your-writes waits,
page tokens, visibility, and the protobuf shapes of goals and audit entries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, TypeVar
from uuid import UUID

from northstar.projections.v1 import projections_pb2

from services.projections.alignment import GoalNode, alignment_table, tenant_graph
from services.projections.audit import AuditEntry, AuditTables, load_entries, load_head
from services.projections.consistency import wait_for_positions
from services.projections.directory_audit import DIRECTORY_AUDIT_READ_MODEL
from services.projections.goals_projection import GOALS_READ_MODEL
from services.projections.kpi_projection import KPI_READ_MODEL
from services.projections.versions import table_prefix
from services.shared.auth import AUDITOR, HR_ADMIN, INTEGRATION, Principal
from services.shared.errors import InvalidArgument, PermissionDenied
from services.shared.readmodel import ReadModelDatabase
from services.shared.validation import page_size

SEE_PRIVATE = frozenset({AUDITOR, HR_ADMIN, INTEGRATION})
AUDIT_READ_MODELS = (GOALS_READ_MODEL, DIRECTORY_AUDIT_READ_MODEL, KPI_READ_MODEL)
"""Where an aggregate's audit history may be, searched in this order."""

T = TypeVar("T")


class LiveVersions(Protocol):
    def live_name(self, read_model: str) -> str: ...

    def live_names(self) -> list[str]: ...


@dataclass(frozen=True)
class History:
    entries: list[AuditEntry]
    head: tuple[int, str] | None


@dataclass
class ReadContext:
    db: ReadModelDatabase
    live: LiveVersions
    wait_timeout_seconds: float
    today: Callable[[], date]

    def alignment_table(self) -> str:
        return alignment_table(table_prefix(self.live.live_name(GOALS_READ_MODEL)))

    def goal_audit(self) -> AuditTables:
        return AuditTables(table_prefix(self.live.live_name(GOALS_READ_MODEL)))

    def audit_tables(self) -> list[AuditTables]:
        return [AuditTables(table_prefix(self.live.live_name(m))) for m in AUDIT_READ_MODELS]

    async def wait(self, principal: Principal, tokens: Sequence[str]) -> None:
        if tokens:
            await wait_for_positions(
                self.db,
                self.live.live_names,
                principal.tenant_id,
                list(tokens),
                self.wait_timeout_seconds,
                audit_tables=lambda: [tables.entries for tables in self.audit_tables()],
            )

    async def graph(self, principal: Principal) -> dict[UUID, GoalNode]:
        return await asyncio.to_thread(
            tenant_graph, self.db, self.alignment_table(), principal.tenant_id, self.today()
        )

    async def history(self, aggregate_id: str) -> History:
        """The aggregate's entries (any tenant: callers check) from whichever read model has it."""

        def load() -> History:
            with self.db.snapshot() as tx:
                for tables in self.audit_tables():
                    entries = load_entries(tx, aggregate_id, tables=tables)
                    if entries:
                        return History(entries, load_head(tx, aggregate_id, tables))
            return History([], None)

        return await asyncio.to_thread(load)


def require_role(principal: Principal, roles: frozenset[str], what: str) -> None:
    if not principal.roles & roles:
        names = " and ".join(sorted(roles))
        raise PermissionDenied(f"{what} is for {names} only")


def visible(principal: Principal, node: GoalNode) -> bool:
    return (
        node.visibility != "private"
        or node.owner_id == principal.subject
        or bool(principal.roles & SEE_PRIVATE)
    )


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int

    @classmethod
    def of(cls, size: int, token: str) -> Page:
        return cls(offset_from_token(token), page_size(size))

    def slice(self, items: Sequence[T]) -> tuple[list[T], str]:
        """This page's items and the next page's token ("" after the last page)."""
        end = self.offset + self.limit
        return list(items[self.offset : end]), f"offset:{end}" if end < len(items) else ""


def offset_from_token(token: str, field: str = "page_token") -> int:
    if not token:
        return 0
    prefix, _, number = token.partition(":")
    if prefix != "offset" or not number.isdigit():
        raise InvalidArgument(f"malformed page token {token!r}", field=field)
    return int(number)


def node_to_proto(node: GoalNode, depth: int | None = None) -> projections_pb2.AlignmentNode:
    return projections_pb2.AlignmentNode(
        goal_id=str(node.goal_id),
        title=node.title,
        level=node.level,
        owner_id=node.owner_id,
        team_id=node.team_id,
        status=node.status,
        progress=node.progress,
        own_progress=node.own_progress or 0.0,
        parent_goal_id=str(node.parent_goal_id) if node.parent_goal_id else "",
        contributes_to=[
            projections_pb2.Contribution(goal_id=str(target), weight=weight)
            for target, weight in node.contributes_to
        ],
        child_goal_ids=[str(child) for child in node.child_goal_ids],
        depth=node.depth if depth is None else depth,
    )


def entry_to_proto(entry: AuditEntry) -> projections_pb2.AuditEntry:
    return projections_pb2.AuditEntry(
        aggregate_id=entry.aggregate_id,
        aggregate_type=entry.aggregate_type,
        version=entry.version,
        event_id=entry.event_id,
        event_type=entry.event_type,
        actor_id=entry.actor_id,
        occurred_at=entry.occurred_at,
        reason=entry.reason,
        changes=[
            projections_pb2.FieldChange(
                field=change.field,
                before_json=_json(change.before),
                after_json=_json(change.after),
            )
            for change in entry.changes
        ],
        entry_hash=entry.entry_hash,
        previous_hash=entry.previous_hash,
    )


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
