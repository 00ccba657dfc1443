"""`northstar 1on1 ...`: recurring 1:1s between a manager and a report: schedule, agenda, action
items, private notes, meetings held, and the list of the series you may see."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from google.protobuf.message import Message
from rich.text import Text

from northstar.feedback.v1 import feedback_pb2
from northstar_cli.client import Session
from northstar_cli.feedback import enum_value, enum_word
from northstar_cli.output import JsonFlag, connected, console, emit
from northstar_cli.params import iso_date

app = typer.Typer(help="1:1s: schedule, agenda, action items, notes, meetings held, list.")

OneOnOneId = Annotated[str, typer.Argument(metavar="ONE_ON_ONE", help="The 1:1's id.")]
TextArgument = Annotated[str, typer.Argument(metavar="TEXT")]
PAGE_SIZE = 200


class Cadence(StrEnum):
    weekly = "weekly"
    every_two_weeks = "every-two-weeks"
    monthly = "monthly"


def show_one_on_one(item: feedback_pb2.OneOnOne) -> None:
    out = console()
    cadence = enum_word(feedback_pb2.Cadence, item.cadence, "CADENCE_")
    out.print(
        Text(
            f"1:1 {item.one_on_one_id}: {item.manager_id} with {item.report_id}, {cadence} "
            f"from {item.start_date}; next meeting {item.next_meeting}; last held "
            f"{item.last_held_on or 'never'}",
            style="bold",
        )
    )
    if item.departed_person_ids:
        left = ", ".join(item.departed_person_ids)
        out.print(Text(f"Ended: {left} left; the series takes no more changes", style="yellow"))
    if item.missed_slots:
        out.print(Text(f"Overdue: missed {', '.join(item.missed_slots)}", style="red"))
    out.print("Agenda:" if item.agenda else "Agenda: (empty)")
    for agenda in item.agenda:
        out.print(Text(f"  - {agenda.text} ({agenda.author_id})"))
    out.print("Action items:" if item.action_items else "Action items: (none)")
    for action in item.action_items:
        mark = "x" if action.done else " "
        out.print(
            Text(
                f"  [{mark}] {action.text} ({action.owner_id}, since {action.added_for}) "
                f"{action.item_id}"
            )
        )
    for note in item.my_notes:
        out.print(Text(f"  my note for {note.written_for}: {note.text}", style="dim"))


def _changed(one_on_one: feedback_pb2.OneOnOne, answer: Message, json_output: bool) -> None:
    emit(answer, json_output, lambda: show_one_on_one(one_on_one))


@app.command("schedule")
def schedule(
    report: Annotated[str, typer.Argument(metavar="REPORT", help="Your direct report's id.")],
    start: Annotated[
        str, typer.Option(callback=iso_date, help="First meeting, today or later (YYYY-MM-DD).")
    ],
    cadence: Annotated[Cadence, typer.Option()] = Cadence.every_two_weeks,
    manager: Annotated[str, typer.Option(help="The manager (HR admins); default: you.")] = "",
    json_output: JsonFlag = False,
) -> None:
    """Start a recurring 1:1 with one of your direct reports."""
    request = feedback_pb2.ScheduleOneOnOneRequest(
        manager_id=manager,
        report_id=report,
        cadence=enum_value("CADENCE", cadence.value),
        start_date=start,
    )
    with connected(json_output) as session:
        answer = session.call("feedback", session.feedback().ScheduleOneOnOne, request)
    _changed(answer.one_on_one, answer, json_output)


def get_one_on_one(session: Session, one_on_one_id: str) -> feedback_pb2.OneOnOne:
    return session.call(
        "feedback",
        session.feedback().GetOneOnOne,
        feedback_pb2.GetOneOnOneRequest(one_on_one_id=one_on_one_id),
    )


@app.command("show")
def show(one_on_one: OneOnOneId, json_output: JsonFlag = False) -> None:
    """A 1:1: next meeting, shared agenda, action items, and your own private notes."""
    with connected(json_output) as session:
        answer = get_one_on_one(session, one_on_one)
    _changed(answer, answer, json_output)


@app.command("agenda")
def agenda(one_on_one: OneOnOneId, text: TextArgument, json_output: JsonFlag = False) -> None:
    """Add an item to the next meeting's shared agenda."""
    request = feedback_pb2.AddAgendaItemRequest(one_on_one_id=one_on_one, text=text)
    with connected(json_output) as session:
        answer = session.call("feedback", session.feedback().AddAgendaItem, request)
    _changed(answer.one_on_one, answer, json_output)


