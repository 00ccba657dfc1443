"""`northstar goals ...`: create, list, show, check in, align, change, lifecycle, history."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

import typer

from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from northstar_cli import render
from northstar_cli.client import Session
from northstar_cli.output import JsonFlag, connected, console, emit
from northstar_cli.params import all_pages, confidence, instant, iso_date, list_goals, resolve_goal

app = typer.Typer(help="Goals: create, list, show, check in, align, change, close.")

GoalRef = Annotated[
    str, typer.Argument(metavar="GOAL", help="Goal id, a unique id prefix, or part of its title.")
]
Reason = Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the audit trail).")]
DateOption = Annotated[str | None, typer.Option(callback=iso_date, help="YYYY-MM-DD.")]


class Level(StrEnum):
    strategy = "strategy"
    company = "company"
    team = "team"
    personal = "personal"


class Visibility(StrEnum):
    public = "public"
    team = "team"
    private = "private"


class Kind(StrEnum):
    number = "number"
    percentage = "percentage"
    currency = "currency"
    binary = "binary"


class Direction(StrEnum):
    increase = "increase"
    decrease = "decrease"
    stay_above = "stay-above"
    stay_below = "stay-below"


def _enum(enum_name: str, word: str) -> Any:
    # The generated enum value (a typed int) named by the enum's prefix and the option's word.
    return getattr(goals_pb2, f"{enum_name}_{word.upper().replace('-', '_')}")


def _answer(response: goals_pb2.GoalCommandResponse, json_output: bool, done: str) -> None:
    def show() -> None:
        console().print(f"{done} (version {response.version}).")
        render.goal(console(), response.goal)

    emit(response, json_output, show)


@app.command("list")
def list_command(
    owner: Annotated[str, typer.Option(help="Only this owner's goals.")] = "",
    team: Annotated[str, typer.Option(help="Only this team's goals.")] = "",
    period_from: Annotated[str | None, typer.Option("--from", callback=iso_date)] = None,
    period_to: Annotated[str | None, typer.Option("--to", callback=iso_date)] = None,
    json_output: JsonFlag = False,
) -> None:
    """List the goals you can see (all pages)."""
    request = goals_pb2.ListGoalsRequest(
        owner_id=owner, team_id=team, period_start=period_from or "", period_end=period_to or ""
    )
    with connected(json_output) as session:
        goals = list_goals(session, request)
    answer = goals_pb2.ListGoalsResponse(goals=goals)
    emit(answer, json_output, lambda: render.goals_table(console(), goals))


@app.command("show")
def show(
    goal: GoalRef,
    at: Annotated[
        str | None, typer.Option(callback=instant, help="As it was then (date or RFC 3339).")
    ] = None,
    version: Annotated[int, typer.Option(min=0, help="As it was at this version.")] = 0,
    json_output: JsonFlag = False,
) -> None:
    """Show one goal: status, progress, metric, key results."""
    with connected(json_output) as session:
        goal_id = resolve_goal(session, goal)
        request = goals_pb2.GetGoalRequest(goal_id=goal_id, version=version, as_of=at or "")
        answer = session.call("goals", session.goals().GetGoal, request)
    emit(answer, json_output, lambda: render.goal(console(), answer))


@app.command("create")
def create(
    title: Annotated[str, typer.Option(help="Short statement of the goal.")],
    start: Annotated[str, typer.Option(callback=iso_date, help="First day, YYYY-MM-DD.")],
    due: DateOption = None,
    level: Annotated[Level, typer.Option()] = Level.personal,
    owner: Annotated[str, typer.Option(help="Owner's person id; default: you.")] = "",
    team: Annotated[str, typer.Option(help="Team id; default: the owner's team.")] = "",
    parent: Annotated[str, typer.Option(help="Goal to align under.")] = "",
    visibility: Annotated[Visibility, typer.Option()] = Visibility.public,
    kind: Annotated[Kind | None, typer.Option(help="Metric kind (omit for no metric).")] = None,
    unit: Annotated[str, typer.Option(help="Metric unit, e.g. % or EUR.")] = "",
    baseline: Annotated[float, typer.Option("--from-value", help="Metric start value.")] = 0.0,
    target: Annotated[float | None, typer.Option("--target", help="Metric target.")] = None,
    direction: Annotated[Direction, typer.Option()] = Direction.increase,
    description: Annotated[str, typer.Option()] = "",
    activate: Annotated[bool, typer.Option("--activate/--draft")] = True,
    json_output: JsonFlag = False,
) -> None:
    """Create a goal (active by default; --draft for a draft)."""
    request = goals_pb2.CreateGoalRequest(
        title=title,
        description=description,
        owner_id=owner,
        team_id=team,
        level=_enum("GOAL_LEVEL", level.value),
        start_date=start,
        due_date=due or "",
        visibility=_enum("GOAL_VISIBILITY", visibility.value),
        activate=activate,
    )
    if kind is not None:
        if target is None:
            raise typer.BadParameter("a metric needs --target", param_hint="--target")
        request.metric.CopyFrom(
            goals_pb2.Metric(
                kind=_enum("METRIC_KIND", kind.value),
                unit=unit,
                start=baseline,
                target=target,
                direction=_enum("METRIC_DIRECTION", direction.value),
            )
        )
    with connected(json_output) as session:
        if parent:
            request.parent_goal_id = resolve_goal(session, parent)
        answer = session.call("goals", session.goals().CreateGoal, request)
    _answer(answer, json_output, f"Created goal {answer.goal.id}")


@app.command("check-in")
def check_in(
    goal: GoalRef,
    value: Annotated[float, typer.Argument(help="The measured value.")],
    confidence_: Annotated[
        float,
        typer.Option("--confidence", "-c", callback=confidence, help="0 to 1: will you make it?"),
    ],
    note: Annotated[str, typer.Option("--note", "-n")] = "",
    key_result: Annotated[
        str, typer.Option(help="Key result id; default: the goal's metric.")
    ] = "",
    json_output: JsonFlag = False,
) -> None:
    """Record progress on a goal's metric or one of its key results."""
    with connected(json_output) as session:
        request = goals_pb2.CheckInRequest(
            goal_id=resolve_goal(session, goal),
            value=value,
            confidence=confidence_,
            note=note,
            key_result_id=key_result,
        )
        answer = session.call("goals", session.goals().CheckIn, request)
    _answer(answer, json_output, "Checked in")


