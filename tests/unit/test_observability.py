"""The observability kit (deploy/observability): alert rules that promtool accepts and whose unit
tests pass for every alert, and a Grafana dashboard that loads in Grafana's schema and asks only
for metrics the services declare. (That the running services export them is checked against
live processes in tests/integration/test_packaging.py.)"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from devstack import deploytools
from services.shared.metrics import ServiceMetrics

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
PROMETHEUS = OBSERVABILITY / "prometheus"
RULES = PROMETHEUS / "northstar-rules.yml"
RULE_TESTS = PROMETHEUS / "northstar-rules.test.yml"
DASHBOARD = OBSERVABILITY / "grafana" / "dashboards" / "northstar.json"
# Series Prometheus records itself for every target, not exported by a service.
PROMETHEUS_SERIES = {"up"}

PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(deploytools.promtool()), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def metric_names(expression: str) -> set[str]:
    """The series names a PromQL expression reads: identifiers that are not functions, keywords,
    labels (inside braces or grouping clauses), strings, durations or dashboard variables."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expression)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\w+", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", text):
        name, call = match.group(1), match.group(2)
        if call is None and name.lower() not in PROMQL_KEYWORDS:
            names.add(name)
    return names


def declared_series() -> set[str]:
    """Every series name a service's registry can expose (counters as _total, histograms as
    _bucket/_sum/_count), from the same registry the services serve."""
    names = set()
    for family in ServiceMetrics("any").registry.collect():
        if family.type == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count", "created")}
        else:
            names |= {family.name, *(sample.name for sample in family.samples)}
    # Registered by other modules on the same registry (the relay's leader gauge, rebuilds).
    names |= {"northstar_relay_leader", "northstar_rebuild_progress_ratio"}
    return names


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard_expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


# --- alert rules ------------------------------------------------------------------------------


def test_promtool_accepts_the_rules_and_the_compose_prometheus_config() -> None:
    for args in (
        ("check", "rules", str(RULES)),
        ("check", "config", str(PROMETHEUS / "prometheus.yml")),
    ):
        checked = promtool(*args)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_is_unit_tested_firing_and_every_test_names_a_real_alert() -> None:
    alerts = {rule["alert"] for rule in alert_rules()}
    assert len(alerts) >= 10
    fired: set[str] = set()
    named: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case["alert_rule_test"]:
            named.add(check["alertname"])
            if check["exp_alerts"]:
                fired.add(check["alertname"])
    assert fired == alerts, f"never shown firing: {sorted(alerts - fired)}"
    assert named <= alerts


def test_alerts_cover_every_failure_mode_with_a_severity_and_a_runbook() -> None:
    expressions = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    watched = set().union(*(metric_names(expr) for expr in expressions.values()))
    for failure_mode in (
        "up",  # service down
        "northstar_relay_lag_notifications",  # relay lagging or stalled
        "northstar_relay_published_total",  # relay stalled
        "northstar_relay_leader",  # no publisher, or several
        "northstar_consumer_lag_messages",  # consumers behind
        "northstar_projection_lag_seconds",  # read models old
        "northstar_dead_lettered_total",  # dead letters growing
        "northstar_grpc_requests_total",  # error rate
        "northstar_grpc_request_duration_seconds_bucket",  # latency
    ):
        assert failure_mode in watched, failure_mode
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["runbook"], rule["alert"]


def test_alert_rules_read_only_series_the_services_declare() -> None:
    for rule in alert_rules():
        unknown = metric_names(rule["expr"]) - declared_series() - PROMETHEUS_SERIES
        assert not unknown, f"{rule['alert']} reads {unknown}"


def test_operations_doc_explains_every_alert() -> None:
    doc = (ROOT / "docs" / "operations.md").read_text()
    for rule in alert_rules():
        assert f"`{rule['alert']}`" in doc, rule["alert"]


# --- dashboard --------------------------------------------------------------------------------


def test_the_dashboard_loads_in_grafanas_schema_without_losing_a_field() -> None:
    """Grafana's schema (grafana-foundation-sdk, generated from it) drops what it does not
    know: a round trip that keeps every field means the dashboard uses only schema fields."""
    plugins.register_default_plugins()
    original = json.loads(DASHBOARD.read_text())
    loaded = json.loads(json.dumps(Dashboard.from_json(original), cls=JSONEncoder))
    lost = list(fields_lost(original, loaded))
    assert not lost, lost


def fields_lost(original: Any, loaded: Any, path: str = "$") -> list[str]:
    if isinstance(original, dict):
        if not isinstance(loaded, dict):
            return [path]
        lost = []
        for key, value in original.items():
            if key not in loaded:
                lost.append(f"{path}.{key}")
            else:
                lost += fields_lost(value, loaded[key], f"{path}.{key}")
        return lost
    if isinstance(original, list):
        if not isinstance(loaded, list) or len(original) != len(loaded):
            return [path]
        return [
            field
            for index, (a, b) in enumerate(zip(original, loaded, strict=True))
            for field in fields_lost(a, b, f"{path}[{index}]")
        ]
    return [] if original == loaded else [f"{path} = {original!r}, loaded {loaded!r}"]


def test_the_dashboard_shows_what_an_operator_needs() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    watched = set().union(*(metric_names(e) for e in dashboard_expressions(dashboard)))
    for needed in (
        "northstar_grpc_requests_total",  # request rate and errors per RPC
        "northstar_grpc_request_duration_seconds_bucket",  # latency per RPC
        "northstar_relay_lag_notifications",  # relay lag and stall
        "northstar_relay_published_total",
        "northstar_relay_leader",
        "northstar_consumer_lag_messages",  # consumer lag per partition
        "northstar_projection_lag_seconds",  # projection lag in seconds
        "northstar_dead_lettered_total",  # dead letters
        "northstar_rebuild_progress_ratio",  # rebuild progress
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ):
        assert needed in watched, needed
    per_rpc = [e for e in dashboard_expressions(dashboard) if "northstar_grpc" in e]
    assert all("method" in expression for expression in per_rpc)
    lag = [e for e in dashboard_expressions(dashboard) if "northstar_consumer_lag" in e]
    assert any("partition" in expression for expression in lag)


def test_dashboard_expressions_read_only_series_the_services_declare() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    for expression in dashboard_expressions(dashboard):
        unknown = metric_names(expression) - declared_series() - PROMETHEUS_SERIES
        assert not unknown, f"{expression} reads {unknown}"


def test_metric_names_finds_series_and_skips_functions_labels_and_keywords() -> None:
    expression = (
        'histogram_quantile(0.99, sum by (service, le) (rate(a_bucket{code=~"X|Y"}[5m])))'
        " / on (service) group_left b_total > bool 0 and c"
    )
    assert metric_names(expression) == {"a_bucket", "b_total", "c"}
