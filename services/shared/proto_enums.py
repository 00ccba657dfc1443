"""One table per protobuf enum of the gRPC APIs: enum value <-> domain value, both ways.

The APIs carry closed sets as enums while the domain and the event contracts keep their own
values (mostly strings such as "on_track"), so each enum is translated in exactly one table.
Requests are strict: proto3 enums are open, so a client may send a number the enum does not
define (e.g. 99), and the `*_UNSPECIFIED` zero value means "not set"; both answer
INVALID_ARGUMENT naming the field, unless the table has a documented default for "not set".
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

from google.protobuf.descriptor import EnumDescriptor

from services.shared.errors import InvalidArgument

P = TypeVar("P", bound=int)
V = TypeVar("V", bound=Hashable)


class EnumTable(Generic[P, V]):
    """The mapping between one protobuf enum (numbers of type P) and domain values (V).

    `values` maps every enum value except the zero value to its domain value, one to one;
    `default` is the domain value a request gets when it leaves the field unset.
    """

    def __init__(
        self, enum: EnumDescriptor, values: Mapping[P, V], *, default: V | None = None
    ) -> None:
        defined = {value.number for value in enum.values if value.number != 0}
        strangers = set(values) - defined
        if strangers:
            raise ValueError(f"{enum.full_name} has no value(s) {sorted(strangers)}")
        self.enum = enum
        self._values: dict[int, V] = {int(number): value for number, value in values.items()}
        self._numbers: dict[V, P] = {value: number for number, value in values.items()}
        if len(self._numbers) != len(self._values):
            raise ValueError(f"{enum.full_name}: two enum values map to one domain value")
        if default is not None and default not in self._numbers:
            raise ValueError(f"{enum.full_name}: default {default!r} is not in the table")
        self.default = default

    @property
    def mapped_numbers(self) -> frozenset[int]:
        return frozenset(self._values)

    @property
    def domain_values(self) -> frozenset[V]:
        return frozenset(self._numbers)

    def accepted_names(self) -> str:
        """The enum value names a request may send, in enum order (for error messages)."""
        return ", ".join(v.name for v in self.enum.values if v.number in self._values)

    def name_of(self, value: V) -> str:
        """The enum value name of a domain value, e.g. "GOAL_STATUS_ON_TRACK"."""
        return self.enum.values_by_number[self.to_proto(value)].name

    def from_request(self, number: int, field: str) -> V:
        """The domain value a request's enum field names, or its default when unset."""
        if number == 0:
            if self.default is not None:
                return self.default
            raise InvalidArgument(f"is required: one of {self.accepted_names()}", field=field)
        try:
            return self._values[number]
        except KeyError:
            raise InvalidArgument(
                f"{number} is not a value of {self.enum.name}; one of {self.accepted_names()}",
                field=field,
            ) from None

    def to_proto(self, value: V) -> P:
        """The enum value of a domain value; a value without one is a server bug."""
        try:
            return self._numbers[value]
        except KeyError:
            raise ValueError(f"{value!r} has no {self.enum.full_name} value") from None