@app.command("align")
def align(
    goal: GoalRef,
    parent: Annotated[str, typer.Argument(metavar="PARENT", help="The goal to align under.")],
    reason: Annotated[str, typer.Option("--reason", "-r")] = "",
    json_output: JsonFlag = False,
) -> None:
    """Align a goal under a parent goal (a reason is needed when moving it)."""
    with connected(json_output) as session:
        request = goals_pb2.AlignGoalRequest(
            goal_id=resolve_goal(session, goal),
            parent_goal_id=resolve_goal(session, parent),
            reason=reason,
        )
        answer = session.call("goals", session.goals().AlignGoal, request)
    _answer(answer, json_output, "Aligned")


@app.command("change-target")
def change_target(
    goal: GoalRef,
    new_target: Annotated[float, typer.Argument(metavar="TARGET")],
    reason: Reason,
    json_output: JsonFlag = False,
) -> None:
    """Move the target of a goal's metric, with a reason."""
    with connected(json_output) as session:
        request = goals_pb2.ChangeTargetRequest(
            goal_id=resolve_goal(session, goal), new_target=new_target, reason=reason
        )
        answer = session.call("goals", session.goals().ChangeTarget, request)
    _answer(answer, json_output, "Target changed")


@app.command("change-due")
def change_due(
    goal: GoalRef,
    due: Annotated[str, typer.Argument(metavar="DATE", callback=iso_date, help="YYYY-MM-DD.")],
    reason: Reason,
    json_output: JsonFlag = False,
) -> None:
    """Move a goal's due date, with a reason."""
    with connected(json_output) as session:
        request = goals_pb2.ChangeDueDateRequest(
            goal_id=resolve_goal(session, goal), new_due_date=due, reason=reason
        )
        answer = session.call("goals", session.goals().ChangeDueDate, request)
    _answer(answer, json_output, "Due date changed")


