"""The goal ids the feedback service knows, per tenant, learnt from the goals topic: feedback
may be about a goal, and this is how the service checks that the goal exists without calling
the goals service. Redelivered events change nothing (apply_once)."""

from __future__ import annotations

import asyncio
from uuid import UUID

from northstar_contracts.envelope import EventEnvelope
from northstar_contracts.goals import TYPE_PREFIX
from services.shared.readmodel import (
    ReadModelDatabase,
    Transaction,
    apply_once,
    ensure_applied_versions,
)

PROJECTION = "feedback_goal_ids"
GOAL_CREATED = f"{TYPE_PREFIX}Created"


class GoalIds:
    def __init__(self, db: ReadModelDatabase) -> None:
        self.db = db
        ensure_applied_versions(db)
        with db.transaction() as tx:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS known_goals (tenant_id TEXT NOT NULL, "
                "goal_id TEXT NOT NULL, PRIMARY KEY (tenant_id, goal_id))"
            )

    async def apply(self, envelope: EventEnvelope) -> bool:
        """An EventConsumer apply function for the goals topic."""
        return await asyncio.to_thread(self.apply_envelope, envelope)

    def apply_envelope(self, envelope: EventEnvelope) -> bool:
        def write(tx: Transaction) -> None:
            if envelope.type == GOAL_CREATED:
                tx.execute(
                    "INSERT INTO known_goals (tenant_id, goal_id) VALUES (?, ?) "
                    "ON CONFLICT (tenant_id, goal_id) DO NOTHING",
                    (envelope.tenant_id, envelope.aggregate_id),
                )

        return apply_once(
            self.db, PROJECTION, envelope.aggregate_id, envelope.aggregate_version, write
        )

    def exists(self, tenant_id: str, goal_id: UUID) -> bool:
        rows = self.db.read(
            "SELECT 1 FROM known_goals WHERE tenant_id = ? AND goal_id = ?",
            (tenant_id, str(goal_id)),
        )
        return bool(rows)
