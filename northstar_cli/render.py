"""Rich renderings of goals, the alignment tree, histories and KPIs.

User text (titles, notes, reasons) is always passed as plain `Text`, never as rich markup, so a
title like "[red]x" prints as written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from northstar.goals.v1 import goals_pb2
from northstar.kpi.v1 import kpi_pb2
from northstar.projections.v1 import projections_pb2
from northstar_cli import tree as alignment
from northstar_cli.tree import STATUS_WORDS, TreeNode, percent, progress_bar

KPI_STATUS_COLOURS = {"green": "green", "amber": "dark_orange", "red": "red", "no_data": "grey62"}


def status_text(status: int) -> Text:
    word, colour = STATUS_WORDS.get(status, ("unknown", "white"))
    return Text(word, style=f"bold {colour}")


def bar(progress: float, status: int, width: int = 20) -> Text:
    colour = STATUS_WORDS.get(status, ("", "white"))[1]
    return Text.assemble(
        (progress_bar(progress, width), colour), (f" {percent(progress):>4}", "bold")
    )


def node_label(tree_node: TreeNode) -> Text:
    node = tree_node.node
    label = Text.assemble(
        bar(node.progress, node.status, 16),
        "  ",
        (node.title, "bold"),
        "  ",
        status_text(node.status),
        (f"  {alignment.level_word(node.level)}", "dim"),
        (f" · {node.team_id or 'no team'} · {node.owner_id}", "dim"),
        (f"  {node.goal_id[:8]}", "dim cyan"),
    )
    if tree_node.orphan:
        label.append("  ORPHAN: not aligned to any strategy", style="bold white on red")
    return label


def alignment_tree(
    console: Console,
    tree: projections_pb2.AlignmentTree,
    summary: projections_pb2.AlignmentSummary,
) -> None:
    orphan_ids = [orphan.goal_id for orphan in summary.orphan_goals]
    roots = alignment.nest(tree.nodes, orphan_ids)
    top = Tree(Text(f"Alignment tree ({tree.total_size} goals)", style="bold"), guide_style="dim")
    for root in roots:
        _add_branch(top, root)
    console.print(top)
    counts = ", ".join(
        f"{count.count} {alignment.status_word(count.status)}" for count in tree.status_counts
    )
    share = summary.tenant
    console.print(
        Text.assemble(
            ("Status: ", "bold"),
            counts or "no goals",
            ("   Aligned to strategy: ", "bold"),
            f"{share.aligned_count} of {share.goal_count} ({percent(share.aligned_share)})",
            ("   Orphans: ", "bold"),
            str(summary.orphan_count),
        )
    )


def _add_branch(parent: Tree, tree_node: TreeNode) -> None:
    branch = parent.add(node_label(tree_node))
    for child in tree_node.children:
        _add_branch(branch, child)


def progress_source_words(goal: goals_pb2.Goal) -> str:
    """What drives the goal's progress, e.g. "KPI 3f1b... (chosen)" or "metric (default)"."""
    name = goals_pb2.ProgressSource.Name(goal.progress_source).removeprefix("PROGRESS_SOURCE_")
    words = name.lower().replace("_", " ")
    if goal.kpi_id:
        words += f" {goal.kpi_id}"
    return f"{words} ({'chosen' if goal.progress_source_chosen else 'default'})"


def key_result_source_words(result: goals_pb2.KeyResult) -> str:
    """Who moves the key result's value: "check-ins" (its own metric) or "KPI <id>"."""
    if result.progress_source == goals_pb2.PROGRESS_SOURCE_KPI:
        return f"KPI {result.kpi_id}"
    return "check-ins"


def goal(console: Console, goal: goals_pb2.Goal) -> None:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("Status", Text.assemble(status_text(int(goal.status))))
    facts.add_row("Progress", bar(goal.progress, int(goal.status), 30))
    facts.add_row("Expected", Text(percent(goal.expected_progress)))
    facts.add_row("Progress from", Text(progress_source_words(goal)))
    facts.add_row("Confidence", Text(f"{goal.confidence:.2f}" if goal.has_current else "-"))
    facts.add_row("Level", Text(goals_pb2.GoalLevel.Name(goal.level)))
    facts.add_row("Lifecycle", Text(goals_pb2.GoalLifecycle.Name(goal.lifecycle)))
    facts.add_row("Owner", Text(goal.owner_id))
    facts.add_row("Team", Text(goal.team_id or "-"))
    facts.add_row("Period", Text(f"{goal.start_date} to {goal.due_date or 'open'}"))
    facts.add_row("Parent", Text(goal.parent_goal_id or "-"))
    if goal.HasField("metric"):
        facts.add_row("Metric", Text(metric_words(goal.metric, goal.current, goal.has_current)))
    facts.add_row("Id", Text(f"{goal.id} (version {goal.version})"))
    parts: list[Table | Text] = [facts]
    if goal.key_results:
        results = Table(title="Key results", title_justify="left", expand=False)
        for column in ("key result", "progress", "value", "weight", "from"):
            results.add_column(column)
        for result in goal.key_results:
            results.add_row(
                Text(result.title),
                Text(progress_bar(result.progress, 12) + f" {percent(result.progress)}"),
                Text(metric_words(result.metric, result.current, True)),
                Text(f"{result.weight:g}"),
                Text(key_result_source_words(result)),
            )
        parts.append(results)
    smart = "".join(
        "SMART"[c.letter - 1] if c.held else "·" for c in goal.smart.criteria if c.letter
    )
    if smart:
        parts.append(Text(f"SMART: {smart}", style="dim"))
    console.print(Panel(Group(*parts), title=Text(goal.title, style="bold"), expand=False))


