"""The gRPC bootstrap every service shares: one grpc.aio server with health, reflection,
authentication, request metrics and the one mapping from Northstar errors to status codes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, cast

import grpc
from eventsourcing.persistence import RecordConflictError
from google.protobuf import any_pb2
from google.protobuf.descriptor_pool import DescriptorPool
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer as AsyncHealthServicer
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status as standard_rpc_status

from northstar_contracts.errors import ContractViolation
from services.shared import errors
from services.shared.auth import Authenticator, set_current_principal
from services.shared.metrics import ServiceMetrics
from services.shared.reflection_pool import MethodAwarePool

if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.aio.ServerInterceptor

logger = logging.getLogger(__name__)

STATUS_DETAILS_KEY = "grpc-status-details-bin"
ERROR_DOMAIN = "northstar"
# Standard infrastructure RPCs (probes, grpcurl) answer without a token.
_OPEN_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

# The one mapping from error classes to status codes; subclasses inherit their base's code.
STATUS_CODE_BY_ERROR: dict[type[errors.NorthstarError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ConcurrentUpdate: grpc.StatusCode.ABORTED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}

ServicerRegistration = tuple[Callable[[Any, grpc.aio.Server], None], Any]


@dataclass(frozen=True)
class RunningServer:
    """A started server: its bound port, its health servicer, and how to stop it."""

    server: grpc.aio.Server
    port: int
    health: Any  # grpc_health's asyncio HealthServicer (untyped upstream)

    async def stop(self, grace: float | None = None) -> None:
        """Reports NOT_SERVING, then stops, letting in-flight RPCs finish within `grace` s."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)

    async def wait_for_termination(self) -> None:
        """Returns when the server has stopped."""
        await self.server.wait_for_termination()


