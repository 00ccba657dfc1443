"""Per-service Prometheus registries and their /metrics endpoint."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from services.shared.metrics import ServiceMetrics

EXPECTED_METRICS = [
    "northstar_grpc_requests_total",
    "northstar_grpc_request_duration_seconds",
    "northstar_events_appended_total",
    "northstar_relay_lag_notifications",
    "northstar_relay_published_total",
    "northstar_consumer_lag_messages",
    "northstar_projection_lag_seconds",
    "northstar_events_applied_total",
    "northstar_duplicates_skipped_total",
    "northstar_dead_lettered_total",
    "northstar_consumer_retries_total",
]


@pytest.fixture
def served() -> Iterator[tuple[ServiceMetrics, int]]:
    metrics = ServiceMetrics("goals")
    port = metrics.start_http(0)
    yield metrics, port
    metrics.stop_http()


def test_every_metric_is_declared_with_help_and_type() -> None:
    text = ServiceMetrics("projections").render().decode()

    for name in EXPECTED_METRICS:
        assert f"# HELP {name} " in text
        assert f"# TYPE {name} " in text


def test_two_services_in_one_process_keep_separate_counts() -> None:
    goals, kpi = ServiceMetrics("goals"), ServiceMetrics("kpi")

    goals.events_appended_total.labels(aggregate_type="Goal").inc(3)
    kpi.events_appended_total.labels(aggregate_type="Kpi").inc()

    assert (
        goals.registry.get_sample_value(
            "northstar_events_appended_total", {"aggregate_type": "Goal"}
        )
        == 3
    )
    assert (
        kpi.registry.get_sample_value("northstar_events_appended_total", {"aggregate_type": "Goal"})
        is None
    )


def test_render_shows_labelled_samples() -> None:
    metrics = ServiceMetrics("projections")
    metrics.consumer_lag_messages.labels(
        consumer="goals-v1", topic="northstar.goals.v1", partition="2"
    ).set(17)
    metrics.relay_lag_notifications.set(4)

    text = metrics.render().decode()

    assert (
        'northstar_consumer_lag_messages{consumer="goals-v1",partition="2",'
        'topic="northstar.goals.v1"} 17.0'
    ) in text
    assert "northstar_relay_lag_notifications 4.0" in text


def test_start_http_on_port_zero_serves_this_registry_on_the_bound_port(
    served: tuple[ServiceMetrics, int],
) -> None:
    metrics, port = served
    metrics.dead_lettered_total.labels(topic="northstar.kpi.v1").inc()

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body = response.read().decode()

    assert port > 0
    assert 'northstar_dead_lettered_total{topic="northstar.kpi.v1"} 1.0' in body


def test_start_http_twice_keeps_the_first_port(served: tuple[ServiceMetrics, int]) -> None:
    metrics, port = served

    assert metrics.start_http(0) == port
