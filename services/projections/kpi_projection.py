"""One version of the KPI read model: KPI events applied once each, atomically, to the version's
audit history (hash-chained, like every aggregate's) and its scoreboard.

The scoreboard keeps one row per KPI (definition, owner, objective, target history, status of
the latest measured period) and one row per measured or overdue period (value, target, status,
as the KPI service stated them when the period was last measured or its status restated), so a
trend is a read of the latest periods.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Mapping
from typing import Any

from northstar_contracts.envelope import EventEnvelope
from services.projections.audit import AuditTables, State, ensure_audit_tables, record_event
from services.projections.goals_projection import audit_version_tables
from services.projections.skips import require_known, skip_entry_envelope
from services.projections.versions import VersionTable, table_prefix, version_name
from services.shared.readmodel import ReadModelDatabase, Transaction
from services.shared.sequencing import HoldLimits, SequencedLedger, SkipRecord, Write

KPI_READ_MODEL = "kpi"
KPI_AGGREGATE_TYPE = "Kpi"
SCOREBOARD_TABLE = "kpi_scoreboard"
PERIODS_TABLE = "kpi_scoreboard_periods"
"""Unprefixed: the views over the live version's tables."""

_DEFINITION_FIELDS = (
    "tenant_id",
    "name",
    "description",
    "unit",
    "owner_id",
    "objective_goal_id",
    "target_type",
    "cadence",
    "summary",
    "visibility",
    "first_period",
)


def scoreboard_tables(prefix: str) -> tuple[str, str]:
    return f"{prefix}{SCOREBOARD_TABLE}", f"{prefix}{PERIODS_TABLE}"


def kpi_version_tables(name: str) -> list[VersionTable]:
    prefix = table_prefix(name)
    scoreboard, periods = scoreboard_tables(prefix)
    return [
        *audit_version_tables(AuditTables(prefix)),
        VersionTable(SCOREBOARD_TABLE, scoreboard, "kpi_id"),
        VersionTable(PERIODS_TABLE, periods, "kpi_id, period"),
    ]


