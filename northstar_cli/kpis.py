"""`northstar kpi ...`: the scoreboard, one KPI with its periods, recording a measurement."""

from __future__ import annotations

from typing import Annotated

import typer

from northstar.kpi.v1 import kpi_pb2
from northstar.projections.v1 import projections_pb2
from northstar_cli import render
from northstar_cli.client import Session
from northstar_cli.output import JsonFlag, connected, console, emit
from northstar_cli.params import all_pages

app = typer.Typer(help="KPIs: the scoreboard, one KPI, recording a measurement.")

KpiRef = Annotated[str, typer.Argument(metavar="KPI", help="KPI id, or part of its name.")]


def scoreboard(session: Session) -> list[projections_pb2.KpiScore]:
    stub = session.projections()
    return list(
        all_pages(
            lambda token: session.call(
                "projections",
                stub.ListKpiScoreboard,
                projections_pb2.ListKpiScoreboardRequest(page_size=100, page_token=token),
            ),
            lambda page: list(page.kpis),
        )
    )


def resolve_kpi(session: Session, reference: str) -> str:
    scores = scoreboard(session)
    if any(score.kpi_id == reference for score in scores):
        return reference
    needle = reference.casefold()
    matches = [score for score in scores if needle in score.name.casefold()]
    if len(matches) == 1:
        return matches[0].kpi_id
    if not matches:
        # Maybe a KPI the scoreboard has not caught up with yet: let the KPI service answer.
        return reference
    names = ", ".join(repr(score.name) for score in matches[:5])
    raise typer.BadParameter(f"{reference!r} names several KPIs ({names})", param_hint="KPI")


@app.command("list")
def list_command(json_output: JsonFlag = False) -> None:
    """The KPI scoreboard: latest value, status, target and trend of every KPI you can see."""
    with connected(json_output) as session:
        scores = scoreboard(session)
    answer = projections_pb2.ListKpiScoreboardResponse(kpis=scores, total_size=len(scores))
    emit(answer, json_output, lambda: render.scoreboard(console(), scores))


@app.command("show")
def show(kpi: KpiRef, json_output: JsonFlag = False) -> None:
    """One KPI: definition, targets, status and every period with its measurements."""
    with connected(json_output) as session:
        kpi_id = resolve_kpi(session, kpi)
        stub = session.kpi()
        found = session.call("kpi", stub.GetKpi, kpi_pb2.GetKpiRequest(kpi_id=kpi_id))
        periods = session.call(
            "kpi", stub.ListKpiPeriods, kpi_pb2.ListKpiPeriodsRequest(kpi_id=kpi_id)
        )
    emit(
        {"kpi": found, "periods": periods},
        json_output,
        lambda: render.kpi(console(), found, periods.periods),
    )


@app.command("record")
def record(
    kpi: KpiRef,
    period: Annotated[str, typer.Argument(help="e.g. 2026-03 (monthly) or 2026-Q1.")],
    value: Annotated[float, typer.Argument()],
    source_record_id: Annotated[
        str, typer.Option(help="Your id of the record; the same one again changes nothing.")
    ] = "",
    json_output: JsonFlag = False,
) -> None:
    """Record a measured value of a KPI for a period."""
    with connected(json_output) as session:
        request = kpi_pb2.RecordMeasurementRequest(
            kpi_id=resolve_kpi(session, kpi),
            period=period,
            value=value,
            source_record_id=source_record_id,
        )
        answer = session.call("kpi", session.kpi().RecordMeasurement, request)

    def show() -> None:
        if answer.recorded:
            console().print(
                f"Recorded {value:g} for {period} (measurement {answer.measurement_id})."
            )
        else:
            console().print("Already recorded: nothing changed.")
        status = kpi_pb2.KpiStatus.Name(answer.kpi.status).removeprefix("KPI_STATUS_").lower()
        console().print(f"{answer.kpi.name} is now {status}.")

    emit(answer, json_output, show)
