"""`make buf-breaking` (part of `make lint`) refuses a commit that breaks the gRPC API and lets
a compatible one through; it is run here on copies of proto/ in throw-away git repositories."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOAL_FIELD = "  bool recurring = 27;\n"
"""A field of goals.v1.Goal that the tests remove, or add a sibling to."""
MAKE = ("make", "--no-print-directory", "-f", str(ROOT / "Makefile"))


def buf_binary() -> Path:
    version = re.search(r"^BUF_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert version is not None, "the Makefile pins BUF_VERSION"
    path = ROOT / ".cache" / "buf" / version.group(1) / "buf"
    assert path.exists(), f"{path} is missing: `make buf` builds it (`make lint` does too)"
    return path


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose one commit holds today's proto/."""
    shutil.copytree(ROOT / "proto", tmp_path / "proto")
    git(tmp_path, "init", "--quiet", "--initial-branch=main")
    git(tmp_path, "config", "user.email", "ci@northstar.example")
    git(tmp_path, "config", "user.name", "CI")
    commit(tmp_path, "the API as it is")
    return tmp_path


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", message)


def change_goals_proto(repo: Path, old: str, new: str) -> None:
    path = repo / "proto" / "northstar" / "goals" / "v1" / "goals.proto"
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))


def buf_breaking(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAKE, f"BUF={buf_binary()}", "buf-breaking"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_removed_field_fails_the_check(repo: Path) -> None:
    change_goals_proto(repo, GOAL_FIELD, "")
    commit(repo, "drop Goal.recurring")
    result = buf_breaking(repo)
    assert result.returncode != 0, result.stdout
    assert 'Previously present field "27" with name "recurring"' in result.stdout


def test_a_field_changed_from_string_to_enum_fails_the_check(repo: Path) -> None:
    change_goals_proto(repo, "  string template_id = 28;\n", "  GoalLevel template_id = 28;\n")
    commit(repo, "retype Goal.template_id")
    result = buf_breaking(repo)
    assert result.returncode != 0, result.stdout
    assert 'changed type from "string" to "enum"' in result.stdout


def test_an_added_field_passes_the_check(repo: Path) -> None:
    change_goals_proto(repo, GOAL_FIELD, GOAL_FIELD + "  // Notes.\n  string notes = 99;\n")
    commit(repo, "add Goal.notes")
    result = buf_breaking(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "buf breaking proto --against" in result.stdout


def test_without_a_previous_commit_the_check_says_it_is_skipped(repo: Path) -> None:
    result = buf_breaking(repo)
    assert result.returncode == 0, result.stderr
    assert "buf breaking: skipped, no previous commit with proto/" in result.stdout