async def start_grpc_server(
    *,
    service_name: str,
    servicers: Sequence[ServicerRegistration],
    service_full_names: Sequence[str],
    host: str,
    port: int,
    metrics: ServiceMetrics,
    authenticator: Authenticator | None,
    platform_methods: frozenset[str] = frozenset(),
) -> RunningServer:
    """Builds, binds and starts the server; `port` 0 picks a free port (see `.port`).

    `servicers` pairs each generated `add_XServicer_to_server` with its servicer instance;
    `service_full_names` (e.g. "northstar.goals.v1.GoalService") are reported SERVING and
    listed by reflection. With `authenticator` None, calls run without a principal.
    `platform_methods` (full names, "/pkg.Service/Method") are the only ones a platform
    operator may call: every other method serves tenant data and refuses them.
    """
    server = grpc.aio.server(
        interceptors=[ServingInterceptor(metrics, authenticator, platform_methods)]
    )
    for add_to_server, servicer in servicers:
        add_to_server(servicer, server)
    health_servicer = AsyncHealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*service_full_names, health.SERVICE_NAME, reflection.SERVICE_NAME],
        server,
        # The library only calls the pool's lookups, which MethodAwarePool forwards.
        pool=cast(DescriptorPool, MethodAwarePool()),
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound_port = server.add_insecure_port(address)
    if bound_port == 0:
        raise RuntimeError(f"{service_name}: could not bind gRPC to {address}")
    await server.start()
    for name in ("", *service_full_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    logger.info("%s serving gRPC on %s:%d", service_name, host, bound_port)
    return RunningServer(server=server, port=bound_port, health=health_servicer)


class ServingInterceptor(_ServerInterceptor):
    """Per RPC: authenticates the caller, maps raised errors to statuses, records metrics.

    Servicer methods are grpc.aio ones: coroutines, or async generators for streamed responses.
    """

    def __init__(
        self,
        metrics: ServiceMetrics,
        authenticator: Authenticator | None,
        platform_methods: frozenset[str] = frozenset(),
    ) -> None:
        self._metrics = metrics
        self._authenticator = authenticator
        self._platform_methods = platform_methods

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:  # unknown method: gRPC answers UNIMPLEMENTED itself
            return None
        method = handler_call_details.method
        for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
            behavior = getattr(handler, kind)
            if behavior is not None:
                make_handler = getattr(grpc, f"{kind}_rpc_method_handler")
                deserializer = handler.request_deserializer
                if kind.startswith("unary_") and deserializer is not None:
                    deserializer = _tolerant(deserializer)
                return make_handler(
                    self._wrap(method, behavior),
                    request_deserializer=deserializer,
                    response_serializer=handler.response_serializer,
                )
        return handler

    def _wrap(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(behavior):

            async def streaming(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                started, code = time.perf_counter(), grpc.StatusCode.OK
                try:
                    await self._authenticate(method, context)
                    _require_decoded(request)
                    async for response in behavior(request, context):
                        yield response
                    code = _code_set_by_servicer(context)
                except BaseException as error:
                    code = _code_for(error, context)
                    await _abort(method, error, code, context)
                finally:
                    self._observe(method, code, started)

            return streaming

        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started, code = time.perf_counter(), grpc.StatusCode.OK
            try:
                await self._authenticate(method, context)
                _require_decoded(request)
                result = behavior(request, context)
                if inspect.isawaitable(result):
                    result = await result
                code = _code_set_by_servicer(context)
                return result
            except BaseException as error:
                code = _code_for(error, context)
                await _abort(method, error, code, context)
            finally:
                self._observe(method, code, started)

        return call

    async def _authenticate(self, method: str, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if self._authenticator is None or method.startswith(_OPEN_METHOD_PREFIXES):
            return
        metadata = cast(Iterable[tuple[str, str | bytes]], context.invocation_metadata() or ())
        authenticate = self._authenticator.authenticate_metadata
        if self._authenticator.fetches_keys_remotely:
            # A key-set fetch blocks on the network: never on the loop serving every RPC.
            principal = await asyncio.to_thread(authenticate, metadata)
        else:
            principal = authenticate(metadata)
        if principal.is_platform_operator and method not in self._platform_methods:
            raise errors.PermissionDenied(
                f"{method} serves tenant data, which a platform operator may not read"
            )
        # Each RPC runs in its own task, hence its own contextvars copy: nothing to reset.
        set_current_principal(principal)

    def _observe(self, method: str, code: grpc.StatusCode, started: float) -> None:
        self._metrics.grpc_requests_total.labels(method=method, code=code.name).inc()
        self._metrics.grpc_request_duration_seconds.labels(method=method).observe(
            time.perf_counter() - started
        )


@dataclass(frozen=True)
class UndecodableRequest:
    """Stands in for a request whose bytes did not decode, so the RPC can answer
    INVALID_ARGUMENT through the one error path (grpcio itself answers UNKNOWN, naming the
    Python exception class)."""

    message_name: str


def _tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    # Generated stubs pass the message class's bound `FromString`.
    message_class = getattr(deserializer, "__self__", None)
    descriptor = getattr(message_class, "DESCRIPTOR", None)
    message_name = str(getattr(descriptor, "full_name", "the request message"))

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:  # DecodeError, and anything else a parser may raise on bad bytes
            return UndecodableRequest(message_name)

    return deserialize


def _require_decoded(request: Any) -> None:
    if isinstance(request, UndecodableRequest):
        raise errors.InvalidArgument(
            f"the request bytes are not a valid {request.message_name} message"
        )


def _code_set_by_servicer(context: grpc.aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
    code = context.code()
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.OK


def _code_for(error: BaseException, context: grpc.aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
    if isinstance(error, grpc.aio.AbortError):  # the servicer aborted with its own status
        return _code_set_by_servicer(context)
    if isinstance(error, asyncio.CancelledError | GeneratorExit):  # caller went away
        return grpc.StatusCode.CANCELLED
    if isinstance(error, errors.NorthstarError):
        return status_code_for(error)
    if isinstance(error, ContractViolation):  # the progress rules refuse a number
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(error, RecordConflictError):
        return grpc.StatusCode.ABORTED
    return grpc.StatusCode.INTERNAL


async def _abort(
    method: str,
    error: BaseException,
    code: grpc.StatusCode,
    context: grpc.aio.ServicerContext[Any, Any],
) -> NoReturn:
    if isinstance(error, grpc.aio.AbortError | asyncio.CancelledError) or not isinstance(
        error, Exception
    ):
        raise error
    if isinstance(error, errors.NorthstarError):
        status = status_for(error)
    elif isinstance(error, ContractViolation):
        status = status_for(errors.InvalidArgument(error.reason, field=error.field))
    elif isinstance(error, RecordConflictError):
        status = status_for(errors.ConcurrentUpdate("changed concurrently; reload and retry"))
    else:
        # Internals (stack, SQL, paths) stay in the log; the caller gets a reference to quote.
        reference = uuid.uuid4().hex[:12]
        logger.exception("unhandled error in %s (reference %s)", method, reference)
        status = status_pb2.Status(code=code.value[0], message=f"internal error ({reference})")
    await context.abort(
        code, status.message, trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),)
    )


def status_code_for(error: errors.NorthstarError) -> grpc.StatusCode:
    """The status code of an error class (the nearest mapped base class decides)."""
    for cls in type(error).__mro__:
        if cls in STATUS_CODE_BY_ERROR:
            return STATUS_CODE_BY_ERROR[cls]
    return grpc.StatusCode.INTERNAL


def status_for(error: errors.NorthstarError) -> status_pb2.Status:
    """The google.rpc.Status of an error, with its google.rpc typed details."""
    code = status_code_for(error)  # grpc.StatusCode numbers are the google.rpc.Code numbers
    message = f"{error.field}: {error.reason}" if error.field else error.reason
    status = status_pb2.Status(code=code.value[0], message=message)
    if isinstance(error, errors.InvalidArgument):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=error.reason
        )
        status.details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    elif isinstance(error, errors.FailedPrecondition):
        failure = error_details_pb2.PreconditionFailure.Violation(
            type="STATE", subject=error.field, description=error.reason
        )
        status.details.append(_pack(error_details_pb2.PreconditionFailure(violations=[failure])))
    metadata = {"description": error.reason} | ({"field": error.field} if error.field else {})
    info = error_details_pb2.ErrorInfo(
        reason=_upper_snake(type(error).__name__), domain=ERROR_DOMAIN, metadata=metadata
    )
    status.details.append(_pack(info))
    return status


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type URL "type.googleapis.com/google.rpc.<Name>"
    return packed


def _upper_snake(class_name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", class_name).upper()


def rpc_status(err: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """The google.rpc.Status a failed call carried in its trailers, if any.

    Decoded by grpcio-status, which raises ValueError when the trailer's code or message
    disagrees with the call's own status.
    """
    # AioRpcError answers code(), details() and trailing_metadata() as grpc.Call does.
    status: status_pb2.Status | None = standard_rpc_status.from_call(cast(grpc.Call, err))
    return status


def error_details(err: grpc.aio.AioRpcError) -> dict[str, str]:
    """Field path -> description from a failed call's details ('' for errors without a field)."""
    status = rpc_status(err)
    details: dict[str, str] = {}
    for packed in status.details if status is not None else ():
        if packed.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            packed.Unpack(bad_request)
            for violation in bad_request.field_violations:
                details[violation.field] = violation.description
        elif packed.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            packed.Unpack(failure)
            for precondition in failure.violations:
                details[precondition.subject] = precondition.description
        elif packed.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = _error_info(packed)
            if "description" in info.metadata:
                details.setdefault(info.metadata.get("field", ""), info.metadata["description"])
    return details


def error_reason(err: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason of a failed call (e.g. "ALIGNMENT_CYCLE"), or '' when absent."""
    status = rpc_status(err)
    for packed in status.details if status is not None else ():
        if packed.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            reason: str = _error_info(packed).reason
            return reason
    return ""


def _error_info(packed: any_pb2.Any) -> error_details_pb2.ErrorInfo:
    info = error_details_pb2.ErrorInfo()
    packed.Unpack(info)
    return info