@app.command("note")
def note(one_on_one: OneOnOneId, text: TextArgument, json_output: JsonFlag = False) -> None:
    """Add a private note to a 1:1 (only you will ever read it)."""
    request = feedback_pb2.AddPrivateNoteRequest(one_on_one_id=one_on_one, text=text)
    with connected(json_output) as session:
        answer = session.call("feedback", session.feedback().AddPrivateNote, request)
    _changed(answer.one_on_one, answer, json_output)


@app.command("action")
def action(
    one_on_one: OneOnOneId,
    text: TextArgument,
    owner: Annotated[str, typer.Option(help="Who does it: the manager or the report.")],
    json_output: JsonFlag = False,
) -> None:
    """Add an action item; it carries over to every later meeting until it is done."""
    request = feedback_pb2.AddActionItemRequest(one_on_one_id=one_on_one, owner_id=owner, text=text)
    with connected(json_output) as session:
        answer = session.call("feedback", session.feedback().AddActionItem, request)
    _changed(answer.one_on_one, answer, json_output)


@app.command("done")
def done(
    one_on_one: OneOnOneId,
    item: Annotated[str, typer.Argument(metavar="ITEM", help="The action item's id.")],
    json_output: JsonFlag = False,
) -> None:
    """Mark an action item as done."""
    request = feedback_pb2.CompleteActionItemRequest(one_on_one_id=one_on_one, item_id=item)
    with connected(json_output) as session:
        answer = session.call("feedback", session.feedback().CompleteActionItem, request)
    _changed(answer.one_on_one, answer, json_output)


@app.command("held")
def held(
    one_on_one: OneOnOneId,
    on: Annotated[str, typer.Option(callback=iso_date, help="The day it took place.")],
    json_output: JsonFlag = False,
) -> None:
    """Record that the 1:1 took place on a day."""
    request = feedback_pb2.RecordOneOnOneMeetingRequest(one_on_one_id=one_on_one, held_on=on)
    with connected(json_output) as session:
        answer = session.call("feedback", session.feedback().RecordOneOnOneMeeting, request)
    _changed(answer.one_on_one, answer, json_output)


@app.command("list")
def list_command(
    person: Annotated[
        str, typer.Option(help="Only the series this person manages or reports in.")
    ] = "",
    json_output: JsonFlag = False,
) -> None:
    """The 1:1 series you manage or report in (HR admins: every series of the tenant, its
    schedule only), with the next meeting, the last one held and the missed slots. Private
    notes are never listed: `1on1 show ID` shows yours."""
    series: list[feedback_pb2.OneOnOne] = []
    with connected(json_output) as session:
        token = ""
        while True:
            page = session.call(
                "feedback",
                session.feedback().ListOneOnOnes,
                feedback_pb2.ListOneOnOnesRequest(
                    person_id=person, page_size=PAGE_SIZE, page_token=token
                ),
            )
            series.extend(page.one_on_ones)
            if not (token := page.next_page_token):
                break

    def show_all() -> None:
        for item in series:
            show_one_on_one(item)
        if not series:
            console().print("No 1:1 series to show: `1on1 schedule REPORT --start DAY` starts one.")

    emit({"one_on_ones": series}, json_output, show_all)
