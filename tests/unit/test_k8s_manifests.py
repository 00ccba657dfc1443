"""The Kubernetes manifests as a cluster would receive them: rendered by kustomize, every built-in
object valid in strict mode for several Kubernetes releases, every custom resource valid against
its operator's published CRD, and the choices the README describes really made."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from devstack import deploytools
from tests.unit.crd_schemas import crd_validator

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
RULES = ROOT / "deploy" / "observability" / "prometheus" / "northstar-rules.yml"
# Three supported minor releases and the newest the validator knows.
KUBERNETES_VERSIONS = ["1.33.0", "1.34.0", "1.35.0", kubernetes_validate.latest_version()]
CUSTOM_RESOURCE_CRDS = {
    "KafkaTopic": deploytools.STRIMZI_TOPIC_CRD,
    "ScaledObject": "scaledobjects.keda.sh.yaml",
    "PodMonitor": "podmonitors.monitoring.coreos.com.yaml",
    "PrometheusRule": "prometheusrules.monitoring.coreos.com.yaml",
}
# CloudNativePG publishes its CRDs only in its own Go module, which the module proxy here does not
# serve, and no other reachable registry carries them: its Cluster is checked by hand below.
UNCHECKED_BY_SCHEMA = {"Cluster"}

Manifest = dict[str, Any]


def render(folder: Path) -> list[Manifest]:
    rendered = subprocess.run(
        [str(deploytools.kustomize()), "build", str(folder)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [document for document in yaml.safe_load_all(rendered) if document]


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    return render(K8S) + render(K8S / "postgres")


def named(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def test_kustomize_renders_the_services_the_topics_and_the_example_database(
    manifests: list[Manifest],
) -> None:
    kinds = {m["kind"] for m in manifests}
    assert {"Deployment", "KafkaTopic", "NetworkPolicy", "PodMonitor", "Cluster"} <= kinds
    assert "Job" not in kinds, "topics come from KafkaTopic resources, not a one-shot Job"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_built_in_object_is_valid_in_strict_mode(
    manifests: list[Manifest], version: str
) -> None:
    checked = 0
    for manifest in manifests:
        if manifest["kind"] in CUSTOM_RESOURCE_CRDS or manifest["kind"] in UNCHECKED_BY_SCHEMA:
            continue
        kubernetes_validate.validate(manifest, version, strict=True)
        checked += 1
    assert checked >= 15


@pytest.mark.parametrize("kind", sorted(CUSTOM_RESOURCE_CRDS))
def test_every_custom_resource_is_valid_against_its_published_crd(
    manifests: list[Manifest], kind: str
) -> None:
    objects = [m for m in manifests if m["kind"] == kind]
    assert objects, f"no {kind} rendered"
    crd = yaml.safe_load(deploytools.schema(CUSTOM_RESOURCE_CRDS[kind]).read_text())
    for manifest in objects:
        validator = crd_validator(crd, manifest["apiVersion"])
        errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(manifest)]
        assert not errors, f"{kind} {manifest['metadata']['name']}: {errors}"


def test_no_deployment_sets_a_count_that_an_autoscaler_owns(manifests: list[Manifest]) -> None:
    scaled = {
        m["spec"]["scaleTargetRef"]["name"]
        for m in manifests
        if m["kind"]
        in {
            "HorizontalPodAutoscaler",
            "ScaledObject",
        }
    }
    deployments = named(manifests, "Deployment")
    assert scaled == set(deployments)
    for name, deployment in deployments.items():
        assert "replicas" not in deployment["spec"], name


def test_pods_spread_over_nodes_and_zones(manifests: list[Manifest]) -> None:
    for name, deployment in named(manifests, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        constraints = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
        assert set(constraints) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        assert constraints["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
        for constraint in constraints.values():
            assert constraint["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": name}
    database = named(manifests, "Cluster")["northstar-postgres"]["spec"]
    assert database["instances"] >= 3
    assert database["affinity"]["podAntiAffinityType"] == "required"


def test_network_policies_deny_by_default_and_open_only_grpc_metrics_kafka_postgres_dns(
    manifests: list[Manifest],
) -> None:
    policies = named(manifests, "NetworkPolicy")
    deny = policies.pop("default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    ingress_ports = {
        port["port"]
        for policy in policies.values()
        for rule in policy["spec"].get("ingress", [])
        for port in rule["ports"]
    }
    assert ingress_ports == {"grpc", "metrics"}
    for deployment in named(manifests, "Deployment").values():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert ingress_ports <= {port["name"] for port in container["ports"]}
    egress_ports = {
        port["port"]
        for policy in policies.values()
        for rule in policy["spec"].get("egress", [])
        for port in rule["ports"]
    }
    assert egress_ports == {53, 9092, 5432}
    # Kafka's egress rule points at the Strimzi cluster the topics belong to.
    cluster = {
        t["metadata"]["labels"]["strimzi.io/cluster"]
        for t in named(manifests, "KafkaTopic").values()
    }
    kafka_rule = next(
        rule
        for policy in policies.values()
        for rule in policy["spec"].get("egress", [])
        if rule["ports"][0]["port"] == 9092
    )
    assert kafka_rule["to"][0]["podSelector"]["matchLabels"] == {
        "strimzi.io/cluster": cluster.pop()
    }


def test_disruption_budgets_are_kept_for_every_deployment(manifests: list[Manifest]) -> None:
    assert set(named(manifests, "PodDisruptionBudget")) == set(named(manifests, "Deployment"))


def test_the_pod_monitor_gives_targets_the_labels_alerts_and_dashboard_select_on(
    manifests: list[Manifest],
) -> None:
    endpoint = named(manifests, "PodMonitor")["northstar"]["spec"]["podMetricsEndpoints"][0]
    assert endpoint["port"] == "metrics"
    labels = {r["targetLabel"]: r for r in endpoint["relabelings"]}
    assert labels["job"]["replacement"] == "northstar"
    assert labels["service"]["sourceLabels"] == [
        "__meta_kubernetes_pod_label_app_kubernetes_io_name"
    ]


def test_the_prometheus_rule_holds_exactly_the_alert_rules_promtool_tests(
    manifests: list[Manifest],
) -> None:
    rule = named(manifests, "PrometheusRule")["northstar"]
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def test_the_readme_lists_every_manifest_file_and_no_other() -> None:
    readme = (K8S / "README.md").read_text()
    files = {p.relative_to(K8S).as_posix() for p in K8S.rglob("*.yaml")}
    for name in files:
        assert f"`{name}`" in readme, f"{name} is not in deploy/k8s/README.md"
    assert "topics-job" not in readme
    assert "replicas: 2" not in readme
