"""A person's feedback page: what they received and gave (as far as the visitor may see it: the
feedback service's visibility matrix decides, the page only asks), their recognition feed and
their 1:1 activity (the projections' feedback activity view, under the same rule)."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from northstar.directory.v1 import directory_pb2
from northstar.feedback.v1 import feedback_pb2
from northstar.projections.v1 import projections_pb2
from webapp.backend import Backend
from webapp.render import render
from webapp.session import Visitor, csrf_token

PERSON_ID = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")
PAGE_SIZE = 200  # the newest; the page says when there are more


def kind_word(kind: feedback_pb2.FeedbackKind.ValueType) -> str:
    return feedback_pb2.FeedbackKind.Name(kind).removeprefix("FEEDBACK_KIND_").lower()


def visibility_word(visibility: feedback_pb2.FeedbackVisibility.ValueType) -> str:
    name = feedback_pb2.FeedbackVisibility.Name(visibility).removeprefix("FEEDBACK_VISIBILITY_")
    return name.lower().replace("_", " ")


async def _listed(
    backend: Backend,
    visitor: Visitor,
    person_id: str,
    direction: feedback_pb2.FeedbackDirection.ValueType,
) -> tuple[list[feedback_pb2.Feedback], bool, str]:
    answer = await backend.call(
        "feedback",
        backend.feedback.ListFeedback,
        feedback_pb2.ListFeedbackRequest(
            person_id=person_id, direction=direction, page_size=PAGE_SIZE
        ),
        visitor,
    )
    if answer.value is None:
        return [], False, answer.error.sentence() if answer.error else ""
    return list(answer.value.feedback), bool(answer.value.next_page_token), ""


async def feedback_page(request: web.Request, backend: Backend, visitor: Visitor) -> web.Response:
    person_id = request.match_info["person_id"]
    if not PERSON_ID.match(person_id):
        raise web.HTTPNotFound(text="No such person.")
    known, received, given, activity = await asyncio.gather(
        backend.call(
            "directory",
            backend.directory.GetPerson,
            directory_pb2.GetPersonRequest(person_id=person_id),
            visitor,
        ),
        _listed(backend, visitor, person_id, feedback_pb2.FEEDBACK_DIRECTION_RECEIVED),
        _listed(backend, visitor, person_id, feedback_pb2.FEEDBACK_DIRECTION_GIVEN),
        backend.call(
            "projections",
            backend.projections.GetFeedbackActivity,
            projections_pb2.GetFeedbackActivityRequest(person_id=person_id),
            visitor,
        ),
    )
    if known.error is not None and known.error.code == "NOT_FOUND":
        # Feedback reads answer an unknown person with an empty page; the directory knows.
        raise web.HTTPNotFound(text="No such person.")
    people = list(activity.value.people) if activity.value else []
    return render(
        request,
        "feedback.html",
        visitor=visitor,
        person_id=person_id,
        received=received,
        given=given,
        activity=people[0] if people else None,
        recognition=list(activity.value.recognition_feed) if activity.value else [],
        activity_error=activity.error,
        kind_word=kind_word,
        visibility_word=visibility_word,
        csrf=csrf_token(request),
    )
