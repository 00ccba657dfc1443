"""The KPIs the goals service knows, learnt from the KPI topic (northstar.kpi.v1).

A goal may be measured only by a KPI of its own tenant. The goals service never asks the KPI
service: each `kpi.KpiDefined` event it consumes records the KPI's id and tenant here, in the
same read-model transaction as the consumer's dedup marker and offsets (services/goals/policies.py).
"""

from __future__ import annotations

from uuid import UUID

from northstar_contracts.envelope import EventEnvelope
from services.shared.readmodel import ReadModelDatabase, Transaction

KNOWN_KPIS_DDL = """
CREATE TABLE IF NOT EXISTS goals_known_kpis (
    kpi_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL
)
"""


class KnownKpis:
    """Which tenant each KPI belongs to; the application's KpiCatalogue."""

    def __init__(self, db: ReadModelDatabase) -> None:
        self.db = db
        with db.transaction() as tx:
            tx.execute(KNOWN_KPIS_DDL)

    def is_known(self, tenant_id: str, kpi_id: UUID) -> bool:
        rows = self.db.read(
            "SELECT 1 FROM goals_known_kpis WHERE kpi_id = ? AND tenant_id = ?",
            (str(kpi_id), tenant_id),
        )
        return bool(rows)

    @staticmethod
    def remember(tx: Transaction, definition: EventEnvelope) -> None:
        """Records a KPI from its definition event (a KPI keeps its tenant for life)."""
        tx.execute(
            "INSERT INTO goals_known_kpis (kpi_id, tenant_id) VALUES (?, ?) "
            "ON CONFLICT (kpi_id) DO NOTHING",
            (str(UUID(definition.aggregate_id)), definition.tenant_id),
        )
