"""Feedback request use cases: ask, read, answer (named or into the ballot box), close, read
the results. Each takes the caller and authorises first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from services.feedback import authorization as policy
from services.feedback.domain import FeedbackSettings, settings_id
from services.feedback.event_clock import records_on_clock
from services.feedback.requests import OPEN, FeedbackRequest, QuestionInput, validated_answers
from services.feedback.rules import (
    DEFAULT_ANONYMITY_THRESHOLD,
    DIRECT_REPORT,
    MANAGER,
    MAX_REVIEWERS,
    PEER,
    SELF,
    UPWARD,
    AlreadyAnswered,
    RequestStillOpen,
)
from services.feedback.store import Saved
from services.feedback.template_cases import TemplateCases
from services.shared.auth import Principal
from services.shared.errors import InvalidArgument, NotFound


@dataclass(frozen=True)
class RequestView:
    request: FeedbackRequest
    answered_by_caller: bool


@dataclass(frozen=True)
class Results:
    request: FeedbackRequest
    named: list[tuple[str, str, list[dict[str, Any]]]]
    aggregates: list[dict[str, Any]]


@records_on_clock
class RequestCases(TemplateCases):
    def anonymity_threshold(self, tenant_id: str) -> int:
        settings = self._settings_or_none(tenant_id)
        return settings.anonymity_threshold if settings else DEFAULT_ANONYMITY_THRESHOLD

    def _settings_or_none(self, tenant_id: str) -> FeedbackSettings | None:
        try:
            return self.load(FeedbackSettings, tenant_id, settings_id(tenant_id), "tenant")
        except NotFound:
            return None

    def create_request(
        self,
        principal: Principal,
        *,
        subject_id: str,
        kind: str,
        reviewer_ids: Sequence[str],
        questions: Sequence[QuestionInput],
        due_date: date,
        anonymous: bool,
        template_id: UUID | None = None,
    ) -> tuple[FeedbackRequest, Saved]:
        """Questions: the template's (by id), the ones given, or the kind's defaults."""
        tenant = principal.tenant_id
        subject_id = subject_id or principal.subject
        policy.require_can_request_about(principal, self.directory, subject_id)
        subject = self.require_person(tenant, subject_id, "subject_id")
        if not reviewer_ids:
            raise InvalidArgument("ask at least one reviewer", field="reviewer_ids")
        if len(reviewer_ids) > MAX_REVIEWERS:
            raise InvalidArgument(f"at most {MAX_REVIEWERS} reviewers", field="reviewer_ids")
        reviewers: list[tuple[str, str]] = []
        for position, reviewer_id in enumerate(reviewer_ids):
            field = f"reviewer_ids[{position}]"
            if reviewer_id in (r for r, _ in reviewers):
                raise InvalidArgument(f"{reviewer_id} is listed twice", field=field)
            reviewer = self.require_person(tenant, reviewer_id, field)
            if reviewer_id == subject_id:
                perspective = SELF
            elif reviewer_id == subject.manager_id:
                perspective = MANAGER
            elif reviewer.manager_id == subject_id:
                perspective = DIRECT_REPORT
            else:
                perspective = PEER
            if kind == UPWARD and perspective != DIRECT_REPORT:
                raise InvalidArgument(
                    f"{reviewer_id} does not report to {subject_id}: upward feedback comes "
                    "from direct reports",
                    field=field,
                )
            reviewers.append((reviewer_id, perspective))
        if template_id is not None:
            if questions:
                raise InvalidArgument("give a template or questions, not both", field="template_id")
            questions = self.template_questions(tenant, template_id)
        request = FeedbackRequest.create(
            tenant_id=tenant,
            requester_id=principal.subject,
            subject_id=subject_id,
            kind=kind,
            reviewers=reviewers,
            questions=questions,
            due_date=due_date,
            anonymous=anonymous,
            anonymity_threshold=self.anonymity_threshold(tenant),
            today=self.today(),
            template_id=template_id,
        )
        return request, self.save_as(principal, tenant, request)

    def get_request(self, principal: Principal, request_id: UUID) -> RequestView:
        request = self.load(FeedbackRequest, principal.tenant_id, request_id, "request_id")
        policy.require_can_see_request(principal, request)
        return RequestView(request, self._has_answered(request, principal.subject))

    def submit_answer(
        self, principal: Principal, request_id: UUID, answers: Sequence[Mapping[str, Any]]
    ) -> None:
        """Named answers are events; anonymous ones go to the ballot box and leave no event,
        no log line and no metric of their own."""
        policy.require_writer(principal, self.directory, "answer feedback requests")
        with self.ballot_lock:
            request = self.load(FeedbackRequest, principal.tenant_id, request_id, "request_id")
            policy.require_can_see_request(principal, request)
            request.check_can_answer(principal.subject)
            if not request.answers_anonymously(principal.subject):
                request.answer(principal.subject, answers)
                self.save_as(principal, principal.tenant_id, request)
                return
            checked = validated_answers(request.questions, answers)
            if self.ballots.has_cast(str(request.id), principal.subject):
                raise AlreadyAnswered("you answered this request already", field="request_id")
            perspective = request.perspective_of(principal.subject) or ""
            self.ballots.cast(str(request.id), principal.subject, perspective, checked)
            # Inside the lock, so a copy of this request waiting for it finds the record.
            self.record_request_only(principal)

    def close_request(
        self, principal: Principal, request_id: UUID
    ) -> tuple[FeedbackRequest, Saved]:
        request = self.load(FeedbackRequest, principal.tenant_id, request_id, "request_id")
        policy.require_can_close(principal, request)
        return request, self._close(principal, request)

    def close_due_request(self, tenant_id: str, request_id: UUID) -> bool:
        """The scheduler's close, the day after the due date; False when nothing to do."""
        request = self.load(FeedbackRequest, tenant_id, request_id, "request_id")
        if request.state != OPEN or request.due_date >= self.today():
            return False
        self._close(None, request)
        return True

    def _close(self, principal: Principal | None, request: FeedbackRequest) -> Saved:
        with self.ballot_lock:
            request.close(
                principal.subject if principal else "northstar/feedback",
                self.ballots.answer_sets(str(request.id)),
            )
            saved = self.save_as(principal, request.tenant_id, request)
            # Only the aggregates outlive the request: the individual answers are gone.
            self.ballots.purge(str(request.id))
        return saved

    def request_results(self, principal: Principal, request_id: UUID) -> Results:
        request = self.load(FeedbackRequest, principal.tenant_id, request_id, "request_id")
        policy.require_can_read_results(principal, request)
        if request.state == OPEN:
            raise RequestStillOpen(
                "results are readable once the request has closed", field="request_id"
            )
        named = [
            (reviewer_id, entry["perspective"], entry["answers"])
            for reviewer_id, entry in sorted(request.named_answers.items())
        ]
        return Results(request, named, request.aggregates)

    def _has_answered(self, request: FeedbackRequest, person_id: str) -> bool:
        if request.answers_anonymously(person_id):
            return self.ballots.has_cast(str(request.id), person_id)
        return person_id in request.named_answers
