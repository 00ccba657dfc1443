"""A failed gRPC call said in plain words: which service, what went wrong, which field.

The servers put a google.rpc.Status in the `grpc-status-details-bin` trailer (docs/api.md,
"Errors"): BadRequest for invalid fields, PreconditionFailure for refused state changes and
ErrorInfo with the reason. Both the console command and the web pages explain errors here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

# Exit codes of the console command: bad arguments or input the server refused as invalid
# are the caller's to fix (2, as for a usage error); anything else is a failure (1).
EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1

_PLAIN_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: "the request is not valid",
    grpc.StatusCode.NOT_FOUND: "not found (or not visible to you)",
    grpc.StatusCode.FAILED_PRECONDITION: "not possible in the current state",
    grpc.StatusCode.ABORTED: "someone else changed it at the same time; read it again and retry",
    grpc.StatusCode.UNAUTHENTICATED: "you are not logged in, or your token is not accepted",
    grpc.StatusCode.PERMISSION_DENIED: "you are not allowed to do that",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the service did not answer in time",
    grpc.StatusCode.UNAVAILABLE: "the service cannot be reached",
    grpc.StatusCode.INTERNAL: "the service failed; its log has the details",
}


@dataclass(frozen=True)
class Explained:
    """What a person needs to know about a failed call."""

    service: str
    code: str
    summary: str
    message: str
    field: str
    reason: str
    exit_code: int

    def sentence(self) -> str:
        where = f" (field `{self.field}`)" if self.field else ""
        detail = self.message
        if self.field and detail.startswith(f"{self.field}: "):
            detail = detail[len(self.field) + 2 :]
        text = f"{self.service}: {self.summary}{where}"
        return f"{text}: {detail}" if detail and detail != self.summary else text

    def to_json(self) -> dict[str, Any]:
        return {
            "error": {
                "service": self.service,
                "code": self.code,
                "summary": self.summary,
                "message": self.message,
                "field": self.field,
                "reason": self.reason,
            }
        }


def explain(error: grpc.RpcError, service: str, address: str = "") -> Explained:
    """Reads the code, message and google.rpc details of a failed call (sync or asyncio)."""
    call = cast(grpc.Call, error)
    code = call.code()
    message = call.details() or ""
    field, reason = "", ""
    try:
        status = rpc_status.from_call(call)
    except ValueError:  # a trailer that disagrees with the call's own status: ignore it
        status = None
    for packed in status.details if status is not None else ():
        if packed.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            packed.Unpack(bad_request)
            for violation in bad_request.field_violations[:1]:
                field = field or violation.field
        elif packed.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            packed.Unpack(failure)
            for precondition in failure.violations[:1]:
                field = field or precondition.subject
        elif packed.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            packed.Unpack(info)
            reason = info.reason
            field = field or info.metadata.get("field", "")
    summary = _PLAIN_CODES.get(code, code.name.lower().replace("_", " "))
    if code == grpc.StatusCode.UNAVAILABLE:
        at = f" at {address}" if address else ""
        summary = f"the {service} service cannot be reached{at}; is `make run` running?"
        message = ""
    exit_code = EXIT_BAD_INPUT if code == grpc.StatusCode.INVALID_ARGUMENT else EXIT_FAILURE
    return Explained(service, code.name, summary, message, field, reason, exit_code)
