"""The Feedback aggregate (praise, constructive feedback, notes to self) and the tenant's
FeedbackSettings. Commands validate first and only then record their event, so a refused
command records nothing. Who may do what is the application's business (authorization.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.feedback.event_clock import ClockedEvent
from services.feedback.rules import (
    DEFAULT_ANONYMITY_THRESHOLD,
    KINDS,
    NOTE_TO_SELF,
    AlreadyRetracted,
    VisibilityWidened,
    require_choice,
    require_id,
    require_text,
    require_threshold,
    require_values,
)
from services.shared.errors import InvalidArgument
from services.shared.feedback_visibility import (
    GIVER_CHOICES,
    GIVER_ONLY,
    FeedbackFacts,
    is_narrowing,
)

_SETTINGS_NAMESPACE = uuid.UUID("0b6f3f3e-4c1e-5d8a-9a57-5f0f2b1d7c11")


class Feedback(Aggregate):
    class Event(ClockedEvent):
        pass

    class Given(Event, Aggregate.Created):
        tenant_id: str
        giver_id: str
        recipient_id: str
        kind: str
        visibility: str
        text: str
        goal_id: UUID | None
        values: list[str]

    class VisibilityNarrowed(Event):
        visibility: str
        previous_visibility: str
        by: str

    class Retracted(Event):
        reason: str
        by: str

    @classmethod
    def give(
        cls,
        *,
        tenant_id: str,
        giver_id: str,
        recipient_id: str,
        kind: str,
        visibility: str,
        text: str,
        goal_id: UUID | None,
        values: Sequence[str],
        allowed_visibilities: Sequence[str] = GIVER_CHOICES,
    ) -> Feedback:
        """New feedback, validated: never to oneself; a note to self is giver-only, anything
        else takes one of the tenant's allowed visibilities."""
        require_choice(kind, KINDS, "kind")
        recipient_id = require_id(recipient_id, "recipient_id")
        if recipient_id == giver_id:
            raise InvalidArgument(
                "feedback is for someone else, not yourself", field="recipient_id"
            )
        if kind == NOTE_TO_SELF:
            if visibility not in ("", GIVER_ONLY):
                raise InvalidArgument(
                    "a note to self is read by its giver only", field="visibility"
                )
            visibility = GIVER_ONLY
        elif not visibility:
            raise InvalidArgument("is required", field="visibility")
        elif visibility not in allowed_visibilities:
            allowed = ", ".join(allowed_visibilities)
            raise InvalidArgument(
                f"{visibility!r} is not allowed here (allowed: {allowed})", field="visibility"
            )
        return cls(
            tenant_id=tenant_id,
            giver_id=giver_id,
            recipient_id=recipient_id,
            kind=kind,
            visibility=visibility,
            text=require_text(text, "text"),
            goal_id=goal_id,
            values=require_values(values),
        )

    @event(Given)
    def __init__(
        self,
        tenant_id: str,
        giver_id: str,
        recipient_id: str,
        kind: str,
        visibility: str,
        text: str,
        goal_id: UUID | None,
        values: list[str],
    ) -> None:
        self.tenant_id = tenant_id
        self.giver_id = giver_id
        self.recipient_id = recipient_id
        self.kind = kind
        self.visibility = visibility
        self._text = text
        self.goal_id = goal_id
        self.values = list(values)
        self.retracted = False

    @property
    def text(self) -> str:
        """The text, or '' once retracted (the event keeps it; nothing reads it back)."""
        return "" if self.retracted else self._text

    def facts(self) -> FeedbackFacts:
        return FeedbackFacts(
            self.tenant_id, self.giver_id, self.recipient_id, self.visibility, self.retracted
        )

    def narrow_visibility(self, visibility: str, by: str) -> None:
        require_choice(visibility, GIVER_CHOICES, "visibility")
        if self.retracted:
            raise AlreadyRetracted("the feedback was retracted", field="feedback_id")
        if not is_narrowing(self.visibility, visibility):
            raise VisibilityWidened(
                f"{visibility} would not let fewer people read it than {self.visibility}; "
                "visibility can only be narrowed",
                field="visibility",
            )
        self._narrowed(visibility=visibility, previous_visibility=self.visibility, by=by)

    @event(VisibilityNarrowed)
    def _narrowed(self, visibility: str, previous_visibility: str, by: str) -> None:
        self.visibility = visibility

    def retract(self, reason: str, by: str) -> None:
        if self.retracted:
            raise AlreadyRetracted("the feedback was retracted already", field="feedback_id")
        if reason:
            require_text(reason, "reason")
        self._retracted(reason=reason, by=by)

    @event(Retracted)
    def _retracted(self, reason: str, by: str) -> None:
        self.retracted = True


def settings_id(tenant_id: str) -> UUID:
    """One settings aggregate per tenant, found without an index."""
    return uuid.uuid5(_SETTINGS_NAMESPACE, tenant_id)


class FeedbackSettings(Aggregate):
    """A tenant's anonymity threshold and the visibilities its givers may choose."""

    class Event(ClockedEvent):
        pass

    class Created(Event, Aggregate.Created):
        tenant_id: str
        anonymity_threshold: int
        allowed_visibilities: list[str]
        by: str

    class Changed(Event):
        anonymity_threshold: int
        allowed_visibilities: list[str]
        by: str

    @classmethod
    def create_id(cls, tenant_id: str) -> UUID:
        return settings_id(tenant_id)

    @event(Created)
    def __init__(
        self, tenant_id: str, anonymity_threshold: int, allowed_visibilities: list[str], by: str
    ) -> None:
        self.tenant_id = tenant_id
        self.anonymity_threshold = anonymity_threshold
        self.allowed_visibilities = list(allowed_visibilities)

    @staticmethod
    def validated(threshold: int, visibilities: Sequence[str]) -> tuple[int, list[str]]:
        require_threshold(threshold)
        if not visibilities:
            raise InvalidArgument(
                "must allow at least one visibility", field="allowed_visibilities"
            )
        cleaned: list[str] = []
        for position, visibility in enumerate(visibilities):
            field = f"allowed_visibilities[{position}]"
            require_choice(visibility, GIVER_CHOICES, field)
            if visibility in cleaned:
                raise InvalidArgument(f"{visibility} is listed twice", field=field)
            cleaned.append(visibility)
        return threshold, cleaned

    def change(self, threshold: int, visibilities: Sequence[str], by: str) -> None:
        threshold, cleaned = self.validated(threshold, visibilities)
        self._changed(anonymity_threshold=threshold, allowed_visibilities=cleaned, by=by)

    @event(Changed)
    def _changed(self, anonymity_threshold: int, allowed_visibilities: list[str], by: str) -> None:
        self.anonymity_threshold = anonymity_threshold
        self.allowed_visibilities = list(allowed_visibilities)


DEFAULT_SETTINGS = (DEFAULT_ANONYMITY_THRESHOLD, list(GIVER_CHOICES))
