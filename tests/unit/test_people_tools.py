"""The console command's and web pages' own rules: errors in plain words, the tree's nesting,
escaped charts, instants, and the port layout they share with `make run`."""

from __future__ import annotations

from io import StringIO
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from rich.console import Console

from devstack.run import SERVICE_PORTS
from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from northstar_cli import render
from northstar_cli.config import SERVICE_OFFSETS, Config
from northstar_cli.errors import EXIT_BAD_INPUT, EXIT_FAILURE, explain
from northstar_cli.params import instant
from northstar_cli.tree import nest, progress_bar
from webapp.chart import bar, check_in_chart
from webapp.history import CheckInPoint


class FailedCall(grpc.RpcError, grpc.Call):
    """A failed call as grpcio hands it to a client: code, message and trailers."""

    def __init__(self, code: grpc.StatusCode, message: str, *details: object) -> None:
        self._code, self._message = code, message
        status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message)
        for detail in details:
            packed = any_pb2.Any()
            packed.Pack(detail)  # type: ignore[arg-type]
            status.details.append(packed)
        self._trailers = (("grpc-status-details-bin", status.SerializeToString()),)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._message

    def trailing_metadata(self) -> Any:
        return self._trailers


def test_the_console_and_make_run_agree_on_the_ports() -> None:
    assert SERVICE_OFFSETS == SERVICE_PORTS
    assert Config(base_port=6000).address_of("projections") == "127.0.0.1:6004"


def test_an_invalid_field_is_named_in_plain_words_and_exits_2() -> None:
    violation = error_details_pb2.BadRequest.FieldViolation(
        field="metric.target", description="must differ from the start"
    )
    error = FailedCall(
        grpc.StatusCode.INVALID_ARGUMENT,
        "metric.target: must differ from the start",
        error_details_pb2.BadRequest(field_violations=[violation]),
    )
    explained = explain(error, "goals")
    assert explained.field == "metric.target"
    assert explained.exit_code == EXIT_BAD_INPUT
    assert explained.sentence() == (
        "goals: the request is not valid (field `metric.target`): must differ from the start"
    )


def test_a_refused_state_change_names_its_reason_and_exits_1() -> None:
    error = FailedCall(
        grpc.StatusCode.FAILED_PRECONDITION,
        "parent_goal_id: would close a loop",
        error_details_pb2.ErrorInfo(
            reason="ALIGNMENT_CYCLE", domain="northstar", metadata={"field": "parent_goal_id"}
        ),
    )
    explained = explain(error, "goals")
    assert (explained.reason, explained.field) == ("ALIGNMENT_CYCLE", "parent_goal_id")
    assert explained.exit_code == EXIT_FAILURE
    assert "not possible in the current state" in explained.sentence()


def test_an_unreachable_service_says_where_it_was_looked_for() -> None:
    explained = explain(FailedCall(grpc.StatusCode.UNAVAILABLE, "connect failed"), "kpi", "h:1")
    assert (
        explained.sentence()
        == "kpi: the kpi service cannot be reached at h:1; is `make run` running?"
    )


def node(goal_id: str, depth: int) -> projections_pb2.AlignmentNode:
    return projections_pb2.AlignmentNode(goal_id=goal_id, title=goal_id, depth=depth)


def test_the_flat_tree_nests_under_the_nearest_node_one_level_up() -> None:
    roots = nest([node("s", 0), node("c1", 1), node("t1", 2), node("c2", 1), node("o", 0)], ["o"])
    assert [r.node.goal_id for r in roots] == ["s", "o"]
    assert [c.node.goal_id for c in roots[0].children] == ["c1", "c2"]
    assert [c.node.goal_id for c in roots[0].children[0].children] == ["t1"]
    assert [r.orphan for r in roots] == [False, True]
    assert progress_bar(0.5, 4) == "██░░"


def test_chart_text_is_escaped() -> None:
    point = CheckInPoint(
        3, "2026-01-01T00:00:00+00:00", "<script>x</script>", 0.4, 2, "<b>", 5, 0.7
    )
    svg = str(check_in_chart([point, point]))
    assert "<script>" not in svg
    assert "&lt;script&gt;x&lt;/script&gt;" in svg
    assert "<b>" not in svg
    assert 'class="fill status-&#34;&gt;"' in str(bar(0.5, '">'))


def test_an_instant_may_be_a_day_meaning_its_end_in_utc() -> None:
    assert instant("2026-03-01") == "2026-03-01T23:59:59+00:00"
    assert instant("2026-03-01T12:00:00+02:00") == "2026-03-01T10:00:00+00:00"
    assert instant("2026-03-01T12:00:00") == "2026-03-01T12:00:00+00:00"


def test_the_cli_says_who_moves_each_key_results_value() -> None:
    metric = goals_pb2.Metric(kind=goals_pb2.METRIC_KIND_NUMBER, start=0, target=10)
    goal = goals_pb2.Goal(id="g-1", title="Grow", status=goals_pb2.GOAL_STATUS_ON_TRACK)
    goal.key_results.add(title="Pilots", metric=metric, weight=1)
    goal.key_results.add(
        title="Leads",
        metric=metric,
        weight=1,
        progress_source=goals_pb2.PROGRESS_SOURCE_KPI,
        kpi_id="kpi-7",
    )
    output = StringIO()
    render.goal(Console(file=output, width=200), goal)
    lines = output.getvalue().splitlines()
    (leads,) = [line for line in lines if "Leads" in line]
    (pilots,) = [line for line in lines if "Pilots" in line]
    assert "KPI kpi-7" in leads
    assert "check-ins" in pilots
    assert "KPI" not in pilots