def _ddl(scoreboard: str, periods: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS {scoreboard} (
            kpi_id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            name TEXT NOT NULL,
            unit TEXT NOT NULL,
            owner_id TEXT NOT NULL,
            objective_goal_id TEXT NOT NULL,
            visibility TEXT NOT NULL,
            target_type TEXT NOT NULL,
            cadence TEXT NOT NULL,
            targets_json TEXT NOT NULL,
            status TEXT NOT NULL,
            status_period TEXT NOT NULL,
            version BIGINT NOT NULL
        )""",
        f"CREATE INDEX IF NOT EXISTS {scoreboard}_tenant ON {scoreboard} (tenant_id, kpi_id)",
        f"""CREATE TABLE IF NOT EXISTS {periods} (
            kpi_id TEXT NOT NULL,
            period TEXT NOT NULL,
            value DOUBLE PRECISION,
            target DOUBLE PRECISION NOT NULL,
            status TEXT NOT NULL,
            measurement_count BIGINT NOT NULL,
            overdue INTEGER NOT NULL,
            PRIMARY KEY (kpi_id, period)
        )""",
    ]


def kpi_fold(state: State, event_type: str, data: Mapping[str, Any]) -> State:
    """A KPI's audit state: its definition, target history, thresholds and status."""
    state = dict(state)
    if event_type == "kpi.KpiDefined":
        state.update({name: data.get(name) for name in _DEFINITION_FIELDS})
        state["targets"] = [{"from_period": data.get("first_period"), "target": data.get("target")}]
        state["thresholds"] = data.get("thresholds")
        state["status"] = "no_data"
    elif event_type == "kpi.TargetChanged":
        kept = [t for t in state.get("targets", []) if t["from_period"] != data.get("from_period")]
        kept.append({"from_period": data.get("from_period"), "target": data.get("target")})
        state["targets"] = sorted(kept, key=lambda t: str(t["from_period"]))
    elif event_type == "kpi.ThresholdsChanged":
        state["thresholds"] = data.get("thresholds")
    elif event_type == "kpi.StatusChanged":
        state["status"] = data.get("status")
        state["status_period"] = data.get("period")
    elif event_type in ("kpi.MeasurementRecorded", "kpi.MeasurementCorrected"):
        state["latest_measured_period"] = max(
            str(state.get("latest_measured_period") or ""), str(data.get("period"))
        )
    return state


class KpiProjection:
    """One version of the KPI read model."""

    def __init__(
        self,
        db: ReadModelDatabase,
        name: str = version_name(KPI_READ_MODEL, 1),
        limits: HoldLimits | None = None,
    ) -> None:
        self.db = db
        self._name = name
        prefix = table_prefix(name)
        self.audit = AuditTables(prefix)
        self.scoreboard, self.periods = scoreboard_tables(prefix)
        ensure_audit_tables(db, self.audit)
        with db.transaction() as tx:
            for statement in _ddl(self.scoreboard, self.periods):
                tx.execute(statement)
        self.ledger = SequencedLedger(
            db,
            name,
            read_model=KPI_READ_MODEL,
            prepare=self._prepare,
            fill_skipped=self._fill_skipped,
            limits=limits,
        )

    @property
    def name(self) -> str:
        return self._name

    def tables(self) -> list[VersionTable]:
        return kpi_version_tables(self.name)

    async def apply(self, envelope: EventEnvelope) -> bool:
        return (await self.apply_batch([envelope]))[0]

    async def apply_batch(self, envelopes: list[EventEnvelope]) -> list[bool]:
        """Apply KPI events in order, per KPI in version order (sequenced ledger); True for
        each one applied now."""
        return await asyncio.to_thread(self.ledger.take, envelopes)

    def _prepare(self, envelope: EventEnvelope) -> Write:
        require_known(envelope)
        return functools.partial(self._write, envelope=envelope)

    def _fill_skipped(self, tx: Transaction, record: SkipRecord) -> None:
        record_event(tx, skip_entry_envelope(record), kpi_fold, self.audit)

    def _write(self, tx: Transaction, envelope: EventEnvelope) -> None:
        # Audit entry, scoreboard rows and dedup marker commit together or not at all.
        _entry, state = record_event(tx, envelope, kpi_fold, self.audit)
        self._score(tx, envelope, state)

    def _score(self, tx: Transaction, envelope: EventEnvelope, state: State) -> None:
        kpi_id, data = envelope.aggregate_id, envelope.data
        if envelope.type == "kpi.KpiDefined":
            tx.execute(
                f"INSERT INTO {self.scoreboard} (kpi_id, tenant_id, name, unit, owner_id, "
                "objective_goal_id, visibility, target_type, cadence, targets_json, status, "
                "status_period, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (kpi_id) DO NOTHING",
                (
                    kpi_id,
                    envelope.tenant_id,
                    state["name"],
                    state["unit"],
                    state["owner_id"],
                    state["objective_goal_id"],
                    state["visibility"],
                    state["target_type"],
                    state["cadence"],
                    json.dumps(state["targets"]),
                    "no_data",
                    "",
                    envelope.aggregate_version,
                ),
            )
            return
        tx.execute(
            f"UPDATE {self.scoreboard} SET targets_json = ?, status = ?, status_period = ?, "
            "version = ? WHERE kpi_id = ?",
            (
                json.dumps(state.get("targets", [])),
                state.get("status", "no_data"),
                state.get("status_period") or "",
                envelope.aggregate_version,
                kpi_id,
            ),
        )
        if envelope.type in ("kpi.MeasurementRecorded", "kpi.MeasurementCorrected"):
            count = data.get("period_measurement_count")
            tx.execute(
                f"INSERT INTO {self.periods} (kpi_id, period, value, target, status, "
                "measurement_count, overdue) VALUES (?, ?, ?, ?, ?, ?, 0) "
                "ON CONFLICT (kpi_id, period) DO UPDATE SET value = excluded.value, "
                "target = excluded.target, status = excluded.status, measurement_count = "
                f"CASE WHEN ? = 1 THEN excluded.measurement_count "
                f"ELSE {self.periods}.measurement_count "
                "END",
                (
                    kpi_id,
                    data["period"],
                    data["period_value"],
                    data["target"],
                    data["status"],
                    count or 0,
                    1 if count is not None else 0,
                ),
            )
        elif envelope.type == "kpi.MeasurementOverdue":
            target = target_for(state.get("targets", []), data["period"])
            tx.execute(
                f"INSERT INTO {self.periods} (kpi_id, period, value, target, status, "
                "measurement_count, overdue) VALUES (?, ?, NULL, ?, 'no_data', 0, 1) "
                "ON CONFLICT (kpi_id, period) DO UPDATE SET overdue = 1",
                (kpi_id, data["period"], target),
            )
        elif envelope.type == "kpi.StatusChanged":
            tx.execute(
                f"UPDATE {self.periods} SET status = ? WHERE kpi_id = ? AND period = ?",
                (data["status"], kpi_id, data["period"]),
            )


def target_for(targets: list[dict[str, Any]], period: str) -> float:
    """The target of a period: the latest entry starting at or before it."""
    chosen = float(targets[0]["target"]) if targets else 0.0
    for entry in targets:
        if str(entry["from_period"]) <= period:
            chosen = float(entry["target"])
    return chosen
