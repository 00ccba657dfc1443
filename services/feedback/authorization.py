"""Who may do what with feedback, requests and 1:1s: the feedback service's one policy.

- Nobody writes across tenants; another tenant's ids answer exactly like missing ones.
- Employees, managers and HR admins give feedback, ask for it and answer; auditors and
  integration accounts never write. Someone the directory records as departed writes nothing.
- Reading a feedback follows services.shared.feedback_visibility (the matrix in
  docs/feedback.md); what the caller may not see is NOT_FOUND.
- Only the giver narrows a feedback's visibility or retracts it.
- A request is about the caller, or about someone below them in the reporting lines (HR admins:
  anyone). Its requester, subject and reviewers see the request (never an answer); auditors and
  HR admins see it too. Only the requester (or an HR admin) closes it early. Results are for the
  subject and the requester, once it is closed.
- A 1:1 is scheduled by the report's line manager (or an HR admin); only its two participants
  see it or change it, and each reads only their own private notes. Listing shows a caller the
  series they manage or report in; HR admins list every series of the tenant, but only its
  schedule (who, cadence, meetings held and missed), never its agenda, action items or notes.
- Everyone in the tenant reads the feedback settings and lists the question templates; HR
  admins change the settings and define and retire templates.
"""

from __future__ import annotations

from services.feedback.one_on_ones import OneOnOne
from services.feedback.requests import FeedbackRequest
from services.shared.auth import AUDITOR, EMPLOYEE, HR_ADMIN, MANAGER, Principal
from services.shared.directory_replica import DirectoryReplica
from services.shared.errors import NotFound, PermissionDenied
from services.shared.feedback_visibility import Access, FeedbackFacts, Viewer, access

WRITERS = frozenset({EMPLOYEE, MANAGER, HR_ADMIN})


def require_writer(principal: Principal, directory: DirectoryReplica, action: str) -> None:
    if not principal.roles & WRITERS:
        raise PermissionDenied(f"role(s) {sorted(principal.roles)} may not {action}")
    caller = directory.person(principal.tenant_id, principal.subject)
    if caller is None or caller.has_departed:
        raise PermissionDenied(f"{principal.subject} is not a current member of the directory")


def viewer_of(principal: Principal, directory: DirectoryReplica, recipient_id: str) -> Viewer:
    recipient = directory.person(principal.tenant_id, recipient_id)
    manages = recipient is not None and recipient.manager_id == principal.subject
    return Viewer(principal.tenant_id, principal.subject, principal.roles, manages)


def feedback_access(
    principal: Principal, directory: DirectoryReplica, facts: FeedbackFacts
) -> Access:
    return access(viewer_of(principal, directory, facts.recipient_id), facts)


def require_visible(
    principal: Principal, directory: DirectoryReplica, facts: FeedbackFacts, feedback_id: str
) -> Access:
    level = feedback_access(principal, directory, facts)
    if level is Access.NONE:
        raise NotFound(f"feedback {feedback_id} not found", field="feedback_id")
    return level


def require_giver(principal: Principal, facts: FeedbackFacts) -> None:
    if principal.subject != facts.giver_id:
        raise PermissionDenied("only the giver may change this feedback", field="feedback_id")


def require_can_request_about(
    principal: Principal, directory: DirectoryReplica, subject_id: str
) -> None:
    require_writer(principal, directory, "ask for feedback")
    if subject_id == principal.subject or principal.has_role(HR_ADMIN):
        return
    if not directory.is_in_management_chain(principal.tenant_id, principal.subject, subject_id):
        raise PermissionDenied(
            "you may ask for feedback about yourself or people who report to you",
            field="subject_id",
        )


def require_can_see_request(principal: Principal, request: FeedbackRequest) -> None:
    involved = {request.requester_id, request.subject_id, *request.reviewer_ids}
    if principal.subject in involved or principal.has_role(HR_ADMIN, AUDITOR):
        return
    raise NotFound(f"feedback request {request.id} not found", field="request_id")


def require_can_close(principal: Principal, request: FeedbackRequest) -> None:
    require_can_see_request(principal, request)
    if principal.subject != request.requester_id and not principal.has_role(HR_ADMIN):
        raise PermissionDenied("only the requester closes a request early", field="request_id")


def require_can_read_results(principal: Principal, request: FeedbackRequest) -> None:
    require_can_see_request(principal, request)
    if principal.subject not in (request.subject_id, request.requester_id):
        raise PermissionDenied("results are for the subject and the requester", field="request_id")


def require_can_schedule(
    principal: Principal, directory: DirectoryReplica, manager_id: str
) -> None:
    require_writer(principal, directory, "schedule 1:1s")
    if manager_id != principal.subject and not principal.has_role(HR_ADMIN):
        raise PermissionDenied("you schedule your own 1:1s", field="manager_id")


def require_participant(principal: Principal, one_on_one: OneOnOne) -> None:
    if principal.subject not in one_on_one.participants():
        raise NotFound(f"1:1 {one_on_one.id} not found", field="one_on_one_id")


def one_on_ones_listed_for(principal: Principal) -> str:
    """The participant a caller's list of 1:1s is narrowed to: the caller, or "" (every
    series of the tenant) for HR admins."""
    return "" if principal.has_role(HR_ADMIN) else principal.subject


def shares_one_on_one(principal: Principal, one_on_one: OneOnOne) -> bool:
    """Whether the caller reads the series' shared agenda and action items."""
    return principal.subject in one_on_one.participants()


def require_template_admin(principal: Principal) -> None:
    if not principal.has_role(HR_ADMIN):
        raise PermissionDenied("question templates are defined and retired by HR admins")


def require_settings_admin(principal: Principal) -> None:
    if not principal.has_role(HR_ADMIN):
        raise PermissionDenied("feedback settings are changed by HR admins")
