"""Feedback use cases: give, read, list, narrow, retract; the tenant's settings; reminders and
departures for the scheduler and the policies. Requests and 1:1s have their own modules
(request_cases.py, one_on_one_cases.py); this class is all of them. Every use case takes the
caller and authorises inside (authorization.py) before it changes anything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from services.feedback import authorization as policy
from services.feedback.domain import DEFAULT_SETTINGS, Feedback, FeedbackSettings, settings_id
from services.feedback.event_clock import records_on_clock
from services.feedback.one_on_one_cases import OneOnOneCases
from services.feedback.request_cases import RequestCases
from services.feedback.requests import FeedbackRequest
from services.feedback.store import Saved
from services.shared.auth import Principal
from services.shared.errors import NotFound
from services.shared.feedback_visibility import Access


@dataclass(frozen=True)
class SeenFeedback:
    feedback: Feedback
    access: Access


@records_on_clock
class FeedbackApplication(RequestCases, OneOnOneCases):
    # ---- feedback ----

    def give_feedback(
        self,
        principal: Principal,
        *,
        recipient_id: str,
        kind: str,
        visibility: str,
        text: str,
        goal_id: UUID | None,
        values: Sequence[str],
    ) -> tuple[Feedback, Saved]:
        tenant = principal.tenant_id
        policy.require_writer(principal, self.directory, "give feedback")
        feedback = Feedback.give(
            tenant_id=tenant,
            giver_id=principal.subject,
            recipient_id=recipient_id,
            kind=kind,
            visibility=visibility,
            text=text,
            goal_id=goal_id,
            values=values,
            allowed_visibilities=self.settings_of(tenant)[1],
        )
        self.require_person(tenant, feedback.recipient_id, "recipient_id")
        self.require_goal(tenant, goal_id)
        return feedback, self.save_as(principal, tenant, feedback)

    def get_feedback(self, principal: Principal, feedback_id: UUID) -> SeenFeedback:
        return self.seen(
            principal, self.load(Feedback, principal.tenant_id, feedback_id, "feedback_id")
        )

    def seen(self, principal: Principal, feedback: Feedback) -> SeenFeedback:
        """The feedback as far as the caller may see it (NOT_FOUND when not at all)."""
        level = policy.require_visible(
            principal, self.directory, feedback.facts(), str(feedback.id)
        )
        return SeenFeedback(feedback, level)

    def list_feedback(
        self, principal: Principal, person_id: str, *, received: bool, offset: int, limit: int
    ) -> tuple[list[SeenFeedback], bool]:
        """A page of what the caller may see, newest first, and whether more may follow."""
        if self.index is None:
            raise RuntimeError("listing needs the feedback index")
        seen: list[SeenFeedback] = []
        position = offset
        while len(seen) < limit:
            ids = self.index.feedback_ids(
                principal.tenant_id,
                person_id or principal.subject,
                received=received,
                offset=position,
                limit=limit,
            )
            for feedback_id in ids:
                position += 1
                feedback = self.load(Feedback, principal.tenant_id, feedback_id, "feedback_id")
                level = policy.feedback_access(principal, self.directory, feedback.facts())
                if level is not Access.NONE:
                    seen.append(SeenFeedback(feedback, level))
                if len(seen) == limit:
                    return seen, True
            if len(ids) < limit:
                return seen, False
        return seen, True

    def narrow_visibility(
        self, principal: Principal, feedback_id: UUID, visibility: str, expected_version: int
    ) -> tuple[Feedback, Saved]:
        feedback = self.for_update(
            Feedback, principal.tenant_id, feedback_id, "feedback_id", expected_version
        )
        policy.require_visible(principal, self.directory, feedback.facts(), str(feedback_id))
        policy.require_giver(principal, feedback.facts())
        feedback.narrow_visibility(visibility, principal.subject)
        return feedback, self.save_as(principal, principal.tenant_id, feedback)

    def retract_feedback(
        self, principal: Principal, feedback_id: UUID, reason: str, expected_version: int
    ) -> tuple[Feedback, Saved]:
        feedback = self.for_update(
            Feedback, principal.tenant_id, feedback_id, "feedback_id", expected_version
        )
        policy.require_visible(principal, self.directory, feedback.facts(), str(feedback_id))
        policy.require_giver(principal, feedback.facts())
        feedback.retract(reason, principal.subject)
        return feedback, self.save_as(principal, principal.tenant_id, feedback)

    # ---- settings ----

    def settings_of(self, tenant_id: str) -> tuple[int, list[str], int]:
        """(anonymity threshold, allowed visibilities, version); version 0: the defaults."""
        try:
            settings = self.load(FeedbackSettings, tenant_id, settings_id(tenant_id), "tenant")
        except NotFound:
            return DEFAULT_SETTINGS[0], list(DEFAULT_SETTINGS[1]), 0
        return settings.anonymity_threshold, settings.allowed_visibilities, settings.version

    def get_settings(self, principal: Principal) -> tuple[int, list[str], int]:
        return self.settings_of(principal.tenant_id)

    def update_settings(
        self, principal: Principal, threshold: int, visibilities: Sequence[str]
    ) -> tuple[int, list[str], int]:
        policy.require_settings_admin(principal)
        tenant = principal.tenant_id
        current_threshold, current_visibilities, version = self.settings_of(tenant)
        new_threshold, new_visibilities = FeedbackSettings.validated(
            threshold or current_threshold, list(visibilities) or current_visibilities
        )
        if version == 0:
            settings = FeedbackSettings(
                tenant_id=tenant,
                anonymity_threshold=new_threshold,
                allowed_visibilities=new_visibilities,
                by=principal.subject,
            )
        else:
            settings = self.load(FeedbackSettings, tenant, settings_id(tenant), "tenant")
            settings.change(new_threshold, new_visibilities, principal.subject)
        self.save_as(principal, tenant, settings)
        return settings.anonymity_threshold, settings.allowed_visibilities, settings.version

    # ---- the scheduler's and the policies' commands (the service acts, not a person) ----

    def remind(self, tenant_id: str, request_id: UUID, reminder: str) -> bool:
        """Records a reminder once per kind. A named request names the reviewers who have not
        answered; an anonymous one names every reviewer, so it never tells who answered."""
        request = self.load(FeedbackRequest, tenant_id, request_id, "request_id")
        if request.anonymous:
            reviewers = request.reviewer_ids
        else:
            reviewers = [r for r in request.reviewer_ids if r not in request.named_answers]
        if not request.remind(reminder, reviewers):
            return False
        self.save_as(None, tenant_id, request)
        return True

    def flag_departure(
        self, tenant_id: str, request_id: UUID, person_id: str, leave_date: date
    ) -> bool:
        request = self.load(FeedbackRequest, tenant_id, request_id, "request_id")
        if not request.flag_departure(person_id, leave_date, "northstar/feedback"):
            return False
        self.save_as(None, tenant_id, request)
        return True
