"""Anonymity, as properties over any set of answers: no query, public event, metric or log line
lets anyone recover an individual anonymous answer or learn which perspective answered below the
threshold; aggregates appear exactly when a perspective reaches it.

Each example runs the real application on real SQLite stores, with the relay's own mapper for
the public events and the service's own metrics wiring; "observed" is everything any caller can
get, normalised only for random ids and wall-clock times. A few examples also run on PostgreSQL
(tests/integration/test_feedback_anonymity_on_postgres.py, a database per observation).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.feedback.protobuf_mapping import request_message, results_message
from services.feedback.publishing import feedback_envelope
from services.feedback.requests import QuestionInput
from services.shared.errors import NorthstarError
from services.shared.metrics import ServiceMetrics
from tests.feedback_support import ORGANISATION, feedback_world, principal

PEERS = ("peer-1", "peer-2", "peer-3", "giver-1")
REPORTS = ("report-1", "report-2", "report-3")
THRESHOLD = 3
OBSERVERS = tuple(p for p in ORGANISATION if p not in PEERS + REPORTS)
QUESTIONS = [QuestionInput("rating", "How well do they listen?"), QuestionInput("text", "Advice?")]

Answer = tuple[int, str]
# Each text is marked, so finding it anywhere means it leaked, never a chance substring.
answer_sets = st.tuples(
    st.integers(1, 5), st.text("abcxyz ", max_size=6).map(lambda core: f"zq{core}qz")
)


def answers_of(answer: Answer) -> list[dict[str, Any]]:
    rating, text = answer
    return [
        {"question_id": "q1", "rating": rating, "text": ""},
        {"question_id": "q2", "rating": 0, "text": text},
    ]


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}:{record.getMessage()}")


@contextmanager
def captured_logs() -> Iterator[_Capture]:
    capture, root = _Capture(), logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


StoreFactory = Callable[[Path], AbstractContextManager[str]]
"""A fresh, empty store for one observation (its URL), given a scratch folder."""


@contextmanager
def sqlite_store(folder: Path) -> Iterator[str]:
    yield f"sqlite:///{folder / 'feedback.db'}"


def observe(
    answers: Mapping[str, Answer], fresh_store: StoreFactory = sqlite_store
) -> dict[str, Any]:
    """Every answer in `answers` given by its reviewer; then everything anyone can observe."""
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_store(Path(folder)) as store_url,
        captured_logs() as logs,
    ):
        world = feedback_world(Path(folder), store_url=store_url)
        metrics = ServiceMetrics("feedback")
        world.app.after_save.append(
            lambda kind, n: metrics.events_appended_total.labels(aggregate_type=kind).inc(n)
        )
        app = world.app
        app.update_settings(principal("hr-1"), THRESHOLD, [])
        request, _ = app.create_request(
            principal("recipient-1"),
            subject_id="",
            kind="three_sixty",
            reviewer_ids=[*PEERS, *REPORTS, "manager-1"],
            questions=QUESTIONS,
            due_date=date(2026, 3, 20),
            anonymous=True,
        )
        for reviewer, answer in answers.items():
            app.submit_answer(principal(reviewer), request.id, answers_of(answer))
        before_close = {
            who: _try(
                lambda who=who: MessageToDict(
                    request_message(app.get_request(principal(who), request.id))
                )
            )
            for who in OBSERVERS
        }
        early_results = _try(lambda: app.request_results(principal("recipient-1"), request.id))
        app.close_request(principal("recipient-1"), request.id)
        after_close = {
            who: _try(
                lambda who=who: MessageToDict(
                    results_message(app.request_results(principal(who), request.id))
                )
            )
            for who in OBSERVERS
        }
        topic = [
            _normalised(feedback_envelope(app.mapper.to_domain_event(n), n).model_dump(mode="json"))
            for n in app.recorder.select_notifications(0, 1000)
        ]
        exposed_metrics = [
            line
            for line in metrics.render().decode().splitlines()
            if line.startswith("northstar_") and "_created" not in line
        ]
        world.close()
    observed = {
        "before_close": before_close,
        "early_results": early_results,
        "after_close": after_close,
        "topic": topic,
        "metrics": exposed_metrics,
        "logs": logs.lines,
    }
    # The request's id is random per run; everything else must match exactly.
    normalised: dict[str, Any] = json.loads(json.dumps(observed).replace(str(request.id), "<id>"))
    return normalised


def _try(read: Any) -> Any:
    try:
        return read()
    except NorthstarError as error:
        return f"{type(error).__name__}:{error.field}"


def _normalised(envelope: dict[str, Any]) -> dict[str, Any]:
    for name in ("id", "aggregate_id", "occurred_at", "correlation_id"):
        envelope.pop(name)
    envelope.get("data", {}).pop("tenant_id", None)
    return envelope


def permuted_within_perspectives(answers: Mapping[str, Answer], shift: int) -> dict[str, Answer]:
    permuted: dict[str, Answer] = {}
    for group in (PEERS, REPORTS):
        answered = [r for r in group if r in answers]
        values = [answers[r] for r in answered]
        for position, reviewer in enumerate(answered):
            permuted[reviewer] = (
                values[(position + shift) % len(values)] if values else answers[reviewer]
            )
    return permuted


SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    peers=st.dictionaries(st.sampled_from(PEERS), answer_sets),
    reports=st.dictionaries(st.sampled_from(REPORTS), answer_sets),
    shift=st.integers(1, 3),
)
def test_who_gave_which_anonymous_answer_changes_nothing_anyone_observes(
    peers: dict[str, Answer], reports: dict[str, Answer], shift: int
) -> None:
    answers = peers | reports
    assert observe(answers) == observe(permuted_within_perspectives(answers, shift))


@SETTINGS
@given(
    count=st.integers(0, THRESHOLD - 1),
    answers=st.lists(answer_sets, min_size=THRESHOLD - 1, max_size=THRESHOLD - 1),
)
def test_below_the_threshold_nobody_learns_which_perspective_answered(
    count: int, answers: Sequence[Answer]
) -> None:
    by_peers = observe(dict(zip(PEERS[:count], answers, strict=False)))
    by_reports = observe(dict(zip(REPORTS[:count], answers, strict=False)))
    nobody = observe({})
    assert by_peers == by_reports == nobody


@SETTINGS
@given(
    peers=st.dictionaries(st.sampled_from(PEERS), answer_sets),
    reports=st.dictionaries(st.sampled_from(REPORTS), answer_sets),
)
def test_aggregates_appear_exactly_when_a_perspective_reaches_the_threshold(
    peers: dict[str, Answer], reports: dict[str, Answer]
) -> None:
    observed = observe(peers | reports)
    results = observed["after_close"]["recipient-1"]
    shown = {a["perspective"]: a for a in results.get("aggregates", [])}
    for perspective, group in (("PERSPECTIVE_PEER", peers), ("PERSPECTIVE_DIRECT_REPORT", reports)):
        if len(group) >= THRESHOLD:
            aggregate = shown[perspective]
            assert aggregate["answerCount"] == len(group)
            ratings, comments = aggregate["questions"]
            assert sum(ratings["ratingCounts"]) == len(group)
            assert comments["comments"] == sorted(text.strip() for _, text in group.values())
        else:
            assert perspective not in shown
    # Nothing before close, for anyone; no answer text anywhere but the shown aggregates.
    assert observed["early_results"] == "RequestStillOpen:request_id"
    texts = {text for _, text in (peers | reports).values()}
    for channel in ("before_close", "topic", "metrics", "logs"):
        assert not any(text in repr(observed[channel]) for text in texts)
