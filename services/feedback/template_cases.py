"""Question template use cases: HR admins define and retire the tenant's templates; everyone
in the tenant lists them (to choose one for a request)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from services.feedback import authorization as policy
from services.feedback.event_clock import records_on_clock
from services.feedback.questions import QuestionInput, question_input
from services.feedback.store import FeedbackStore, Saved
from services.feedback.templates import QuestionTemplate
from services.shared.auth import Principal

TemplateResult = tuple[QuestionTemplate, Saved]


@records_on_clock
class TemplateCases(FeedbackStore):
    def define_template(
        self, principal: Principal, name: str, questions: Sequence[QuestionInput]
    ) -> TemplateResult:
        policy.require_template_admin(principal)
        template = QuestionTemplate.define(
            tenant_id=principal.tenant_id, name=name, questions=questions, by=principal.subject
        )
        return template, self.save_as(principal, principal.tenant_id, template)

    def retire_template(
        self, principal: Principal, template_id: UUID, expected_version: int
    ) -> TemplateResult:
        policy.require_template_admin(principal)
        template = self.for_update(
            QuestionTemplate, principal.tenant_id, template_id, "template_id", expected_version
        )
        template.retire(principal.subject)
        return template, self.save_as(principal, principal.tenant_id, template)

    def list_templates(
        self, principal: Principal, *, include_retired: bool, offset: int, limit: int
    ) -> tuple[list[QuestionTemplate], bool]:
        """A page of the tenant's templates by name, and whether more may follow."""
        if self.index is None:
            raise RuntimeError("listing needs the feedback index")
        ids = self.index.template_ids(
            principal.tenant_id, include_retired=include_retired, offset=offset, limit=limit + 1
        )
        templates = [
            self.load(QuestionTemplate, principal.tenant_id, template_id, "template_id")
            for template_id in ids[:limit]
        ]
        return templates, len(ids) > limit

    def template_questions(self, tenant_id: str, template_id: UUID) -> list[QuestionInput]:
        """The questions of a current template of the tenant, for a new request."""
        template = self.load(QuestionTemplate, tenant_id, template_id, "template_id")
        template.require_current()
        return [question_input(q) for q in template.questions]
