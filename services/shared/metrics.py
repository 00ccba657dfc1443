"""Prometheus metrics of one service, in a registry of its own, served on the service's port.

A private registry (not prometheus_client's global one) lets several services, or several
test instances of one, live in the same process without clashing metric names.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

PREFIX = "northstar_"


class ServiceMetrics:
    """Every metric a Northstar service may report; a service updates the ones that apply."""

    def __init__(self, service_name: str) -> None:
        self.service_name = service_name
        self.registry = CollectorRegistry(auto_describe=True)
        self._http_server: WSGIServer | None = None
        self._http_thread: threading.Thread | None = None
        registry = self.registry
        # The process (CPU, memory, file descriptors, start time) and the interpreter (version,
        # garbage collections), as the global registry would have them: the same collectors,
        # registered on ours, since nothing scrapes the global one.
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)

        self.grpc_requests_total = Counter(
            PREFIX + "grpc_requests_total",
            "gRPC requests handled, by full method name and status code.",
            ["method", "code"],
            registry=registry,
        )
        self.grpc_request_duration_seconds = Histogram(
            PREFIX + "grpc_request_duration_seconds",
            "Time to handle a gRPC request, by full method name.",
            ["method"],
            registry=registry,
        )
        self.events_appended_total = Counter(
            PREFIX + "events_appended_total",
            "Domain events stored, by aggregate type.",
            ["aggregate_type"],
            registry=registry,
        )
        self.relay_lag_notifications = Gauge(
            PREFIX + "relay_lag_notifications",
            "Stored notifications the relay has not yet published to Kafka.",
            registry=registry,
        )
        self.relay_last_publish_timestamp_seconds = Gauge(
            PREFIX + "relay_last_publish_timestamp_seconds",
            "Unix time the broker last acknowledged a batch from this process's relay (0: never).",
            registry=registry,
        )
        self.relay_published_total = Counter(
            PREFIX + "relay_published_total",
            "Notifications the relay published and the broker acknowledged.",
            registry=registry,
        )
        self.consumer_lag_messages = Gauge(
            PREFIX + "consumer_lag_messages",
            "Messages between a consumer's committed offset and the partition's end.",
            # `consumer` tells a rebuilding read-model version from the live one.
            ["consumer", "topic", "partition"],
            registry=registry,
        )
        self.projection_lag_seconds = Gauge(
            PREFIX + "projection_lag_seconds",
            "Seconds between now and the occurrence of the last event a projection applied.",
            ["projection"],
            registry=registry,
        )
        self.events_applied_total = Counter(
            PREFIX + "events_applied_total",
            "Events a projection applied to its read model.",
            ["projection"],
            registry=registry,
        )
        self.duplicates_skipped_total = Counter(
            PREFIX + "duplicates_skipped_total",
            "Redelivered events a projection skipped because it had applied them already.",
            ["projection"],
            registry=registry,
        )
        self.events_held_total = Counter(
            PREFIX + "events_held_total",
            "Events a projection held because an earlier version of their aggregate was missing.",
            ["projection"],
            registry=registry,
        )
        self.events_parked_total = Counter(
            PREFIX + "events_parked_total",
            "Events a projection parked (with every later event of their aggregate), by kind: "
            "failed, unknown type, conflict, gap, behind.",
            ["projection", "kind"],
            registry=registry,
        )
        self.dead_lettered_total = Counter(
            PREFIX + "dead_lettered_total",
            "Messages moved to a dead-letter topic after their retries ran out, by source topic.",
            ["topic"],
            registry=registry,
        )
        self.consumer_retries_total = Counter(
            PREFIX + "consumer_retries_total",
            "Handler retries of consumed messages, by topic.",
            ["topic"],
            registry=registry,
        )

    def render(self) -> bytes:
        """The registry in Prometheus text exposition format (what /metrics serves)."""
        return generate_latest(self.registry)

    def start_http(self, port: int, host: str = "127.0.0.1") -> int:
        """Serves /metrics for this registry on a daemon thread; returns the bound port.

        `port` 0 picks a free port. Calling it again while serving returns the same port.
        """
        if self._http_server is not None:
            return int(self._http_server.server_port)
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        self._http_server, self._http_thread = server, thread
        return int(server.server_port)

    def stop_http(self) -> None:
        """Stops serving /metrics (blocks briefly until the serving thread has finished)."""
        server, thread = self._http_server, self._http_thread
        self._http_server = self._http_thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
