"""`make mutate`: mutation testing (mutmut) of the rules whose tests must be able to fail.

Two runs, because mutmut names a mutant after its file's path from where it runs: the goal
rules, the goals fold and the audit chain from the repository root (config: pyproject.toml,
[tool.mutmut]); the progress maths of the published language from a staging folder where
`northstar_contracts` is a top-level package. Prints killed/survived counts per module and every
surviving mutant; `mutmut show <name>` (in the folder named) prints one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGING = ROOT / ".cache" / "mutate-contracts"
MUTMUT = Path(sys.executable).parent / "mutmut"
CONTRACTS_TESTS = ("tests/unit/test_progress.py", "tests/unit/test_progress_properties.py")
STAGED_CONFIG = f"""[tool.mutmut]
source_paths = ["northstar_contracts"]
only_mutate = ["northstar_contracts/progress.py"]
pytest_add_cli_args_test_selection = {list(CONTRACTS_TESTS)!r}
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]
""".replace("'", '"')


def stage_contracts() -> None:
    shutil.rmtree(STAGING, ignore_errors=True)
    shutil.copytree(ROOT / "contracts" / "northstar_contracts", STAGING / "northstar_contracts")
    (STAGING / "tests" / "unit").mkdir(parents=True)
    for init in ("tests/__init__.py", "tests/unit/__init__.py", *CONTRACTS_TESTS):
        shutil.copy(ROOT / init, STAGING / init)
    (STAGING / "pyproject.toml").write_text(STAGED_CONFIG)


def run(folder: Path) -> list[tuple[str, str]]:
    """(mutant, status) of every mutant of a mutmut run in `folder`."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([str(MUTMUT), "run"], cwd=folder, env=environment, check=True)
    listing = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"],
        cwd=folder,
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    results = []
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            results.append((name, status))
    return results


def module_of(mutant: str) -> str:
    return mutant.split(".x", 1)[0]


def main() -> int:
    stage_contracts()
    runs = {ROOT: run(ROOT), STAGING: run(STAGING)}
    print("\nmutation testing: killed / survived / not covered, per module")
    for folder, results in runs.items():
        counts = Counter((module_of(name), status) for name, status in results)
        for module in sorted({module for module, _ in counts}):
            killed, survived = counts[(module, "killed")], counts[(module, "survived")]
            uncovered = counts[(module, "no tests")]
            print(f"  {module}: {killed} killed, {survived} survived, {uncovered} not covered")
        survivors = [name for name, status in results if status == "survived"]
        if survivors:
            print(f"surviving mutants (`mutmut show NAME` in {folder.relative_to(ROOT) or '.'}):")
            for name in survivors:
                print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
