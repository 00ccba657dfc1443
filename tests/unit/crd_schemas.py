"""JSON Schema validators from CustomResourceDefinitions, as strict as the API server's field
validation: a field the CRD does not declare is an error, unless the CRD keeps unknown fields
there (x-kubernetes-preserve-unknown-fields)."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

Schema = dict[str, Any]


def strict(schema: Schema) -> Schema:
    """The openAPIV3Schema with unknown fields refused and Kubernetes' int-or-string honoured."""
    schema = copy.deepcopy(schema)
    _tighten(schema)
    return schema


def _tighten(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _tighten(item)
        return
    if not isinstance(node, dict):
        return
    if node.pop("x-kubernetes-int-or-string", False):
        node.pop("type", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        node.get("type") == "object"
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    for value in node.values():
        _tighten(value)


def crd_validator(crd: Schema, api_version: str) -> jsonschema.protocols.Validator:
    """A validator for objects of `api_version` (group/version) of the CRD's kind."""
    group, _, version = api_version.partition("/")
    assert crd["spec"]["group"] == group, f"{api_version} is not served by {crd['metadata']}"
    served = {v["name"]: v for v in crd["spec"]["versions"] if v.get("served")}
    assert version in served, f"{api_version}: the CRD serves {sorted(served)}"
    schema = strict(served[version]["schema"]["openAPIV3Schema"])
    # The API server itself checks metadata (a name, labels as strings); the CRD only says object.
    schema.setdefault("properties", {})["metadata"] = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "additionalProperties": False,
    }
    validator_class = jsonschema.validators.validator_for(schema, jsonschema.Draft7Validator)
    validator: jsonschema.protocols.Validator = validator_class(schema)
    return validator
