"""Who may see a feedback, and how much: the one rule the feedback service and the projections
both apply (pure: facts in, access out), so a query never shows more in one than in the other.

Access is FULL (text included), METADATA (who, whom, when, kind, visibility, values, goal; never
the text) or NONE (the feedback does not exist for the caller). The matrix (docs/feedback.md):

| viewer                 | public | private | private+manager | manager only | giver only |
|------------------------|--------|---------|-----------------|--------------|------------|
| giver                  | full   | full    | full            | full         | full       |
| recipient              | full   | full    | full            | none         | none       |
| recipient's manager    | full   | none    | full            | full         | none       |
| skip-level, peer       | full   | none    | none            | none         | none       |
| HR admin, integration  | full   | meta    | meta            | meta         | meta       |
| auditor                | meta   | meta    | meta            | meta         | meta       |

HR admins, integration accounts and auditors read the audit history, which holds every
feedback's metadata and never a text: that is why they see metadata of everything, and only
public text (auditors not even that). "Recipient's manager" is their line manager now (the
directory replica), not the one at the time of giving. Retracted feedback is METADATA at most
for everyone. Other tenants see NONE.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

AUDITOR = "auditor"
HR_ADMIN = "hr_admin"
INTEGRATION = "integration"

PUBLIC = "public"
PRIVATE = "private"
PRIVATE_WITH_MANAGER = "private_with_manager"
MANAGER_ONLY = "manager_only"
GIVER_ONLY = "giver_only"
GIVER_CHOICES = (PUBLIC, PRIVATE, PRIVATE_WITH_MANAGER, MANAGER_ONLY)
"""What a giver may choose for praise and constructive feedback (tenants may allow fewer)."""
VISIBILITIES = (*GIVER_CHOICES, GIVER_ONLY)
HISTORY_READERS = frozenset({AUDITOR, HR_ADMIN, INTEGRATION})

_RECIPIENT, _MANAGER, _EVERYONE = "recipient", "manager", "everyone"
# Who, besides the giver, reads the text under each visibility.
AUDIENCE: dict[str, frozenset[str]] = {
    PUBLIC: frozenset({_EVERYONE, _RECIPIENT, _MANAGER}),
    PRIVATE: frozenset({_RECIPIENT}),
    PRIVATE_WITH_MANAGER: frozenset({_RECIPIENT, _MANAGER}),
    MANAGER_ONLY: frozenset({_MANAGER}),
    GIVER_ONLY: frozenset(),
}


class Access(StrEnum):
    NONE = "none"
    METADATA = "metadata"
    FULL = "full"


@dataclass(frozen=True)
class FeedbackFacts:
    tenant_id: str
    giver_id: str
    recipient_id: str
    visibility: str
    retracted: bool = False


@dataclass(frozen=True)
class Viewer:
    """The caller, and whether they are the recipient's line manager (from the directory)."""

    tenant_id: str
    subject: str
    roles: frozenset[str]
    manages_recipient: bool = False


def access(viewer: Viewer, feedback: FeedbackFacts) -> Access:
    if viewer.tenant_id != feedback.tenant_id:
        return Access.NONE
    level = _access_to_live_feedback(viewer, feedback)
    if feedback.retracted and level is Access.FULL:
        return Access.METADATA  # the history stays; the text is hidden from everyone
    return level


def _access_to_live_feedback(viewer: Viewer, feedback: FeedbackFacts) -> Access:
    if viewer.subject == feedback.giver_id:
        return Access.FULL
    audience = AUDIENCE[feedback.visibility]
    if _EVERYONE in audience and AUDITOR not in viewer.roles:
        return Access.FULL
    if viewer.subject == feedback.recipient_id and _RECIPIENT in audience:
        return Access.FULL
    if viewer.manages_recipient and _MANAGER in audience:
        return Access.FULL
    if viewer.roles & HISTORY_READERS:
        return Access.METADATA  # what their audit history shows anyway
    return Access.NONE


def is_narrowing(current: str, new: str) -> bool:
    """True when `new` lets strictly fewer people read the text than `current` does."""
    return AUDIENCE[new] < AUDIENCE[current]
