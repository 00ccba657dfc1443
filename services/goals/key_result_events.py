"""The Goal's events about one key result's progress source (docs/goals.md, "Progress source").

Defined beside the aggregate rather than in its class body: each event applies itself
(`apply`), and MeasurementCommands triggers it. Published like every Goal event, as
"goals.Goal" + the class name (services.goals.publishing).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from services.goals.goal import Goal


class KeyResultProgressSourceChanged(Goal.Event):
    """A key result is measured from now on by its own check-ins (metric) or by a KPI."""

    key_result_id: UUID
    progress_source: str
    kpi_id: UUID | None
    previous_progress_source: str | None
    previous_kpi_id: UUID | None
    reason: str
    by: str

    def apply(self, aggregate: Any) -> None:
        goal: Goal = aggregate
        # Replace rather than mutate: a snapshot taken earlier may share these dicts.
        goal._key_results = [
            {**kr, "progress_source": self.progress_source, "kpi_id": self.kpi_id}
            if kr["key_result_id"] == self.key_result_id
            else kr
            for kr in goal._key_results
        ]


EVENTS_BESIDE_GOAL: tuple[type[Goal.Event], ...] = (KeyResultProgressSourceChanged,)
"""The Goal's events defined outside its class body (readers enumerating Goal's events add
these to the classes in vars(Goal))."""
