"""The docs say how the system is: every RPC in the protos is named in docs/api.md, and every
service folder with an entry point is in the architecture's service table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROTOS = sorted((REPO / "proto").rglob("*.proto"))


def rpc_names() -> list[str]:
    names: list[str] = []
    for proto in PROTOS:
        names += re.findall(r"^\s*rpc\s+(\w+)\s*\(", proto.read_text(), flags=re.MULTILINE)
    return names


def test_there_are_protos_to_check() -> None:
    assert len(rpc_names()) > 10


@pytest.mark.parametrize("rpc", rpc_names())
def test_every_rpc_is_documented_in_the_api_page(rpc: str) -> None:
    assert f"`{rpc}`" in (REPO / "docs" / "api.md").read_text()


def test_every_service_is_in_the_architecture_table() -> None:
    architecture = (REPO / "docs" / "architecture.md").read_text()
    services = [p.parent.name for p in (REPO / "services").glob("*/__main__.py")]
    assert services
    for service in services:
        assert f"| {service} |" in architecture, service
