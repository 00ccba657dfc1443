"""What every projections query shares: the live versions it reads, read-your-writes waits,
page tokens and visibility (services.shared.goal_visibility, the goals service's own rule, over
the projections' directory replica); the protobuf shapes are in
services.projections.protobuf_mapping."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol, TypeVar
from uuid import UUID

from services.projections.alignment import GoalNode, alignment_table, tenant_graph
from services.projections.audit import AuditEntry, AuditTables, load_entries, load_head
from services.projections.consistency import wait_for_positions
from services.projections.directory_audit import DIRECTORY_AUDIT_READ_MODEL
from services.projections.feedback_activity import FEEDBACK_READ_MODEL
from services.projections.goals_projection import GOALS_READ_MODEL
from services.projections.kpi_projection import KPI_READ_MODEL
from services.projections.versions import table_prefix
from services.shared.auth import Principal
from services.shared.directory_replica import ReplicaPerson
from services.shared.errors import InvalidArgument, PermissionDenied
from services.shared.goal_visibility import (
    GoalAudience,
    MemoisedLines,
    ReportingLines,
    can_see_goal,
)
from services.shared.readmodel import ReadModelDatabase
from services.shared.validation import page_size

AUDIT_READ_MODELS = (
    GOALS_READ_MODEL,
    DIRECTORY_AUDIT_READ_MODEL,
    FEEDBACK_READ_MODEL,
    KPI_READ_MODEL,
)
"""Where an aggregate's audit history may be, searched in this order."""

T = TypeVar("T")


class LiveVersions(Protocol):
    def live_name(self, read_model: str) -> str: ...

    def live_names(self) -> list[str]: ...


class NoReportingLines:
    """Reporting lines when no directory replica is wired: nobody is in a team or manages
    anyone, so only public goals, one's own and the see-everything roles' remain visible."""

    def person(self, tenant_id: str, person_id: str) -> ReplicaPerson | None:
        return None

    def is_in_management_chain(self, tenant_id: str, manager_id: str, person_id: str) -> bool:
        return False


@dataclass(frozen=True)
class TenantGoals:
    """The caller's tenant's goal graph (every goal: progress rolls up over all of them, so a
    number is the same for everyone who sees it) and the ids of the goals the caller may see."""

    nodes: dict[UUID, GoalNode]
    visible: frozenset[UUID]

    def readable(self, goal_id: UUID) -> bool:
        return goal_id in self.visible

    def shows(self, node: GoalNode) -> bool:
        return node.goal_id in self.visible


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
    lines: ReportingLines = field(default_factory=NoReportingLines)

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

    async def graph(self, principal: Principal) -> TenantGoals:
        def load() -> TenantGoals:
            table, today = self.alignment_table(), self.today()
            nodes = tenant_graph(self.db, table, principal.tenant_id, today)
            lines = MemoisedLines(self.lines)
            shown = [g for g, n in nodes.items() if can_see_goal(principal, audience(n), lines)]
            return TenantGoals(nodes, frozenset(shown))

        return await asyncio.to_thread(load)

    async def may_see(self, principal: Principal, goal: GoalAudience) -> bool:
        return await asyncio.to_thread(can_see_goal, principal, goal, self.lines)

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


def audience(node: GoalNode) -> GoalAudience:
    return GoalAudience(node.tenant_id, node.owner_id, node.team_id, node.visibility)


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


MAX_OFFSET_DIGITS = 9
"""Offsets past a billion items are not pages of any list we hold."""
_OFFSET_TOKEN = re.compile(rf"offset:(?P<offset>[0-9]{{1,{MAX_OFFSET_DIGITS}}})")


def offset_from_token(token: str, field: str = "page_token") -> int:
    """The offset an `offset:<n>` token names. Only ASCII digits, and only a bounded count of
    them: `str.isdigit` accepts superscripts that `int` refuses, and `int` refuses more than
    4,300 digits, both of which would otherwise fail as internal errors."""
    if not token:
        return 0
    match = _OFFSET_TOKEN.fullmatch(token)
    if match is None:
        raise InvalidArgument(
            f"malformed page token {token!r}; pass next_page_token on unchanged", field=field
        )
    return int(match.group("offset"))