def metric_words(metric: goals_pb2.Metric, current: float, has_current: bool) -> str:
    direction = goals_pb2.MetricDirection.Name(metric.direction).removeprefix("METRIC_DIRECTION_")
    unit = f" {metric.unit}" if metric.unit else ""
    now = f"{current:g}{unit}" if has_current else "no check-in yet"
    return (
        f"{now} (start {metric.start:g}{unit}, target {metric.target:g}{unit}, "
        f"{direction.lower().replace('_', ' ')})"
    )


def goals_table(console: Console, goals: Sequence[goals_pb2.Goal]) -> None:
    table = Table(title=f"{len(goals)} goals", title_justify="left")
    for column in ("id", "title", "level", "status", "progress", "owner", "team", "due"):
        table.add_column(column)
    for item in goals:
        table.add_row(
            Text(item.id, style="cyan"),
            Text(item.title),
            Text(goals_pb2.GoalLevel.Name(item.level).removeprefix("GOAL_LEVEL_").lower()),
            status_text(int(item.status)),
            bar(item.progress, int(item.status), 10),
            Text(item.owner_id),
            Text(item.team_id or "-"),
            Text(item.due_date or "-"),
        )
    console.print(table)


def history(console: Console, entries: Sequence[projections_pb2.AuditEntry]) -> None:
    table = Table(title="Audit trail (oldest first)", title_justify="left")
    for column in ("v", "when (UTC)", "who", "what", "reason", "changes"):
        table.add_column(column)
    for entry in entries:
        changes = "; ".join(_change_words(change) for change in entry.changes)
        table.add_row(
            Text(str(entry.version)),
            Text(entry.occurred_at.replace("T", " ")[:19]),
            Text(entry.actor_id),
            Text(entry.event_type.split(".", 1)[-1]),
            Text(entry.reason or "-"),
            Text(changes if len(changes) <= 120 else changes[:117] + "..."),
        )
    console.print(table)


def _change_words(change: projections_pb2.FieldChange) -> str:
    before, after = json.loads(change.before_json), json.loads(change.after_json)
    if isinstance(after, dict) and isinstance(before, dict):
        changed = [f"{change.field}.{k}={v}" for k, v in after.items() if before.get(k) != v]
        return ", ".join(changed) or change.field
    if isinstance(after, dict | list):
        return change.field
    return f"{change.field}={after}"


def verify(console: Console, result: projections_pb2.VerifyHistoryResponse) -> None:
    if result.intact:
        console.print(
            Text(
                f"Intact: {result.entries_checked} entries of {result.aggregates_checked} "
                "histories checked, every hash matches and chains to the one before.",
                style="bold green",
            )
        )
        return
    console.print(
        Text(
            f"BROKEN: {result.broken_aggregate_id} at version {result.first_broken_version}: "
            f"{result.reason} ({result.entries_checked} entries checked)",
            style="bold red",
        )
    )


def scoreboard(console: Console, scores: Sequence[projections_pb2.KpiScore]) -> None:
    table = Table(title=f"KPI scoreboard ({len(scores)})", title_justify="left")
    for column in ("id", "name", "status", "latest", "target", "trend", "owner"):
        table.add_column(column)
    for score in scores:
        latest = (
            f"{score.latest_value:g} {score.unit} ({score.latest_period})"
            if score.HasField("latest_value")
            else "no data"
        )
        table.add_row(
            Text(score.kpi_id, style="cyan"),
            Text(score.name),
            Text(score.status, style=f"bold {KPI_STATUS_COLOURS.get(score.status, 'white')}"),
            Text(latest),
            Text(f"{score.target:g} {score.unit}"),
            Text(score.trend_direction or "-"),
            Text(score.owner_id),
        )
    console.print(table)


def kpi(console: Console, kpi: kpi_pb2.Kpi, periods: Sequence[kpi_pb2.KpiPeriod]) -> None:
    status = kpi_pb2.KpiStatus.Name(kpi.status).removeprefix("KPI_STATUS_").lower()
    console.print(
        Text.assemble(
            (kpi.name, "bold"),
            "  ",
            (status, f"bold {KPI_STATUS_COLOURS.get(status, 'white')}"),
            (f"  {kpi.kpi_id}", "dim cyan"),
        )
    )
    if kpi.description:
        console.print(Text(kpi.description))
    target_type = kpi_pb2.TargetType.Name(kpi.target_type).removeprefix("TARGET_TYPE_")
    targets = ", ".join(f"{t.target:g} from {t.from_period}" for t in kpi.targets)
    console.print(
        Text(
            f"{target_type.lower().replace('_', ' ')} {targets}; unit {kpi.unit or '-'}; "
            f"owner {kpi.owner_id}; cadence "
            f"{kpi_pb2.Cadence.Name(kpi.cadence).removeprefix('CADENCE_').lower()}"
        )
    )
    table = Table(title="Periods", title_justify="left")
    for column in ("period", "value", "target", "status", "measurements"):
        table.add_column(column)
    for period in periods:
        period_status = kpi_pb2.KpiStatus.Name(period.status).removeprefix("KPI_STATUS_").lower()
        table.add_row(
            Text(period.period + (" (overdue)" if period.overdue else "")),
            Text(f"{period.value:g}" if period.HasField("value") else "-"),
            Text(f"{period.target:g}"),
            Text(period_status, style=KPI_STATUS_COLOURS.get(period_status, "white")),
            Text(str(len(period.measurements))),
        )
    console.print(table)
