"""Every enum of the gRPC APIs has an UNSPECIFIED zero value and exactly one server mapping
table that covers all its other values; the tables translate requests strictly."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, cast, get_args

import pytest
from google.protobuf.descriptor import Descriptor, EnumDescriptor

import northstar
from northstar.goals.v1 import goals_pb2
from northstar_contracts import directory as directory_contracts
from northstar_contracts import goals as goals_contracts
from northstar_contracts import progress
from services.directory import domain as directory_domain
from services.directory import protobuf_mapping as directory_mapping
from services.goals import protobuf_mapping as goals_mapping
from services.goals import rules
from services.projections import protobuf_mapping as projections_mapping
from services.projections.__main__ import read_model_kinds
from services.shared.errors import InvalidArgument
from services.shared.proto_enums import EnumTable
from services.shared.readmodel import ReadModelDatabase
from services.shared.settings import ServiceSettings

SERVICES = Path(__file__).resolve().parents[2] / "services"


def generated_modules() -> Iterator[ModuleType]:
    for info in pkgutil.walk_packages(northstar.__path__, prefix="northstar."):
        if info.name.endswith("_pb2"):
            yield importlib.import_module(info.name)


def _nested(message: Descriptor) -> Iterator[EnumDescriptor]:
    yield from message.enum_types
    for inner in message.nested_types:
        yield from _nested(inner)


def api_enums() -> list[EnumDescriptor]:
    found = []
    for module in generated_modules():
        file = module.DESCRIPTOR
        found.extend(file.enum_types_by_name.values())
        for message in file.message_types_by_name.values():
            found.extend(_nested(message))
    return sorted(found, key=lambda enum: enum.full_name)


def mapping_tables() -> dict[str, list[EnumTable[Any, Any]]]:
    """Every EnumTable of every service's services/*/protobuf_mapping.py."""
    tables: dict[str, list[EnumTable[Any, Any]]] = {}
    for path in sorted(SERVICES.glob("*/protobuf_mapping.py")):
        module = importlib.import_module(f"services.{path.parent.name}.protobuf_mapping")
        for value in vars(module).values():
            if isinstance(value, EnumTable):
                tables.setdefault(value.enum.full_name, []).append(value)
    return tables


def upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def test_the_apis_have_enums_at_all() -> None:
    names = {enum.full_name for enum in api_enums()}
    assert {"northstar.goals.v1.MetricKind", "northstar.directory.v1.EmploymentStatus"} <= names


@pytest.mark.parametrize("enum", api_enums(), ids=lambda enum: enum.full_name)
def test_every_enum_starts_with_an_unspecified_zero_and_prefixes_its_values(
    enum: EnumDescriptor,
) -> None:
    prefix = upper_snake(enum.name)
    assert enum.values_by_number[0].name == f"{prefix}_UNSPECIFIED"
    assert all(value.name.startswith(prefix + "_") for value in enum.values)


@pytest.mark.parametrize("enum", api_enums(), ids=lambda enum: enum.full_name)
def test_every_enum_value_but_unspecified_has_one_mapping_in_one_table(
    enum: EnumDescriptor,
) -> None:
    tables = mapping_tables().get(enum.full_name, [])
    assert len(tables) == 1, f"{enum.full_name} needs exactly one EnumTable, has {len(tables)}"
    defined = {value.number for value in enum.values if value.number != 0}
    missing = sorted(enum.values_by_number[n].name for n in defined - tables[0].mapped_numbers)
    assert not missing, f"{enum.full_name} values without a server mapping: {missing}"


