"""`northstar feedback ...` and `northstar 1on1 ...` against the running demo system: what each
person sees is what the feedback service lets them see; bad input exits 2 in plain words."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.people.conftest import DemoSystem
from tests.people.test_cli import logged_in, run_cli

pytestmark = [pytest.mark.kafka]


def as_json(config: Path, *args: str) -> Any:
    done = run_cli(config, *args, "--json")
    assert done.returncode == 0, f"{args}: {done.stderr}"
    return json.loads(done.stdout)


def test_feedback_is_given_and_listed_as_far_as_each_person_may_see_it(
    demo_system: DemoSystem, tmp_path: Path
) -> None:
    lena = logged_in(demo_system, tmp_path, "lena.fischer", "manager")
    tom = logged_in(demo_system, tmp_path, "tom.becker", "employee")
    mei = logged_in(demo_system, tmp_path, "mei.lin", "employee")
    praise = as_json(lena, "feedback", "give", "tom.becker", "The gateway cut-over was flawless",
                     "--goal", "Move 12 services", "--value", "Ownership",
                     "--value", "Craft")  # fmt: skip
    given = praise["feedback"]
    assert given["kind"] == "FEEDBACK_KIND_PRAISE"
    assert given["visibility"] == "FEEDBACK_VISIBILITY_PUBLIC"
    assert given["values"] == ["Ownership", "Craft"]
    assert given["goal_id"]
    private = as_json(lena, "feedback", "give", "aisha.khan", "Page less at night, delegate more",
                      "--kind", "constructive", "--visibility", "private")["feedback"]  # fmt: skip
    note = as_json(lena, "feedback", "give", "aisha.khan", "Ask about the on-call load",
                   "--kind", "note-to-self")["feedback"]  # fmt: skip
    assert note["visibility"] == "FEEDBACK_VISIBILITY_GIVER_ONLY"

    received = as_json(tom, "feedback", "list")["feedback"]
    assert given["feedback_id"] in {item["feedback_id"] for item in received}
    table = run_cli(tom, "feedback", "list")
    assert "The gateway cut-over was flawless" in table.stdout
    # A peer sees neither the private feedback nor the note to self about a colleague.
    seen_by_mei = as_json(mei, "feedback", "list", "--person", "aisha.khan")["feedback"]
    aishas = {item["feedback_id"] for item in seen_by_mei}
    assert private["feedback_id"] not in aishas
    assert note["feedback_id"] not in aishas
    lenas = {
        item["feedback_id"] for item in as_json(lena, "feedback", "list", "--given")["feedback"]
    }
    assert {given["feedback_id"], private["feedback_id"], note["feedback_id"]} <= lenas
    hidden = run_cli(mei, "feedback", "show", private["feedback_id"])
    assert hidden.returncode == 1
    assert "feedback: not found (or not visible to you)" in hidden.stderr

    to_self = run_cli(lena, "feedback", "give", "lena.fischer", "Well done me")
    assert to_self.returncode == 2
    assert "feedback: the request is not valid (field `recipient_id`)" in to_self.stderr
    bad_kind = run_cli(lena, "feedback", "give", "tom.becker", "x", "--kind", "rant")
    assert bad_kind.returncode == 2
    assert "'rant' is not one of" in bad_kind.stderr
    mixed = run_cli(lena, "feedback", "give", "tom.becker", "x", "--kind", "note-to-self",
                    "--visibility", "public")  # fmt: skip
    assert mixed.returncode == 2
    assert "a note to self is read by you only" in mixed.stderr


def test_a_request_is_answered_closed_and_its_results_read(
    demo_system: DemoSystem, tmp_path: Path
) -> None:
    tom = logged_in(demo_system, tmp_path, "tom.becker", "employee")
    aisha = logged_in(demo_system, tmp_path, "aisha.khan", "employee")
    today = datetime.now(UTC).date().isoformat()
    created = as_json(tom, "feedback", "request", "create", "--reviewer", "aisha.khan",
                      "--reviewer", "lena.fischer", "--due", today)["request"]  # fmt: skip
    request_id = created["request_id"]
    shown = run_cli(aisha, "feedback", "request", "show", request_id)
    assert shown.returncode == 0, shown.stderr
    assert "q1 [1-5]" in shown.stdout
    assert "aisha.khan (peer)" in shown.stdout

    not_a_number = run_cli(aisha, "feedback", "request", "answer", request_id, "-a", "q1=great",
                           "-a", "q2=x", "-a", "q3=y")  # fmt: skip
    assert not_a_number.returncode == 2
    assert "q1 is a rating: give a whole number, not 'great'" in not_a_number.stderr
    missing = run_cli(aisha, "feedback", "request", "answer", request_id, "-a", "q1=4")
    assert missing.returncode == 2
    assert "no answer for q2, q3" in missing.stderr
    out_of_scale = run_cli(aisha, "feedback", "request", "answer", request_id, "-a", "q1=9",
                           "-a", "q2=x", "-a", "q3=y", "--json")  # fmt: skip
    assert out_of_scale.returncode == 2, out_of_scale.stderr
    assert json.loads(out_of_scale.stderr)["error"]["code"] == "INVALID_ARGUMENT"

    answered = run_cli(aisha, "feedback", "request", "answer", request_id, "-a", "q1=4",
                       "-a", "q2=Clear design docs", "-a", "q3=Share context earlier")  # fmt: skip
    assert answered.returncode == 0, answered.stderr
    early = run_cli(tom, "feedback", "request", "results", request_id)
    assert early.returncode == 1
    assert "not possible in the current state" in early.stderr
    closed = as_json(tom, "feedback", "request", "close", request_id)["request"]
    assert closed["state"] == "FEEDBACK_REQUEST_STATE_CLOSED"
    results = run_cli(tom, "feedback", "request", "results", request_id)
    assert results.returncode == 0, results.stderr
    assert "aisha.khan (peer): q1: 4; q2: Clear design docs" in results.stdout


def test_a_one_on_one_is_scheduled_with_agenda_and_action_items(
    demo_system: DemoSystem, tmp_path: Path
) -> None:
    lena = logged_in(demo_system, tmp_path, "lena.fischer", "manager")
    tom = logged_in(demo_system, tmp_path, "tom.becker", "employee")
    pedro = logged_in(demo_system, tmp_path, "pedro.alves", "employee")
    today = datetime.now(UTC).date().isoformat()
    scheduled = as_json(lena, "1on1", "schedule", "pedro.alves", "--start", today,
                        "--cadence", "weekly")["one_on_one"]  # fmt: skip
    series = scheduled["one_on_one_id"]
    as_json(lena, "1on1", "agenda", series, "Career plan for next year")
    item = as_json(lena, "1on1", "action", series, "Draft the promotion case",
                   "--owner", "pedro.alves")["one_on_one"]["action_items"][0]  # fmt: skip
    done = as_json(lena, "1on1", "done", series, item["item_id"])["one_on_one"]
    assert done["action_items"][0]["done"] is True
    assert [a["text"] for a in done["agenda"]] == ["Career plan for next year"]
    listed = run_cli(lena, "1on1", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"1:1 {series}: lena.fischer with pedro.alves, weekly" in listed.stdout
    assert "[x] Draft the promotion case" in listed.stdout
    listed_ids = [s["one_on_one_id"] for s in as_json(lena, "1on1", "list")["one_on_ones"]]
    assert series in listed_ids
    # Pedro sees the series he reports in; Tom, another of Lena's reports, does not.
    pedros = as_json(pedro, "1on1", "list")["one_on_ones"]
    assert [s["one_on_one_id"] for s in pedros] == [series]
    assert series not in {s["one_on_one_id"] for s in as_json(tom, "1on1", "list")["one_on_ones"]}
    by_person = as_json(lena, "1on1", "list", "--person", "pedro.alves")["one_on_ones"]
    assert [s["one_on_one_id"] for s in by_person] == [series]

    outsider = run_cli(tom, "1on1", "show", series)
    assert outsider.returncode == 1
    assert "feedback: " in outsider.stderr
    assert "Traceback" not in outsider.stderr
    not_mine = run_cli(lena, "1on1", "schedule", "emma.schulz", "--start", today)
    assert not_mine.returncode == 1
    assert "not possible in the current state (field `report_id`)" in not_mine.stderr
    past = run_cli(lena, "1on1", "schedule", "pedro.alves", "--start", "2020-01-01")
    assert past.returncode == 2
    assert "(field `start_date`)" in past.stderr
    bad_cadence = run_cli(lena, "1on1", "schedule", "pedro.alves", "--start", today,
                          "--cadence", "daily")  # fmt: skip
    assert bad_cadence.returncode == 2
    assert "'daily' is not one of" in bad_cadence.stderr
