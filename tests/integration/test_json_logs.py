"""Every line the running services write, theirs and their libraries' (FastStream, aiokafka,
gRPC), is one JSON object: a log pipeline never meets a coloured text line or a bare traceback.
The services run as the integration fixtures run them, with the logging their processes set up."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator

import grpc
import pytest

from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from services.shared.logs import JsonLogFormatter, configure_logging
from tests.integration.conftest import RunningSystem, bearer

pytestmark = [pytest.mark.kafka]

HR = bearer("hr-1", ["hr_admin"])
SERVICE = "northstar-under-test"


@pytest.fixture
def json_logging(
    kafka_bootstrap_servers: str, store_url: str, capfd: pytest.CaptureFixture[str]
) -> Iterator[pytest.CaptureFixture[str]]:
    """The services' logging, set up before they start (as their entry points do), then undone.

    Kafka and the store start first, outside the capture: starting them is the test harness's
    doing (a forked server), not a line the services write."""
    root = logging.getLogger()
    level = root.level
    hooks = sys.excepthook, threading.excepthook
    configure_logging(service=SERVICE)
    try:
        yield capfd
    finally:
        logging.captureWarnings(False)
        sys.excepthook, threading.excepthook = hooks
        for handler in root.handlers[:]:
            if isinstance(handler.formatter, JsonLogFormatter):
                root.removeHandler(handler)
        root.setLevel(level)


async def test_every_line_the_services_write_while_serving_parses_as_json(
    json_logging: pytest.CaptureFixture[str], running_system: RunningSystem
) -> None:
    system = running_system
    created = await system.goals_stub.CreateGoal(
        goals_pb2.CreateGoalRequest(
            title="Lift NPS to 45",
            owner_id="owner-1",
            team_id="team-a",
            level=goals_pb2.GOAL_LEVEL_TEAM,
            start_date="2026-01-01",
            due_date="2026-12-31",
            activate=True,
        ),
        metadata=HR,
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await system.goals_stub.CreateGoal(goals_pb2.CreateGoalRequest(title=""), metadata=HR)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    history = await system.projections_stub.GetGoalHistory(
        projections_pb2.GetGoalHistoryRequest(
            goal_id=created.goal.id, consistency_tokens=[created.position_token]
        ),
        metadata=HR,
    )
    assert history.entries

    captured = json_logging.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert lines, "the services wrote nothing at all"
    loggers = set()
    for line in lines:
        entry = json.loads(line)
        assert isinstance(entry, dict), line
        assert entry["service"] == SERVICE, line
        assert {"time", "level", "logger", "message"} <= entry.keys(), line
        loggers.add(entry["logger"])
    # The services' own lines and their libraries' lines both came through as JSON.
    assert any(name.startswith("services.") for name in loggers), loggers
    assert any(name.startswith(("faststream", "aiokafka")) for name in loggers), loggers
