"""Every public event type, by (type name, schema version), and the upcasters between versions.

Producers validate strictly (`outbound_data`: unknown fields are refused); readers are tolerant
(`read_data`: unknown fields are ignored, older versions are upcast to the current one). A
breaking change to a contract is a new schema version with an upcaster from the old one, never
an edit in place: tests/unit/test_contract_compatibility.py enforces it against the committed
schemas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from northstar_contracts.envelope import EventEnvelope
from northstar_contracts.errors import ContractViolation, UnknownContract

PERSONAL_DATA = "x-personal-data"
"""JSON Schema marker of a field that holds personal data (to be erased on request)."""


class EventContract(BaseModel):
    """Base of every event's `data`. Tolerant by default: a reader ignores fields it lacks."""

    model_config = ConfigDict(frozen=True, extra="ignore")


def PersonalData(description: str, **constraints: Any) -> Any:  # noqa: N802 (reads like Field)
    """A field holding personal data: marked in the JSON Schema, so erasure can find it."""
    return Field(description=description, json_schema_extra={PERSONAL_DATA: True}, **constraints)


Upcast = Callable[[dict[str, Any]], dict[str, Any]]
Contract = TypeVar("Contract", bound=type[EventContract])


@dataclass(frozen=True)
class RegisteredContract:
    type_name: str
    version: int
    model: type[EventContract]
    topic: str
    aggregate_type: str
    summary: str


@dataclass(frozen=True)
class Upcaster:
    """Turns the data of (type_name, from_version) into the data of from_version + 1.

    `examples` are (old data, expected new data) pairs: the compatibility test runs every one.
    """

    type_name: str
    from_version: int
    upcast: Upcast
    examples: tuple[tuple[dict[str, Any], dict[str, Any]], ...]


@dataclass
class ContractRegistry:
    contracts: dict[tuple[str, int], RegisteredContract] = field(default_factory=dict)
    upcasters: dict[tuple[str, int], Upcaster] = field(default_factory=dict)
    _latest_of: tuple[int, dict[str, int]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def register(
        self, type_name: str, *, version: int, topic: str, aggregate_type: str
    ) -> Callable[[Contract], Contract]:
        """Class decorator: `model` is the data of `type_name` at schema `version`."""

        def decorate(model: Contract) -> Contract:
            key = (type_name, version)
            if key in self.contracts:
                raise ValueError(f"{type_name} v{version} is registered twice")
            summary = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
            self.contracts[key] = RegisteredContract(
                type_name, version, model, topic, aggregate_type, summary
            )
            self._latest_of = None
            return model

        return decorate

    def register_upcaster(
        self,
        type_name: str,
        from_version: int,
        upcast: Upcast,
        examples: tuple[tuple[dict[str, Any], dict[str, Any]], ...],
    ) -> None:
        if not examples:
            raise ValueError("an upcaster needs at least one example to be tested with")
        self.upcasters[(type_name, from_version)] = Upcaster(
            type_name, from_version, upcast, examples
        )

    def current_version(self, type_name: str) -> int:
        # Asked for every event a read model applies: an index by type, made again whenever
        # the contracts changed (registered, or a test adding one), not a scan of them all.
        if self._latest_of is None or self._latest_of[0] != len(self.contracts):
            latest: dict[str, int] = {}
            for name, version in self.contracts:
                latest[name] = max(version, latest.get(name, version))
            self._latest_of = (len(self.contracts), latest)
        current = self._latest_of[1].get(type_name)
        if current is None:
            raise UnknownContract(f"unknown event type {type_name!r}")
        return current

    def current(self, type_name: str) -> RegisteredContract:
        return self.contracts[(type_name, self.current_version(type_name))]

    def current_contracts(self) -> Iterator[RegisteredContract]:
        """The current version of every event type, sorted by topic then type name."""
        names = sorted({(c.topic, c.type_name) for c in self.contracts.values()})
        for _, type_name in names:
            yield self.current(type_name)

    def on_topic(self, topic: str) -> list[RegisteredContract]:
        return [c for c in self.current_contracts() if c.topic == topic]

    def outbound_data(
        self, type_name: str, fields: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """The schema version and JSON-ready data of a new event, validated strictly."""
        contract = self.current(type_name)
        try:
            data = contract.model.model_validate(dict(fields), extra="forbid")
        except ValidationError as error:
            raise _violation(error, f"{type_name} v{contract.version}") from error
        return contract.version, data.model_dump(mode="json")

    def outbound_data_of(self, type_name: str, source: object) -> tuple[int, dict[str, Any]]:
        """`outbound_data` from the attributes of `source` (e.g. a domain event) that the
        contract names: anything else the object carries stays private."""
        names = self.current(type_name).model.model_fields
        return self.outbound_data(type_name, {name: getattr(source, name) for name in names})

    def read(self, envelope: EventEnvelope) -> EventContract:
        """The typed data of a received envelope (see `read_data`)."""
        return self.read_data(envelope.type, envelope.schema_version, envelope.data)

    def read_data(self, type_name: str, version: int, data: Mapping[str, Any]) -> EventContract:
        """The typed data of a received event, upcast to the current version; unknown fields
        are ignored. UnknownContract for a type or a (newer) version this release lacks."""
        current = self.current_version(type_name)
        if (type_name, version) not in self.contracts or version > current:
            raise UnknownContract(f"unknown schema version {version} of {type_name}")
        upgraded = dict(data)
        for step in range(version, current):
            upgraded = self.upcasters[(type_name, step)].upcast(upgraded)
        model = self.contracts[(type_name, current)].model
        try:
            return model.model_validate(upgraded)
        except ValidationError as error:
            raise _violation(error, f"{type_name} v{current}") from error


def _violation(error: ValidationError, what: str) -> ContractViolation:
    first = error.errors(include_url=False)[0]
    location = ".".join(str(part) for part in first["loc"])
    where = f"data.{location}" if location else "data"
    return ContractViolation(f"{first['msg']} (in {what})", field=where)


EVENTS = ContractRegistry()
"""The registry every module of this package registers its events in."""
