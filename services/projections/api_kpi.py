"""KPI scoreboard queries: the KPIs the caller may see (services.shared.kpi_visibility, the
KPI service's own rule), with their latest value, status, target, owner, objective and trend."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from northstar.projections.v1 import projections_pb2
from services.projections.api_support import Page, ReadContext
from services.projections.kpi_projection import KPI_READ_MODEL, scoreboard_tables, target_for
from services.projections.versions import table_prefix
from services.shared.auth import Principal, current_principal
from services.shared.errors import InvalidArgument
from services.shared.kpi_visibility import KpiAudience, Manages, can_view_kpi
from services.shared.readmodel import Row
from services.shared.validation import reject_control_characters

DEFAULT_TREND_PERIODS = 6
MAX_TREND_PERIODS = 60
RISING = frozenset({"increase_to", "stay_at_or_above"})
_COLUMNS = (
    "kpi_id, tenant_id, name, unit, owner_id, objective_goal_id, visibility, target_type, "
    "cadence, targets_json, status, status_period, version"
)


class KpiQueries:
    def __init__(self, context: ReadContext, manages: Manages) -> None:
        self.context = context
        self.manages = manages

    async def scoreboard(
        self, request: projections_pb2.ListKpiScoreboardRequest
    ) -> projections_pb2.ListKpiScoreboardResponse:
        principal = current_principal()
        if not 0 <= request.trend_periods <= MAX_TREND_PERIODS:
            raise InvalidArgument(f"must be from 0 to {MAX_TREND_PERIODS}", field="trend_periods")
        periods = request.trend_periods or DEFAULT_TREND_PERIODS
        page = Page.of(request.page_size, request.page_token)
        await self.context.wait(principal, request.consistency_tokens)
        scores = await asyncio.to_thread(self._scores, principal, request, periods)
        items, next_token = page.slice(scores)
        return projections_pb2.ListKpiScoreboardResponse(
            kpis=items, next_page_token=next_token, total_size=len(scores)
        )

    def _scores(
        self,
        principal: Principal,
        request: projections_pb2.ListKpiScoreboardRequest,
        periods: int,
    ) -> list[projections_pb2.KpiScore]:
        scoreboard, period_table = scoreboard_tables(
            table_prefix(self.context.live.live_name(KPI_READ_MODEL))
        )
        sql = f"SELECT {_COLUMNS} FROM {scoreboard} WHERE tenant_id = ?"
        params: list[str] = [principal.tenant_id]
        for column, value in (
            ("objective_goal_id", request.objective_goal_id),
            ("owner_id", request.owner_id),
        ):
            # NUL and other control characters match nothing and break PostgreSQL text.
            reject_control_characters(value, column)
            if value:
                sql += f" AND {column} = ?"
                params.append(value)
        rows = self.context.db.read(sql + " ORDER BY name, kpi_id", params)
        # Outside any snapshot: the management chain reads the same database in its own.
        rows = [
            row
            for row in rows
            if can_view_kpi(principal, KpiAudience(row[1], row[4], row[6]), self.manages)
        ]
        with self.context.db.snapshot() as tx:
            trends = {
                row[0]: tx.execute(
                    f"SELECT period, value, target, status, overdue FROM {period_table} "
                    "WHERE kpi_id = ? ORDER BY period DESC LIMIT ?",
                    (row[0], periods),
                )
                for row in rows
            }
        return [_score(row, list(reversed(trends[row[0]]))) for row in rows]


def _score(row: Row, trend: Sequence[Row]) -> projections_pb2.KpiScore:
    kpi_id, _tenant, name, unit, owner, objective, _vis, target_type, cadence = row[:9]
    targets, status, status_period, version = json.loads(row[9]), row[10], row[11], row[12]
    points = [
        projections_pb2.KpiTrendPoint(
            period=period, value=value, target=target, status=point_status, overdue=bool(overdue)
        )
        for period, value, target, point_status, overdue in trend
    ]
    measured = [point for point in points if point.HasField("value")]
    latest = measured[-1] if measured else None
    return projections_pb2.KpiScore(
        kpi_id=kpi_id,
        name=name,
        unit=unit,
        owner_id=owner,
        objective_goal_id=objective,
        target_type=target_type,
        cadence=cadence,
        status=status,
        latest_period=status_period or (latest.period if latest else ""),
        latest_value=latest.value if latest else None,
        target=target_for(targets, status_period) if status_period else target_for(targets, ""),
        trend=points,
        trend_direction=_direction(measured, target_type in RISING),
        version=version,
    )


def _direction(measured: Sequence[projections_pb2.KpiTrendPoint], rising: bool) -> str:
    if len(measured) < 2:
        return ""
    change = measured[-1].value - measured[-2].value
    if change == 0:
        return "steady"
    return "improving" if (change > 0) == rising else "worsening"
