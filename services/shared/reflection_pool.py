"""The descriptor pool server reflection reads, able to find the file of a method.

protobuf's default pool (the upb backend of protobuf 5 and later) finds the file of a service,
message, field or enum value by its full name, but not of a method: asked for
"northstar.goals.v1.GoalService.GetGoal" it raises KeyError, so `grpcurl describe` of any
single method answered "Symbol not found". The reflection protocol names methods that way, so
this pool answers a method's symbol with the file of the service that declares it.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FileDescriptor


class MethodAwarePool:
    """Delegates to a descriptor pool; only the lookup of a file by a method's name is added."""

    def __init__(self, pool: descriptor_pool.DescriptorPool | None = None) -> None:
        self._pool = pool if pool is not None else descriptor_pool.Default()

    def FindFileContainingSymbol(self, symbol: str) -> FileDescriptor:  # noqa: N802 (pool API)
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            service_name, _, method_name = symbol.rpartition(".")
            try:
                service = self._pool.FindServiceByName(service_name)
            except KeyError:
                service = None
            if service is None or method_name not in service.methods_by_name:
                raise
            return service.file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)
