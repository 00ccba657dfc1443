"""The question template RPCs of the feedback API: define, list, retire; commands once per
client request id."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from northstar.feedback.v1 import feedback_pb2 as pb
from services.feedback.protobuf_mapping import question_inputs, template_message
from services.feedback.rpc_base import (
    CommandRpcs,
    Context,
    T,
    expected_version,
    in_thread,
    page_offset,
)
from services.feedback.template_cases import TemplateResult
from services.feedback.templates import QuestionTemplate
from services.shared.auth import current_principal
from services.shared.validation import page_size, parse_uuid


def _template_response(respond: Callable[..., T], result: TemplateResult) -> T:
    template, saved = result
    return respond(template=template_message(template), position_token=saved.position_token)


class TemplateRpcs(CommandRpcs):
    async def DefineQuestionTemplate(  # noqa: N802 (gRPC method names)
        self, request: pb.DefineQuestionTemplateRequest, context: Context
    ) -> pb.DefineQuestionTemplateResponse:
        principal = current_principal()
        questions = question_inputs(request.questions)
        respond = pb.DefineQuestionTemplateResponse

        def define() -> pb.DefineQuestionTemplateResponse:
            result = self.app.define_template(principal, request.name, questions)
            return _template_response(respond, result)

        def again(result: Mapping[str, Any]) -> pb.DefineQuestionTemplateResponse:
            return _template_response(
                respond, self.app.recorded(QuestionTemplate, principal, result)
            )

        return await self._once(principal, request, define, again)

    async def ListQuestionTemplates(  # noqa: N802
        self, request: pb.ListQuestionTemplatesRequest, context: Context
    ) -> pb.ListQuestionTemplatesResponse:
        principal = current_principal()
        limit, offset = page_size(request.page_size), page_offset(request.page_token)
        templates, more = await in_thread(
            lambda: self.app.list_templates(
                principal, include_retired=request.include_retired, offset=offset, limit=limit
            )
        )
        return pb.ListQuestionTemplatesResponse(
            templates=[template_message(t) for t in templates],
            next_page_token=str(offset + len(templates)) if more else "",
        )

    async def RetireQuestionTemplate(  # noqa: N802
        self, request: pb.RetireQuestionTemplateRequest, context: Context
    ) -> pb.RetireQuestionTemplateResponse:
        principal = current_principal()
        template_id = parse_uuid(request.template_id, "template_id")
        version = expected_version(request.expected_version)
        respond = pb.RetireQuestionTemplateResponse

        def retire() -> pb.RetireQuestionTemplateResponse:
            return _template_response(
                respond, self.app.retire_template(principal, template_id, version)
            )

        def again(result: Mapping[str, Any]) -> pb.RetireQuestionTemplateResponse:
            return _template_response(
                respond, self.app.recorded(QuestionTemplate, principal, result)
            )

        return await self._once(principal, request, retire, again)
