"""Calling the public gRPC APIs as the configured person: channels, stubs and bearer tokens."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from northstar.directory.v1 import directory_pb2_grpc
from northstar.feedback.v1 import feedback_pb2_grpc
from northstar.goals.v1 import goals_pb2_grpc
from northstar.kpi.v1 import kpi_pb2_grpc
from northstar.projections.v1 import projections_pb2_grpc
from northstar_cli.config import Config, Identity, NotLoggedIn
from services.shared.auth import DEFAULT_DEV_SECRET, DEV_SECRET_ENV, mint_dev_token

CALL_TIMEOUT_SECONDS = 30.0
DEV_TOKEN_TTL_SECONDS = 900

T = TypeVar("T")


def bearer_token(identity: Identity) -> str:
    if not identity.dev:
        return identity.token
    secret = identity.dev_secret or os.environ.get(DEV_SECRET_ENV) or DEFAULT_DEV_SECRET
    return mint_dev_token(
        secret,
        subject=identity.subject,
        tenant_id=identity.tenant,
        roles=identity.roles,
        ttl_seconds=DEV_TOKEN_TTL_SECONDS,
    )


class CallFailed(Exception):
    """A gRPC call failed; carries the service it was sent to and its address."""

    def __init__(self, error: grpc.RpcError, service: str, address: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.service = service
        self.address = address


@dataclass
class Session:
    """One command's connection to the services (sync gRPC: a command makes a few calls)."""

    config: Config

    def __post_init__(self) -> None:
        self._channels: dict[str, grpc.Channel] = {}
        self._metadata: tuple[tuple[str, str], ...] | None = None

    def metadata(self) -> tuple[tuple[str, str], ...]:
        if self._metadata is None:
            if self.config.identity is None:
                raise NotLoggedIn()
            token = bearer_token(self.config.identity)
            self._metadata = (("authorization", f"Bearer {token}"),)
        return self._metadata

    def channel(self, service: str) -> grpc.Channel:
        if service not in self._channels:
            self._channels[service] = grpc.insecure_channel(self.config.address_of(service))
        return self._channels[service]

    def call(self, service: str, method: Callable[..., T], request: Any) -> T:
        """Calls `method` (a bound stub method) with the caller's token; errors as CallFailed."""
        try:
            return method(request, metadata=self.metadata(), timeout=CALL_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            raise CallFailed(error, service, self.config.address_of(service)) from error

    def stream(self, service: str, method: Callable[..., Iterable[T]], request: Any) -> Iterator[T]:
        try:
            yield from method(request, metadata=self.metadata(), timeout=CALL_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            raise CallFailed(error, service, self.config.address_of(service)) from error

    def goals(self) -> goals_pb2_grpc.GoalServiceStub:
        return goals_pb2_grpc.GoalServiceStub(self.channel("goals"))

    def projections(self) -> projections_pb2_grpc.ProjectionServiceStub:
        return projections_pb2_grpc.ProjectionServiceStub(self.channel("projections"))

    def feedback(self) -> feedback_pb2_grpc.FeedbackServiceStub:
        return feedback_pb2_grpc.FeedbackServiceStub(self.channel("feedback"))

    def kpi(self) -> kpi_pb2_grpc.KpiServiceStub:
        return kpi_pb2_grpc.KpiServiceStub(self.channel("kpi"))

    def directory(self) -> directory_pb2_grpc.DirectoryServiceStub:
        return directory_pb2_grpc.DirectoryServiceStub(self.channel("directory"))

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()


@contextmanager
def session(config: Config) -> Iterator[Session]:
    opened = Session(config)
    try:
        yield opened
    finally:
        opened.close()
