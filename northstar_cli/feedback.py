"""`northstar feedback ...`: give feedback, list it, and ask for and answer feedback requests.

The feedback service applies its visibility matrix (docs/feedback.md) to every answer: what
these commands print is what the caller may see, text or metadata only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.text import Text

from northstar.feedback.v1 import feedback_pb2
from northstar_cli.client import Session
from northstar_cli.output import JsonFlag, connected, console, emit
from northstar_cli.params import all_pages, iso_date, resolve_goal

app = typer.Typer(help="Feedback: give, list, request and answer feedback (1:1s: `1on1`).")
request_app = typer.Typer(help="Feedback requests: ask people, answer, close, read results.")
app.add_typer(request_app, name="request")

Person = Annotated[str, typer.Argument(metavar="PERSON", help="A person id, e.g. tom.becker.")]
RequestId = Annotated[str, typer.Argument(metavar="REQUEST", help="The feedback request's id.")]


class Kind(StrEnum):
    praise = "praise"
    constructive = "constructive"
    note_to_self = "note-to-self"


class Visibility(StrEnum):
    public = "public"
    private = "private"
    private_with_manager = "private-with-manager"
    manager_only = "manager-only"


class RequestKind(StrEnum):
    general = "general"
    three_sixty = "360"
    upward = "upward"


def enum_value(prefix: str, word: str) -> Any:
    """The generated enum value named by its prefix and a command-line word."""
    return getattr(feedback_pb2, f"{prefix}_{word.upper().replace('-', '_')}")


def enum_word(enum: Any, value: int, prefix: str) -> str:
    """The command-line word of a generated enum value (FEEDBACK_KIND_NOTE_TO_SELF is
    note-to-self)."""
    return str(enum.Name(value)).removeprefix(prefix).lower().replace("_", "-")


def _feedback_table(items: list[feedback_pb2.Feedback], title: str) -> None:
    # One block per feedback, not a table: texts are up to 4,000 characters and ids are copied.
    out = console()
    out.print(Text(title, style="bold"))
    for item in items:
        kind = enum_word(feedback_pb2.FeedbackKind, item.kind, "FEEDBACK_KIND_")
        visibility = enum_word(
            feedback_pb2.FeedbackVisibility, item.visibility, "FEEDBACK_VISIBILITY_"
        )
        facts = [kind, visibility, *([", ".join(item.values)] if item.values else [])]
        if item.goal_id:
            facts.append(f"about goal {item.goal_id}")
        out.print(
            Text.assemble(
                (item.given_at[:16].replace("T", " "), "dim"),
                f"  {item.giver_id} -> {item.recipient_id}  ",
                (" · ".join(facts), "green" if kind == "praise" else "yellow"),
            )
        )
        text = item.text or ("(retracted)" if item.retracted else "(metadata only)")
        out.print(Text(f"    {text}", style="" if item.text else "dim"))
        out.print(Text(f"    id {item.feedback_id}", style="dim"))


@app.command("give")
def give(
    person: Person,
    text: Annotated[str, typer.Argument(help="What you want to say (1 to 4,000 characters).")],
    kind: Annotated[Kind, typer.Option(help="praise, constructive, or a note to self.")] = (
        Kind.praise
    ),
    visibility: Annotated[
        Visibility | None,
        typer.Option(help="Who may read it (default public; a note to self is yours only)."),
    ] = None,
    goal: Annotated[str, typer.Option(help="A goal it is about (id or part of the title).")] = "",
    value: Annotated[
        list[str] | None, typer.Option("--value", help="A company value; repeats.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Give praise or constructive feedback to a person, or write a note to self about them."""
    if kind == Kind.note_to_self and visibility is not None:
        raise typer.BadParameter("a note to self is read by you only", param_hint="--visibility")
    chosen = visibility or (None if kind == Kind.note_to_self else Visibility.public)
    with connected(json_output) as session:
        request = feedback_pb2.GiveFeedbackRequest(
            recipient_id=person,
            kind=enum_value("FEEDBACK_KIND", kind.value),
            visibility=enum_value("FEEDBACK_VISIBILITY", chosen.value if chosen else "unspecified"),
            text=text,
            goal_id=resolve_goal(session, goal) if goal else "",
            values=value or [],
        )
        answer = session.call("feedback", session.feedback().GiveFeedback, request)
    emit(answer, json_output, lambda: _feedback_table([answer.feedback], "Feedback given"))