def _lifecycle(
    session: Session, action: str, goal_id: str, reason: str
) -> goals_pb2.GoalCommandResponse:
    stub = session.goals()
    calls: dict[str, tuple[Callable[..., goals_pb2.GoalCommandResponse], Any]] = {
        "activate": (stub.ActivateGoal, goals_pb2.ActivateGoalRequest(goal_id=goal_id)),
        "complete": (stub.CompleteGoal, goals_pb2.CompleteGoalRequest(goal_id=goal_id)),
        "archive": (stub.ArchiveGoal, goals_pb2.ArchiveGoalRequest(goal_id=goal_id)),
        "cancel": (stub.CancelGoal, goals_pb2.CancelGoalRequest(goal_id=goal_id, reason=reason)),
        "reopen": (stub.ReopenGoal, goals_pb2.ReopenGoalRequest(goal_id=goal_id, reason=reason)),
    }
    method, request = calls[action]
    return session.call("goals", method, request)


def _lifecycle_command(action: str, done: str, needs_reason: bool, summary: str) -> None:
    if needs_reason:

        def with_reason(goal: GoalRef, reason: Reason, json_output: JsonFlag = False) -> None:
            with connected(json_output) as session:
                answer = _lifecycle(session, action, resolve_goal(session, goal), reason)
            _answer(answer, json_output, done)

        command: Callable[..., None] = with_reason
    else:

        def without_reason(goal: GoalRef, json_output: JsonFlag = False) -> None:
            with connected(json_output) as session:
                answer = _lifecycle(session, action, resolve_goal(session, goal), "")
            _answer(answer, json_output, done)

        command = without_reason
    command.__doc__ = summary
    app.command(action)(command)


_lifecycle_command("activate", "Goal activated", False, "Turn a draft goal into an active one.")
_lifecycle_command("complete", "Goal completed", False, "Mark an active goal as completed.")
_lifecycle_command("cancel", "Goal cancelled", True, "Cancel a draft or active goal (why?).")
_lifecycle_command("archive", "Goal archived", False, "Close a completed or cancelled goal.")
_lifecycle_command("reopen", "Goal reopened", True, "Make a closed goal active again (why?).")


@app.command("history")
def history(goal: GoalRef, json_output: JsonFlag = False) -> None:
    """A goal's audit trail: who changed what, when and why (oldest first)."""
    with connected(json_output) as session:
        goal_id = resolve_goal(session, goal)
        stub = session.projections()
        entries = list(
            all_pages(
                lambda token: session.call(
                    "projections",
                    stub.GetGoalHistory,
                    projections_pb2.GetGoalHistoryRequest(
                        goal_id=goal_id, page_size=500, page_token=token
                    ),
                ),
                lambda page: list(page.entries),
            )
        )
    answer = projections_pb2.GoalHistory(entries=entries)
    emit(answer, json_output, lambda: render.history(console(), entries))


@app.command("as-of")
def as_of(
    goal: GoalRef,
    at: Annotated[
        str | None, typer.Option(callback=instant, help="Date (end of day, UTC) or RFC 3339.")
    ] = None,
    version: Annotated[int, typer.Option(min=0)] = 0,
    json_output: JsonFlag = False,
) -> None:
    """A goal's state at a past time (or version), folded from its audit trail."""
    with connected(json_output) as session:
        request = projections_pb2.GetGoalAsOfRequest(
            goal_id=resolve_goal(session, goal), version=version, as_of=at or ""
        )
        answer = session.call("projections", session.projections().GetGoalAsOf, request)

    def show() -> None:
        console().print(f"Goal {answer.goal_id} at version {answer.version}:")
        console().print_json(answer.state_json)

    emit(answer, json_output, show)
