"""`northstar parked ...` against the running system: a real parked event (an unknown event
type on the goals topic) listed, retried and skipped by a platform operator; the error paths."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from tests.builders import envelope
from tests.fault.conftest import as_records, new_id, publish_raw
from tests.people.conftest import DemoSystem
from tests.people.test_cli import logged_in, run_cli

pytestmark = [pytest.mark.kafka]


@pytest.fixture
def operator(demo_system: DemoSystem, tmp_path: Path) -> Path:
    path = tmp_path / "operator.json"
    done = run_cli(
        path, "login", "--dev", "--as", "ops.oncall", "--role", "platform_operator",
        "--base-port", str(demo_system.base_port),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return path


def parked_of(config: Path, aggregate: str) -> list[dict[str, object]]:
    listed = run_cli(config, "parked", "list", "goals", "--aggregate", aggregate, "--json")
    assert listed.returncode == 0, listed.stderr
    events: list[dict[str, object]] = json.loads(listed.stdout)["events"]
    return events


def test_an_operator_lists_retries_and_skips_a_parked_event(
    demo_system: DemoSystem, operator: Path
) -> None:
    goal_id = new_id()
    # A type this release does not know, at a new goal's first version: parked, never folded.
    poison = envelope(goal_id, 1, ("goals.GoalCheered", {"by": "someone"}))
    asyncio.run(
        publish_raw(demo_system.kafka_bootstrap_servers, "northstar.goals.v1", as_records([poison]))
    )
    deadline = time.monotonic() + 60
    while not (events := parked_of(operator, goal_id)):  # each poll is a whole CLI run
        assert time.monotonic() < deadline, "the unknown event type was not parked in 60 s"
    assert [(e["event_id"], e["state"], e["kind"]) for e in events] == [
        (poison.id, "parked", "unknown type")
    ]
    shown = run_cli(operator, "parked", "list", "goals")
    assert shown.returncode == 0, shown.stderr
    assert goal_id in shown.stdout
    assert "goals.GoalCheered" in shown.stdout

    retried = run_cli(operator, "parked", "retry", "goals", goal_id, "--json")
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["still_parked"] == 1  # the release still does not know it

    skipped = run_cli(
        operator, "parked", "skip", "goals", goal_id, poison.id, "--reason", "test poison"
    )
    assert skipped.returncode == 0, skipped.stderr
    assert "1 skipped; 0 still parked" in skipped.stdout
    assert parked_of(operator, goal_id) == []


def test_bad_input_exits_2_and_refusals_exit_1_in_plain_words(
    demo_system: DemoSystem, operator: Path, tmp_path: Path
) -> None:
    empty = run_cli(operator, "parked", "list", "kpi")
    assert empty.returncode == 0, empty.stderr
    assert "Nothing held or parked in the kpi read model." in empty.stdout

    unknown_model = run_cli(operator, "parked", "list", "salaries")
    assert unknown_model.returncode == 2
    assert "'salaries' is not one of" in unknown_model.stderr

    no_reason = run_cli(operator, "parked", "skip", "goals", new_id(), new_id())
    assert no_reason.returncode == 2
    assert "--reason is required" in no_reason.stderr.replace("'", "")

    # Refused by the server as invalid: exit 2, the field named.
    bell = run_cli(operator, "parked", "skip", "goals", new_id(), new_id(), "-r", "a\x07b",
                   "--json")  # fmt: skip
    assert bell.returncode == 2, bell.stderr
    assert json.loads(bell.stderr)["error"]["field"] == "reason"

    nothing = run_cli(operator, "parked", "retry", "goals", new_id())
    assert nothing.returncode == 1
    assert "projections: not found (or not visible to you) (field `aggregate_id`)" in nothing.stderr

    manager = logged_in(demo_system, tmp_path, "lena.fischer", "manager")
    refused = run_cli(manager, "parked", "retry", "goals", new_id())
    assert refused.returncode == 1
    assert "projections: you are not allowed to do that" in refused.stderr
    assert "Traceback" not in refused.stderr + no_reason.stderr + unknown_model.stderr

    mixed = run_cli(manager, "login", "--dev", "--as", "x", "--role", "platform_operator",
                    "--role", "hr_admin")  # fmt: skip
    assert mixed.returncode == 2
    assert "is not combined with other roles" in mixed.stderr