@pytest.mark.parametrize(
    ("table", "domain_values"),
    [
        (goals_mapping.METRIC_KINDS, progress.METRIC_KINDS),
        (goals_mapping.METRIC_KINDS, get_args(goals_contracts.MetricKind)),
        (goals_mapping.METRIC_DIRECTIONS, progress.DIRECTIONS),
        (goals_mapping.METRIC_DIRECTIONS, get_args(goals_contracts.Direction)),
        (goals_mapping.GOAL_LEVELS, rules.LEVELS),
        (goals_mapping.GOAL_LEVELS, get_args(goals_contracts.Level)),
        (goals_mapping.GOAL_VISIBILITIES, rules.VISIBILITIES),
        (goals_mapping.GOAL_VISIBILITIES, get_args(goals_contracts.Visibility)),
        (goals_mapping.GOAL_LIFECYCLES, rules.LIFECYCLES),
        (goals_mapping.GOAL_STATUSES, progress.STATUSES),
        (goals_mapping.SMART_LETTERS, tuple("SMART")),
        (projections_mapping.GOAL_LEVELS, get_args(goals_contracts.Level)),
        (projections_mapping.GOAL_STATUSES, progress.STATUSES),
        (directory_mapping.EMPLOYMENT_STATUSES, directory_domain.EMPLOYMENT_STATUSES),
        (directory_mapping.EMPLOYMENT_STATUSES, get_args(directory_contracts.Status)),
    ],
    ids=lambda item: item.enum.full_name if isinstance(item, EnumTable) else "",
)
def test_each_table_covers_exactly_the_domains_closed_set(
    table: EnumTable[Any, Any], domain_values: tuple[str, ...]
) -> None:
    """A value the domain or the event contracts add without an API value (or the reverse)
    fails here: the events' strings and the API's enums name the same closed sets."""
    assert table.domain_values == frozenset(domain_values)


def test_read_models_are_exactly_those_the_projections_service_runs() -> None:
    # The stores are only named here, never opened: building the kinds touches nothing.
    kinds = read_model_kinds(cast(ReadModelDatabase, None), ServiceSettings(), cast(Any, None))
    assert projections_mapping.READ_MODELS.domain_values == {kind.name for kind in kinds}


def test_an_unset_value_takes_the_default_or_is_required_naming_the_field() -> None:
    assert goals_mapping.GOAL_LEVELS.from_request(0, "level") == "personal"
    with pytest.raises(InvalidArgument) as caught:
        goals_mapping.METRIC_KINDS.from_request(0, "metric.kind")
    assert caught.value.field == "metric.kind"
    assert caught.value.reason == (
        "is required: one of METRIC_KIND_NUMBER, METRIC_KIND_PERCENTAGE, METRIC_KIND_CURRENCY, "
        "METRIC_KIND_BINARY"
    )


def test_a_number_the_enum_does_not_define_is_invalid_naming_the_field() -> None:
    for table in (goals_mapping.GOAL_LEVELS, goals_mapping.METRIC_KINDS):
        with pytest.raises(InvalidArgument) as caught:
            table.from_request(99, "template.level")
        assert caught.value.field == "template.level"
        assert caught.value.reason.startswith(f"99 is not a value of {table.enum.name}; one of ")


def test_values_translate_both_ways() -> None:
    table = goals_mapping.GOAL_STATUSES
    assert table.to_proto("at_risk") == goals_pb2.GOAL_STATUS_AT_RISK
    assert table.from_request(goals_pb2.GOAL_STATUS_AT_RISK, "status") == "at_risk"
    assert table.name_of("off_track") == "GOAL_STATUS_OFF_TRACK"
    with pytest.raises(ValueError, match=r"has no northstar\.goals\.v1\.GoalStatus value"):
        table.to_proto("done")


def test_a_table_refuses_numbers_its_enum_lacks_and_two_values_for_one() -> None:
    kind = goals_pb2.MetricKind
    with pytest.raises(ValueError, match="has no value"):
        EnumTable(kind.DESCRIPTOR, {kind.ValueType(42): "number"})
    with pytest.raises(ValueError, match="two enum values map to one domain value"):
        EnumTable(
            kind.DESCRIPTOR,
            {goals_pb2.METRIC_KIND_NUMBER: "number", goals_pb2.METRIC_KIND_BINARY: "number"},
        )
    with pytest.raises(ValueError, match="default"):
        EnumTable(kind.DESCRIPTOR, {goals_pb2.METRIC_KIND_NUMBER: "number"}, default="binary")
