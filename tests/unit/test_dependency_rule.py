"""The dependency rule is enforced, not just written down: `make lint` runs import-linter with
the contracts in pyproject.toml, and a new cross-service import makes it fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def import_contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def service_packages() -> set[str]:
    return {
        f"services.{path.name}"
        for path in (ROOT / "services").iterdir()
        if (path / "__init__.py").is_file() and path.name != "shared"
    }


def test_every_service_is_covered_by_the_import_contracts() -> None:
    contracts = import_contracts()
    assert set(contracts["services-independent"]["modules"]) == service_packages()
    shared_kit = contracts["shared-kit-imports-no-service"]
    assert set(shared_kit["forbidden_modules"]) == service_packages()


def lint_copy(tmp_path: Path, edits: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """lint-imports over a copy of the tree with `edits` (path -> appended line) applied."""
    for package in ("services", "northstar_cli", "webapp"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copytree(
        ROOT / "contracts" / "northstar_contracts",
        tmp_path / "contracts" / "northstar_contracts",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for relative, line in edits.items():
        with (tmp_path / relative).open("a") as module:
            module.write(f"\n{line}\n")
    environment = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{tmp_path / 'contracts'}"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", "pyproject.toml", "--no-cache"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_as_it_is_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_copy(tmp_path, {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        (
            "services/projections/api.py",
            "import services.goals.goal",
            "Services import no other service",
        ),
        (
            "services/shared/relay.py",
            "from services.goals import publishing",
            "The shared kit imports no service",
        ),
        (
            "contracts/northstar_contracts/goals.py",
            "import services.shared.errors",
            "The published language",
        ),
        (
            "contracts/northstar_contracts/envelope.py",
            "import eventsourcing",
            "The published language",
        ),
        (
            "webapp/pages.py",
            "from services.projections import alignment_views",
            "The console command and the web pages",
        ),
        (
            "northstar_cli/client.py",
            "import sqlite3",
            "The console command and the web pages",
        ),
        (
            "services/goals/api_queries.py",
            "from services.goals import authorization",
            "The goals servicer applies no authorisation policy itself",
        ),
    ],
)
def test_a_forbidden_import_fails_the_lint(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    result = lint_copy(tmp_path, {module: f"{line}  # noqa"})
    assert result.returncode != 0
    assert f"{broken}" in result.stdout
    assert "BROKEN" in result.stdout
