"""Metrics that follow each read model's live version: which version and consumer group are
live (an info gauge), the live group's lag (what an autoscaler scales on), events held and
parked, and the removal of every series a retired version left behind."""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import TopicPartition
from prometheus_client import Gauge
from prometheus_client.metrics import MetricWrapperBase

from services.shared.metrics import PREFIX, ServiceMetrics
from services.shared.parking import HELD, PARKED


class LiveMetrics:
    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics
        registry = metrics.registry
        self.live_info = Gauge(
            PREFIX + "read_model_live_info",
            "1 for the live version of each read model, with the consumer group it consumes "
            "with (the group to watch for lag after a blue/green switch).",
            ["read_model", "version", "consumer_group"],
            registry=registry,
        )
        self.live_lag = Gauge(
            PREFIX + "read_model_lag_messages",
            "Messages the live version's consumer group has not committed yet, summed over the "
            "partitions of its topics (each pod reports the whole group: take the max).",
            ["read_model"],
            registry=registry,
        )
        self.waiting = Gauge(
            PREFIX + "read_model_parked_events",
            "Events of the live version waiting in its store: held (an earlier version of the "
            "aggregate is missing) or parked (for an operator to retry or skip).",
            ["read_model", "state"],
            registry=registry,
        )
        self.catch_up = Gauge(
            PREFIX + "read_model_catch_up_ratio",
            "Applied share of what a start that found the store behind has to replay before "
            "serving (1 once serving).",
            ["read_model"],
            registry=registry,
        )
        self._live: dict[str, tuple[str, str]] = {}

    def set_live(self, read_model: str, version: str, group_id: str) -> None:
        previous = self._live.get(read_model)
        if previous is not None and previous != (version, group_id):
            _remove_where(self.live_info, {"read_model": read_model})
        self._live[read_model] = (version, group_id)
        self.live_info.labels(read_model=read_model, version=version, consumer_group=group_id).set(
            1
        )
        for state in (HELD, PARKED):
            self.waiting.labels(read_model=read_model, state=state)

    def set_waiting(self, read_model: str, counts: Mapping[str, int]) -> None:
        for state, count in counts.items():
            self.waiting.labels(read_model=read_model, state=state).set(count)

    def set_lag(
        self,
        read_model: str,
        ends: Mapping[TopicPartition, int],
        committed: Mapping[TopicPartition, int],
    ) -> None:
        lag = sum(max(end - committed.get(tp, 0), 0) for tp, end in ends.items())
        self.live_lag.labels(read_model=read_model).set(lag)

    def forget_version(self, version: str) -> None:
        """Removes every series labelled with a retired version: dashboards and autoscalers
        then see only the live one."""
        m = self.metrics
        _remove_where(m.consumer_lag_messages, {"consumer": version})
        for metric in (
            m.projection_lag_seconds,
            m.events_applied_total,
            m.duplicates_skipped_total,
            m.events_held_total,
            m.events_parked_total,
        ):
            _remove_where(metric, {"projection": version})


def _remove_where(metric: MetricWrapperBase, match: Mapping[str, str]) -> None:
    names: tuple[str, ...] = tuple(getattr(metric, "_labelnames", ()))
    seen: set[tuple[str, ...]] = set()
    for family in metric.collect():
        for sample in family.samples:
            if all(sample.labels.get(k) == v for k, v in match.items()):
                values = tuple(sample.labels.get(name, "") for name in names)
                if values not in seen:
                    seen.add(values)
                    metric.remove(*values)
