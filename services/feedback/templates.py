"""The QuestionTemplate aggregate: a tenant's stored set of questions (rating scales with
bounds and labels, text questions) that requests reference by id. A request copies the
template's questions when it is made, so retiring a template never changes a request; a retired
template cannot be chosen for new requests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import Aggregate, event

from services.feedback.event_clock import ClockedEvent
from services.feedback.questions import QuestionInput, validated_question_set
from services.feedback.rules import require_text
from services.shared.errors import FailedPrecondition

MAX_TEMPLATE_NAME_LENGTH = 200


class TemplateRetired(FailedPrecondition):
    """A retired template is kept for the record but chosen no more."""


class QuestionTemplate(Aggregate):
    class Event(ClockedEvent):
        pass

    class Defined(Event, Aggregate.Created):
        tenant_id: str
        name: str
        questions: list[dict[str, Any]]
        by: str

    class Retired(Event):
        by: str

    @classmethod
    def define(
        cls, *, tenant_id: str, name: str, questions: Sequence[QuestionInput], by: str
    ) -> QuestionTemplate:
        """A new template, validated: a name, 1 to 30 questions."""
        name = require_text(name, "name", max_length=MAX_TEMPLATE_NAME_LENGTH).strip()
        return cls(
            tenant_id=tenant_id, name=name, questions=validated_question_set(questions), by=by
        )

    @event(Defined)
    def __init__(self, tenant_id: str, name: str, questions: list[dict[str, Any]], by: str) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.questions = questions
        self.retired = False

    def require_current(self, field: str = "template_id") -> None:
        if self.retired:
            raise TemplateRetired(f"template {self.id} was retired", field=field)

    def retire(self, by: str) -> None:
        if self.retired:
            raise TemplateRetired(f"template {self.id} was retired already", field="template_id")
        self._retired(by=by)

    @event(Retired)
    def _retired(self, by: str) -> None:
        self.retired = True
