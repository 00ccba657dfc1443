"""`make mutate` runs the tests its configuration names: when a test file moves between tiers,
the configuration must follow, or mutmut stops at its first pytest run ("file or directory not
found") and no mutant is tried."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tools.mutate import CONTRACTS_TESTS

ROOT = Path(__file__).resolve().parents[2]


def test_every_path_the_mutation_runs_name_exists() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    named = [
        *config["only_mutate"],
        *config["pytest_add_cli_args_test_selection"],
        *CONTRACTS_TESTS,
    ]

    missing = [path for path in named if not (ROOT / path).exists()]

    assert named
    assert missing == []
