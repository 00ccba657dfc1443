"""Questions of feedback requests and of the tenant's stored question templates: rating scales
with bounds and optional labels, text questions; validated the same way wherever they come
from, each error naming the request field at fault."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.feedback.rules import (
    DEFAULT_SCALE,
    MAX_PROMPT_LENGTH,
    MAX_QUESTIONS,
    MAX_SCALE_POINTS,
    RATING,
    TEXT,
    THREE_SIXTY,
    UPWARD,
    require_choice,
    require_text,
)
from services.shared.errors import InvalidArgument

MAX_LABEL_LENGTH = 50


@dataclass(frozen=True)
class QuestionInput:
    kind: str
    prompt: str
    scale_min: int = 0
    scale_max: int = 0
    scale_labels: tuple[str, ...] = ()
    """Rating questions: none, or one label per point of the scale, lowest first."""


DEFAULT_TEMPLATES: dict[str, tuple[QuestionInput, ...]] = {
    "general": (
        QuestionInput(RATING, "Overall, how would you rate their recent work?"),
        QuestionInput(TEXT, "What should they keep doing?"),
        QuestionInput(TEXT, "What could they do differently?"),
    ),
    THREE_SIXTY: (
        QuestionInput(RATING, "How well do they communicate?"),
        QuestionInput(RATING, "How well do they deliver on their commitments?"),
        QuestionInput(TEXT, "What are their greatest strengths?"),
        QuestionInput(TEXT, "Where could they grow?"),
    ),
    UPWARD: (
        QuestionInput(RATING, "How well does your manager support your growth?"),
        QuestionInput(RATING, "How clear are the priorities your manager sets?"),
        QuestionInput(TEXT, "What could your manager do differently?"),
    ),
}


def validated_questions(kind: str, questions: Sequence[QuestionInput]) -> list[dict[str, Any]]:
    """A request's questions (the kind's default template when none are given)."""
    return validated_question_set(list(questions) or list(DEFAULT_TEMPLATES[kind]))


def validated_question_set(
    questions: Sequence[QuestionInput], field: str = "questions"
) -> list[dict[str, Any]]:
    """1 to 30 valid questions, with ids q1, q2, ..."""
    if not questions:
        raise InvalidArgument("give at least one question", field=field)
    if len(questions) > MAX_QUESTIONS:
        raise InvalidArgument(
            f"at most {MAX_QUESTIONS} questions (was {len(questions)})", field=field
        )
    return [
        _validated(question, position, f"{field}[{position}]")
        for position, question in enumerate(questions)
    ]


def _validated(question: QuestionInput, position: int, field: str) -> dict[str, Any]:
    require_choice(question.kind, (RATING, TEXT), f"{field}.kind")
    prompt = require_text(question.prompt, f"{field}.prompt", max_length=MAX_PROMPT_LENGTH)
    low, high = question.scale_min, question.scale_max
    labels: list[str] = []
    if question.kind == RATING:
        if (low, high) == (0, 0):
            low, high = DEFAULT_SCALE
        if not low < high or high - low + 1 > MAX_SCALE_POINTS:
            raise InvalidArgument(
                f"a scale runs from a lower to a higher whole number, at most "
                f"{MAX_SCALE_POINTS} points (was {low} to {high})",
                field=f"{field}.scale_max",
            )
        labels = _labels(question.scale_labels, high - low + 1, f"{field}.scale_labels")
    elif (low, high) != (0, 0):
        raise InvalidArgument("a text question has no scale", field=f"{field}.scale_min")
    elif question.scale_labels:
        raise InvalidArgument("a text question has no scale", field=f"{field}.scale_labels")
    return {
        "question_id": f"q{position + 1}",
        "kind": question.kind,
        "prompt": prompt.strip(),
        "scale_min": low,
        "scale_max": high,
        "scale_labels": labels,
    }


def _labels(labels: Sequence[str], points: int, field: str) -> list[str]:
    if labels and len(labels) != points:
        raise InvalidArgument(
            f"give one label per point of the scale ({points}), or none (was {len(labels)})",
            field=field,
        )
    return [
        require_text(label, f"{field}[{i}]", max_length=MAX_LABEL_LENGTH).strip()
        for i, label in enumerate(labels)
    ]


def question_input(question: dict[str, Any]) -> QuestionInput:
    """A stored question as input again (a template's questions become a request's)."""
    return QuestionInput(
        question["kind"],
        question["prompt"],
        question["scale_min"],
        question["scale_max"],
        tuple(question.get("scale_labels", ())),
    )
