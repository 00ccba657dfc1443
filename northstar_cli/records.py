"""Commands over the read models: the alignment tree, verifying and exporting history, rebuilds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from northstar.projections.v1 import projections_pb2
from northstar_cli import render
from northstar_cli.client import Session
from northstar_cli.output import JsonFlag, connected, console, emit
from northstar_cli.params import PAGE_SIZE, all_pages, iso_date, resolve_goal

PeriodFrom = Annotated[
    str | None, typer.Option("--from", callback=iso_date, help="Period start, YYYY-MM-DD.")
]
PeriodTo = Annotated[
    str | None, typer.Option("--to", callback=iso_date, help="Period end, YYYY-MM-DD.")
]


class ReadModel(StrEnum):
    goals = "goals"
    directory_audit = "directory-audit"
    kpi = "kpi"
    feedback = "feedback"


class Format(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def read_model_enum(model: ReadModel) -> Any:
    return getattr(projections_pb2, "READ_MODEL_" + model.value.upper().replace("-", "_"))


def alignment(
    session: Session, root: str, team: str, period_from: str, period_to: str
) -> tuple[projections_pb2.AlignmentTree, projections_pb2.AlignmentSummary]:
    """The whole tree (every page merged into one answer) and the summary with every orphan."""
    stub = session.projections()
    pages: list[projections_pb2.AlignmentTree] = []

    def tree_page(token: str) -> projections_pb2.AlignmentTree:
        page = session.call(
            "projections",
            stub.GetAlignmentTree,
            projections_pb2.GetAlignmentTreeRequest(
                root_goal_id=root,
                team_id=team,
                period_start=period_from,
                period_end=period_to,
                page_size=PAGE_SIZE,
                page_token=token,
            ),
        )
        pages.append(page)
        return page

    nodes = list(all_pages(tree_page, lambda page: list(page.nodes)))
    tree = projections_pb2.AlignmentTree(
        nodes=nodes, status_counts=pages[0].status_counts, total_size=pages[0].total_size
    )
    summaries: list[projections_pb2.AlignmentSummary] = []

    def summary_page(token: str) -> projections_pb2.AlignmentSummary:
        page = session.call(
            "projections",
            stub.GetAlignmentSummary,
            projections_pb2.GetAlignmentSummaryRequest(
                team_id=team,
                period_start=period_from,
                period_end=period_to,
                page_size=PAGE_SIZE,
                page_token=token,
            ),
        )
        summaries.append(page)
        return page

    orphans = list(all_pages(summary_page, lambda page: list(page.orphan_goals)))
    summary = projections_pb2.AlignmentSummary()
    summary.CopyFrom(summaries[0])
    del summary.orphan_goals[:]
    summary.orphan_goals.extend(orphans)
    summary.next_page_token = ""
    return tree, summary


def tree(
    root: Annotated[str, typer.Option(help="Only the tree below this goal.")] = "",
    team: Annotated[str, typer.Option(help="Only this team's goals (with their ancestors).")] = "",
    period_from: PeriodFrom = None,
    period_to: PeriodTo = None,
    json_output: JsonFlag = False,
) -> None:
    """The alignment tree: strategy down to personal goals, with progress bars and orphans."""
    with connected(json_output) as session:
        root_id = resolve_goal(session, root) if root else ""
        answer, summary = alignment(session, root_id, team, period_from or "", period_to or "")
    emit(
        {"alignment_tree": answer, "alignment_summary": summary},
        json_output,
        lambda: render.alignment_tree(console(), answer, summary),
    )


def verify(
    aggregate: Annotated[
        str, typer.Argument(help="A person, team or KPI id (or goal id); omit for everything.")
    ] = "",
    goal: Annotated[str, typer.Option(help="A goal by id, id prefix or part of its title.")] = "",
    json_output: JsonFlag = False,
) -> None:
    """Check that history was not altered: every hash matches and chains to the one before."""
    with connected(json_output) as session:
        aggregate_id = resolve_goal(session, goal) if goal else aggregate
        answer = session.call(
            "projections",
            session.projections().VerifyHistory,
            projections_pb2.VerifyHistoryRequest(aggregate_id=aggregate_id),
        )
    emit(answer, json_output, lambda: render.verify(console(), answer))
    if not answer.intact:
        raise typer.Exit(1)


def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    aggregate: Annotated[str, typer.Argument(help="One aggregate's id; omit for all.")] = "",
    file_format: Annotated[Format, typer.Option("--format")] = Format.jsonl,
    json_output: JsonFlag = False,
) -> None:
    """Export audit history to a file (JSON Lines or CSV), hashes included."""
    request = projections_pb2.ExportHistoryRequest(
        aggregate_id=aggregate,
        format=getattr(projections_pb2, f"EXPORT_FORMAT_{file_format.value.upper()}"),
    )
    written, content_type = 0, ""
    with connected(json_output) as session:
        chunks: Iterator[projections_pb2.ExportHistoryChunk] = session.stream(
            "projections", session.projections().ExportHistory, request
        )
        with output.open("wb") as file:
            for chunk in chunks:
                content_type = content_type or chunk.content_type
                file.write(chunk.data)
                written += len(chunk.data)
    answer = {"file": str(output), "bytes": written, "content_type": content_type}
    emit(answer, json_output, lambda: console().print(f"Wrote {written} bytes to {output}."))


rebuild_app = typer.Typer(help="Rebuild a read model from its topics (operations accounts).")


@rebuild_app.command("start")
def rebuild_start(
    read_model: Annotated[ReadModel, typer.Argument()],
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Show progress to the end.")
    ] = True,
    json_output: JsonFlag = False,
) -> None:
    """Start rebuilding a read model; shows a live progress bar until it is switched in."""
    model = read_model_enum(read_model)
    with connected(json_output) as session:
        status = session.call(
            "projections",
            session.projections().StartRebuild,
            projections_pb2.StartRebuildRequest(read_model=model),
        )
        if wait:
            status = _follow(session, model, status, show_bar=not json_output)
    emit(status, json_output, lambda: _rebuild_words(status))


@rebuild_app.command("status")
def rebuild_status(
    read_model: Annotated[ReadModel, typer.Argument()], json_output: JsonFlag = False
) -> None:
    """The live version of a read model and the progress of its rebuild."""
    with connected(json_output) as session:
        status = session.call(
            "projections",
            session.projections().GetRebuildStatus,
            projections_pb2.GetRebuildStatusRequest(read_model=read_model_enum(read_model)),
        )
    emit(status, json_output, lambda: _rebuild_words(status))


def _follow(
    session: Session, model: Any, status: projections_pb2.RebuildStatus, show_bar: bool
) -> projections_pb2.RebuildStatus:
    target = status.building_version
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console(), disable=not show_bar, transient=False) as progress:
        task = progress.add_task(f"building {target}", total=1.0)
        while status.building_version == target and target:
            progress.update(task, completed=status.progress)
            time.sleep(0.5)
            status = session.call(
                "projections",
                session.projections().GetRebuildStatus,
                projections_pb2.GetRebuildStatusRequest(read_model=model),
            )
        progress.update(task, completed=1.0)
    return status


def _rebuild_words(status: projections_pb2.RebuildStatus) -> None:
    if status.building_version:
        console().print(
            f"Live: {status.live_version}; building {status.building_version}: "
            f"{status.progress:.0%} (started {status.started_at})"
        )
    else:
        console().print(
            f"Live: {status.live_version} (since {status.switched_at}); no rebuild runs."
        )