def list_feedback(session: Session, person: str, given: bool) -> list[feedback_pb2.Feedback]:
    """Every page of what `person` ("" the caller) gave or received that the caller may see."""
    stub = session.feedback()
    direction = (
        feedback_pb2.FEEDBACK_DIRECTION_GIVEN
        if given
        else (feedback_pb2.FEEDBACK_DIRECTION_RECEIVED)
    )
    return list(
        all_pages(
            lambda token: session.call(
                "feedback",
                stub.ListFeedback,
                feedback_pb2.ListFeedbackRequest(
                    person_id=person, direction=direction, page_size=500, page_token=token
                ),
            ),
            lambda page: list(page.feedback),
        )
    )


@app.command("list")
def list_command(
    person: Annotated[str, typer.Option(help="Whose feedback; default: yours.")] = "",
    given: Annotated[
        bool, typer.Option("--given/--received", help="Feedback given, or received (default).")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Feedback a person received (or gave) that you may see, newest first."""
    with connected(json_output) as session:
        items = list_feedback(session, person, given)
    who = person or "you"
    title = f"{len(items)} feedback {'given by' if given else 'received by'} {who}"
    emit(
        feedback_pb2.ListFeedbackResponse(feedback=items),
        json_output,
        lambda: _feedback_table(items, title),
    )


@app.command("show")
def show(
    feedback_id: Annotated[str, typer.Argument(metavar="FEEDBACK")],
    json_output: JsonFlag = False,
) -> None:
    """One feedback, as far as you may see it."""
    with connected(json_output) as session:
        answer = session.call(
            "feedback",
            session.feedback().GetFeedback,
            feedback_pb2.GetFeedbackRequest(feedback_id=feedback_id),
        )
    emit(answer, json_output, lambda: _feedback_table([answer], "Feedback"))


def _request_words(request: feedback_pb2.FeedbackRequest) -> None:
    out = console()
    kind = enum_word(feedback_pb2.FeedbackRequestKind, request.kind, "FEEDBACK_REQUEST_KIND_")
    state = enum_word(feedback_pb2.FeedbackRequestState, request.state, "FEEDBACK_REQUEST_STATE_")
    threshold = request.anonymity_threshold
    anonymous = f", anonymous (threshold {threshold})" if request.anonymous else ""
    out.print(
        Text(
            f"Request {request.request_id}: {kind} about {request.subject_id} by "
            f"{request.requester_id}, due {request.due_date}, {state}{anonymous}."
        )
    )
    for reviewer in request.reviewers:
        perspective = enum_word(feedback_pb2.Perspective, reviewer.perspective, "PERSPECTIVE_")
        out.print(Text(f"  reviewer {reviewer.reviewer_id} ({perspective})"))
    for question in request.questions:
        scale = (
            f" [{question.scale_min or 1}-{question.scale_max or 5}]"
            if question.kind == feedback_pb2.QUESTION_KIND_RATING
            else " [text]"
        )
        out.print(Text(f"  {question.question_id}{scale} {question.prompt}"))
    if request.answered_by_caller:
        out.print("You have answered it.")


@request_app.command("create")
def request_create(
    reviewer: Annotated[
        list[str], typer.Option("--reviewer", help="A person asked to answer; repeats.")
    ],
    due: Annotated[str, typer.Option(callback=iso_date, help="Due date, YYYY-MM-DD.")],
    about: Annotated[str, typer.Option(help="The subject; default: you.")] = "",
    kind: Annotated[RequestKind, typer.Option()] = RequestKind.general,
    anonymous: Annotated[
        bool, typer.Option(help="Peers' and reports' answers only aggregated.")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Ask people for feedback about you (or, as a manager, about a report)."""
    kind_name = "THREE_SIXTY" if kind == RequestKind.three_sixty else kind.value
    request = feedback_pb2.CreateFeedbackRequestRequest(
        subject_id=about,
        kind=enum_value("FEEDBACK_REQUEST_KIND", kind_name),
        reviewer_ids=reviewer,
        due_date=due,
        anonymous=anonymous,
    )
    with connected(json_output) as session:
        answer = session.call("feedback", session.feedback().CreateFeedbackRequest, request)
    emit(answer, json_output, lambda: _request_words(answer.request))


@request_app.command("show")
def request_show(request_id: RequestId, json_output: JsonFlag = False) -> None:
    """A feedback request: questions, reviewers, state (never anyone's answers)."""
    with connected(json_output) as session:
        answer = get_request(session, request_id)
    emit(answer, json_output, lambda: _request_words(answer))


def get_request(session: Session, request_id: str) -> feedback_pb2.FeedbackRequest:
    return session.call(
        "feedback",
        session.feedback().GetFeedbackRequest,
        feedback_pb2.GetFeedbackRequestRequest(request_id=request_id),
    )


def parse_answers(
    questions: list[feedback_pb2.Question], given: list[str]
) -> list[feedback_pb2.Answer]:
    """`q1=4` and `q2=some text` for the request's questions, one per question."""
    kinds = {question.question_id: question.kind for question in questions}
    answers: dict[str, feedback_pb2.Answer] = {}
    for item in given:
        question_id, separator, text = item.partition("=")
        question_id = question_id.strip()
        if not separator or question_id not in kinds:
            known = ", ".join(kinds) or "none"
            raise typer.BadParameter(
                f"{item!r} is not QUESTION=ANSWER for a question of the request ({known})",
                param_hint="--answer",
            )
        if kinds[question_id] == feedback_pb2.QUESTION_KIND_RATING:
            try:
                answers[question_id] = feedback_pb2.Answer(
                    question_id=question_id, rating=int(text)
                )
            except ValueError:
                raise typer.BadParameter(
                    f"{question_id} is a rating: give a whole number, not {text!r}",
                    param_hint="--answer",
                ) from None
        else:
            answers[question_id] = feedback_pb2.Answer(question_id=question_id, text=text)
    missing = [question_id for question_id in kinds if question_id not in answers]
    if missing:
        raise typer.BadParameter(f"no answer for {', '.join(missing)}", param_hint="--answer")
    return list(answers.values())


@request_app.command("answer")
def request_answer(
    request_id: RequestId,
    answer: Annotated[
        list[str], typer.Option("--answer", "-a", help="QUESTION=ANSWER, e.g. q1=4; repeats.")
    ],
    json_output: JsonFlag = False,
) -> None:
    """Answer a feedback request you were asked to review (once; see `request show`)."""
    with connected(json_output) as session:
        found = get_request(session, request_id)
        request = feedback_pb2.SubmitFeedbackAnswerRequest(
            request_id=request_id, answers=parse_answers(list(found.questions), answer)
        )
        accepted = session.call("feedback", session.feedback().SubmitFeedbackAnswer, request)
    emit(accepted, json_output, lambda: console().print("Answer recorded."))


@request_app.command("close")
def request_close(request_id: RequestId, json_output: JsonFlag = False) -> None:
    """Close a request you made before its due date; its results become readable."""
    with connected(json_output) as session:
        answer = session.call(
            "feedback",
            session.feedback().CloseFeedbackRequest,
            feedback_pb2.CloseFeedbackRequestRequest(request_id=request_id),
        )
    emit(answer, json_output, lambda: _request_words(answer.request))


@request_app.command("results")
def request_results(request_id: RequestId, json_output: JsonFlag = False) -> None:
    """A closed request's results: named answers, and aggregates of anonymous perspectives that
    reached the threshold (the others are absent)."""
    with connected(json_output) as session:
        answer = session.call(
            "feedback",
            session.feedback().GetFeedbackRequestResults,
            feedback_pb2.GetFeedbackRequestResultsRequest(request_id=request_id),
        )
    emit(answer, json_output, lambda: _results_words(answer))


def _results_words(results: feedback_pb2.FeedbackRequestResults) -> None:
    out = console()
    for named in results.named:
        perspective = enum_word(feedback_pb2.Perspective, named.perspective, "PERSPECTIVE_")
        words = "; ".join(f"{a.question_id}: {a.text or a.rating}" for a in named.answers)
        out.print(Text(f"{named.reviewer_id} ({perspective}): {words}"))
    for aggregate in results.aggregates:
        perspective = enum_word(feedback_pb2.Perspective, aggregate.perspective, "PERSPECTIVE_")
        out.print(Text(f"{perspective}, {aggregate.answer_count} answers (anonymous):"))
        for question in aggregate.questions:
            if question.comments:
                out.print(Text(f"  {question.question_id}: " + " | ".join(question.comments)))
            else:
                out.print(Text(f"  {question.question_id}: mean {question.rating_mean:.2f}"))
    if not results.named and not results.aggregates:
        out.print("No results to show (no named answers, no perspective reached the threshold).")
