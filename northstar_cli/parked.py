"""`northstar parked ...`: the events a read model holds or has parked, retried or skipped.

Parked events are the platform's business: a platform operator (`northstar login --dev --as
<operator> --role platform_operator`) lists, retries and skips them across tenants; inside a
tenant HR admins may list and integration accounts also retry and skip (the projections
service's one parking policy decides, this command only asks).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from northstar.projections.v1 import projections_pb2
from northstar_cli.output import JsonFlag, connected, console, emit
from northstar_cli.params import all_pages
from northstar_cli.records import ReadModel, read_model_enum

app = typer.Typer(help="Parked events of the read models: list, retry, skip (operators).")

ReadModelArgument = Annotated[
    ReadModel, typer.Argument(metavar="READ_MODEL", help="goals, directory-audit, kpi, feedback.")
]
AggregateArgument = Annotated[
    str, typer.Argument(metavar="AGGREGATE", help="The aggregate id, as `parked list` shows it.")
]
MAX_REASON_CHARACTERS = 500  # the projections service's limit (proto: SkipParkedEventRequest)


def _non_blank(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise typer.BadParameter(f"{what} is required", param_hint=what)
    return value


@app.command("list")
def list_command(
    read_model: ReadModelArgument,
    aggregate: Annotated[str, typer.Option(help="Only this aggregate's events.")] = "",
    json_output: JsonFlag = False,
) -> None:
    """Events a read model holds (waiting for a missing version) or has parked, every page."""
    model = read_model_enum(read_model)
    with connected(json_output) as session:
        stub = session.projections()
        events = list(
            all_pages(
                lambda token: session.call(
                    "projections",
                    stub.ListParkedEvents,
                    projections_pb2.ListParkedEventsRequest(
                        read_model=model, aggregate_id=aggregate, page_size=500, page_token=token
                    ),
                ),
                lambda page: list(page.events),
            )
        )
    answer = projections_pb2.ListParkedEventsResponse(events=events)
    emit(answer, json_output, lambda: _show(events, read_model))


def _show(events: list[projections_pb2.ParkedEvent], read_model: ReadModel) -> None:
    out = console()
    if not events:
        out.print(f"Nothing held or parked in the {read_model.value} read model.")
        return
    # One block per event, not a table: the ids are copied whole into `retry` and `skip`.
    for event in events:
        style = "red" if event.state == "parked" else "yellow"
        out.print(
            Text.assemble(
                (event.aggregate_id, "cyan"),
                f" v{event.aggregate_version}  ",
                (f"{event.state} ({event.kind})", style),
                f"  {event.event_type}",
            )
        )
        out.print(Text(f"    event {event.event_id}, arrived {event.arrived_at}"))
        out.print(Text(f"    from {event.source} into {event.read_model_version}: {event.reason}"))
    parked = sum(1 for event in events if event.state == "parked")
    out.print(f"{parked} parked, {len(events) - parked} held.")


def _outcome(outcome: projections_pb2.ParkedEventsOutcome, json_output: bool, done: str) -> None:
    emit(
        outcome,
        json_output,
        lambda: console().print(
            f"{done}: {outcome.applied} applied, {outcome.skipped} skipped; "
            f"{outcome.still_parked} still parked, {outcome.still_held} still held."
        ),
    )


@app.command("retry")
def retry(
    read_model: ReadModelArgument, aggregate: AggregateArgument, json_output: JsonFlag = False
) -> None:
    """Take an aggregate's parked events again, in version order (after a fix)."""
    request = projections_pb2.RetryParkedEventsRequest(
        read_model=read_model_enum(read_model), aggregate_id=_non_blank(aggregate, "AGGREGATE")
    )
    with connected(json_output) as session:
        outcome = session.call("projections", session.projections().RetryParkedEvents, request)
    _outcome(outcome, json_output, "Retried")


@app.command("skip")
def skip(
    read_model: ReadModelArgument,
    aggregate: AggregateArgument,
    event: Annotated[str, typer.Argument(metavar="EVENT", help="The parked event's id.")],
    reason: Annotated[
        str, typer.Option("--reason", "-r", help="Why (required; recorded with your id).")
    ] = "",
    json_output: JsonFlag = False,
) -> None:
    """Skip one parked event with a reason, then retry the aggregate's other parked events."""
    reason = _non_blank(reason, "--reason")
    if len(reason) > MAX_REASON_CHARACTERS:
        raise typer.BadParameter(
            f"is {len(reason)} characters long; at most {MAX_REASON_CHARACTERS}",
            param_hint="--reason",
        )
    request = projections_pb2.SkipParkedEventRequest(
        read_model=read_model_enum(read_model),
        aggregate_id=_non_blank(aggregate, "AGGREGATE"),
        event_id=_non_blank(event, "EVENT"),
        reason=reason,
    )
    with connected(json_output) as session:
        outcome = session.call("projections", session.projections().SkipParkedEvent, request)
    _outcome(outcome, json_output, "Skipped")
