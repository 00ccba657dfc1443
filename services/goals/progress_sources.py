"""The goals service's rules for progress sources: which source a goal may choose (with its
KPI), and the dates of a KPI's period (to tell whether a measurement concerns a goal's period).
The progress maths of each source are the published language's (northstar_contracts.progress).
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from northstar_contracts.errors import ContractViolation
from northstar_contracts.kpi_periods import CADENCES, parse_period
from northstar_contracts.progress import (
    KEY_RESULT_SOURCES,
    PROGRESS_SOURCES,
    SOURCE_KPI,
    SOURCE_METRIC,
    SOURCES_NEEDING_A_METRIC,
)
from services.goals.metrics import require_choice
from services.shared.errors import FailedPrecondition, InvalidArgument


def require_progress_source(
    progress_source: str | None, kpi_id: UUID | None, *, has_metric: bool, field: str
) -> tuple[str | None, UUID | None]:
    """A chosen source (None: the default rule) and its KPI, which only source kpi names."""
    if progress_source is None or progress_source == "":
        if kpi_id is not None:
            raise InvalidArgument("only a goal measured by a KPI names one", field="kpi_id")
        return None, None
    source = require_choice(progress_source, PROGRESS_SOURCES, field)
    if source == SOURCE_KPI:
        if not isinstance(kpi_id, UUID):
            raise InvalidArgument("a goal measured by a KPI needs the KPI's id", field="kpi_id")
    elif kpi_id is not None:
        raise InvalidArgument("only a goal measured by a KPI names one", field="kpi_id")
    if source in SOURCES_NEEDING_A_METRIC and not has_metric:
        raise FailedPrecondition(
            f"progress source {source} needs a metric of the goal's own (its start and target)",
            field="metric",
        )
    return source, kpi_id


def require_key_result_source(
    progress_source: str | None, kpi_id: UUID | None, *, field: str, kpi_field: str
) -> tuple[str, UUID | None]:
    """A key result's source (None or "": its own metric) and its KPI, which only kpi names.

    A key result has no children (goals align under goals), so only metric and kpi apply.
    """
    if progress_source is None or progress_source == "":
        progress_source = SOURCE_METRIC
    if progress_source not in KEY_RESULT_SOURCES:
        raise InvalidArgument(
            f"a key result is measured by one of {', '.join(KEY_RESULT_SOURCES)} "
            "(its own check-ins or a KPI), not by its goal's other sources",
            field=field,
        )
    if progress_source == SOURCE_KPI:
        if not isinstance(kpi_id, UUID):
            raise InvalidArgument(
                "a key result measured by a KPI needs the KPI's id", field=kpi_field
            )
    elif kpi_id is not None:
        raise InvalidArgument("only a key result measured by a KPI names one", field=kpi_field)
    return progress_source, kpi_id


def kpi_period_dates(period: str) -> tuple[date, date]:
    """First and last day of a KPI period key of any cadence (the spellings do not overlap)."""
    for cadence in CADENCES:
        try:
            found = parse_period(period, cadence)
        except ContractViolation:
            continue
        return found.start, found.end
    raise InvalidArgument("is not a KPI period (docs/kpi.md)", field="period")
