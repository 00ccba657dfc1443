"""The grpcurl requests the docs show are valid requests of the RPC they call (enum names
included), so a reader can paste them as they are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2

from northstar.directory.v1 import directory_pb2
from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2

DOCS = Path(__file__).resolve().parents[2] / "docs"
# grpcurl ... -d '<json>' <address> <package.Service>/<Method>, over one or more lines.
GRPCURL = re.compile(r"grpcurl\b[^']*?-d '(?P<json>[^']*)'\s+\S+\s+(?P<method>[\w.]+/\w+)")
LOADED = (directory_pb2, goals_pb2, projections_pb2, health_pb2)  # registers their descriptors


def examples() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text().replace("\\\n", " ")
        for match in GRPCURL.finditer(text):
            found.append((path.name, match["method"], match["json"]))
    return found


def test_the_docs_show_requests_with_bodies() -> None:
    methods = {method for _, method, _ in examples()}
    assert "northstar.goals.v1.GoalService/CreateGoal" in methods


@pytest.mark.parametrize(
    ("page", "method", "body"),
    [pytest.param(*example, id=f"{example[0]}:{example[1]}") for example in examples()],
)
def test_each_shown_request_parses_as_its_rpcs_request(page: str, method: str, body: str) -> None:
    service_name, method_name = method.split("/")
    service = descriptor_pool.Default().FindServiceByName(service_name)
    request_type = service.methods_by_name[method_name].input_type
    request = message_factory.GetMessageClass(request_type)()
    json_format.Parse(body, request)  # raises on an unknown field or enum name
