"""The compatibility gate: what a change to a published contract may and may not do.

Within one schema version a contract may only grow: a new optional field, a wider choice of
values. Removing, renaming or retyping a field, adding a required one, or changing a constraint
breaks the readers of that version; such a change must be published as a new schema version,
with an upcaster from the old one (registered with examples, which the gate runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from northstar_contracts.registry import ContractRegistry

Schema = Mapping[str, Any]
# Keywords that only document a field: they may change freely.
_DOCUMENTATION = {"description", "title", "examples", "default", "$id", "$schema"}
_CONSTRAINTS = (
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "format",
)


def breaking_changes(published: Schema, current: Schema) -> list[str]:
    """What `current` breaks for readers of `published` (both JSON Schemas of one version)."""
    return _compare(published, current, published.get("$defs", {}), current.get("$defs", {}), "")


def _resolve(schema: Schema, defs: Mapping[str, Any]) -> Schema:
    while "$ref" in schema:
        schema = defs[str(schema["$ref"]).rsplit("/", 1)[-1]]
    return schema


def _choices(schema: Schema) -> Schema:
    """A single allowed value (`const`) is a choice of one: compare it like an `enum`."""
    if "const" in schema and "enum" not in schema:
        return {**{k: v for k, v in schema.items() if k != "const"}, "enum": [schema["const"]]}
    return schema


def _compare(
    old: Schema, new: Schema, old_defs: Mapping[str, Any], new_defs: Mapping[str, Any], path: str
) -> list[str]:
    old, new = _choices(_resolve(old, old_defs)), _choices(_resolve(new, new_defs))
    where = path or "data"
    problems: list[str] = []
    if "anyOf" in old or "anyOf" in new:
        old_options, new_options = old.get("anyOf", [old]), new.get("anyOf", [new])
        if len(old_options) > len(new_options):
            return [f"{where}: fewer alternatives ({len(old_options)} -> {len(new_options)})"]
        for index, option in enumerate(old_options):
            problems += _compare(option, new_options[index], old_defs, new_defs, where)
        return problems
    if old.get("type") != new.get("type"):
        return [f"{where}: type changed from {old.get('type')} to {new.get('type')}"]
    for keyword in _CONSTRAINTS:
        if old.get(keyword) != new.get(keyword):
            problems.append(
                f"{where}: {keyword} changed from {old.get(keyword)!r} to {new.get(keyword)!r}"
            )
    if "enum" in old and not set(old["enum"]) <= set(new.get("enum", old["enum"])):
        removed = sorted(set(old["enum"]) - set(new.get("enum", [])))
        problems.append(f"{where}: values removed from the choice: {removed}")
    if "items" in old:
        problems += _compare(old["items"], new.get("items", {}), old_defs, new_defs, f"{where}[]")
    old_properties, new_properties = old.get("properties", {}), new.get("properties", {})
    for name, prop in old_properties.items():
        field = f"{path}.{name}" if path else name
        if name not in new_properties:
            problems.append(f"{field}: removed (or renamed)")
        else:
            problems += _compare(prop, new_properties[name], old_defs, new_defs, field)
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        field = f"{path}.{name}" if path else name
        problems.append(f"{field}: newly required")
    return problems


def gate(registry: ContractRegistry, published: Mapping[tuple[str, int], Schema]) -> list[str]:
    """Every violation of the rules above, comparing the registry with the published schemas
    (keyed by (type, version)). An empty list lets the change through."""
    problems: list[str] = []
    for (type_name, version), schema in sorted(published.items()):
        key = f"{type_name} v{version}"
        contract = registry.contracts.get((type_name, version))
        if contract is None:
            problems.append(f"{key}: published, but no model is registered for it any more")
            continue
        for change in breaking_changes(schema, contract.model.model_json_schema()):
            problems.append(
                f"{key}: {change}; publish it as v{version + 1} with an upcaster instead"
            )
    for type_name, version in sorted(registry.contracts):
        if version < registry.current_version(type_name):
            problems += _check_upcaster(registry, type_name, version)
        if version > 1 and (type_name, version - 1) not in registry.contracts:
            problems.append(f"{type_name} v{version}: v{version - 1} is not registered")
    return problems


def _check_upcaster(registry: ContractRegistry, type_name: str, version: int) -> list[str]:
    upcaster = registry.upcasters.get((type_name, version))
    key = f"{type_name} v{version} -> v{version + 1}"
    if upcaster is None:
        return [f"{key}: no upcaster is registered"]
    old_model = registry.contracts[(type_name, version)].model
    new_model = registry.contracts[(type_name, version + 1)].model
    problems = []
    for number, (old_data, expected) in enumerate(upcaster.examples, start=1):
        try:
            old_model.model_validate(old_data, extra="forbid")
            new_model.model_validate(expected, extra="forbid")
        except ValidationError as error:
            problems.append(f"{key}: example {number} does not fit its model: {error}")
            continue
        if upcaster.upcast(dict(old_data)) != expected:
            problems.append(f"{key}: example {number} does not upcast to what it expects")
    return problems
