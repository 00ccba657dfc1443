"""The deployment descriptors (deploy/) agree with the code: names, ports, probes, topics, scaling.

No container engine or cluster runs them here; these tests read them and run the compose topic
script against stand-in Kafka tools. Rendering and schema validation of the manifests are in
test_k8s_manifests.py, the compose file's schema in test_compose.py.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from northstar_contracts.hris import hris_inbound_topic
from northstar_contracts.kpi import measurements_inbound_topic
from services.projections.live_metrics import LiveMetrics
from services.shared.consumer import dead_letter_topic
from services.shared.metrics import PREFIX, ServiceMetrics
from services.shared.settings import ServiceSettings, topic_for

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"
SECRET_EXAMPLE = K8S / "secret.example.yaml"

Manifest = dict[str, Any]

RUNNABLE_SERVICES = sorted(path.parent.name for path in (ROOT / "services").glob("*/__main__.py"))
# A service whose process runs an outbox relay writes events: its pods take the relay's leader
# lock, so exactly one of them publishes however many serve gRPC.
WRITING_SERVICES = sorted(
    name
    for name in RUNNABLE_SERVICES
    if "NotificationRelay(" in (ROOT / "services" / name / "__main__.py").read_text()
)


def load_all(path: Path) -> list[Manifest]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def k8s_manifests() -> list[Manifest]:
    return [
        manifest
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for manifest in load_all(path)
    ]


def k8s_of_kind(kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in k8s_manifests() if m["kind"] == kind}


def compose() -> Manifest:
    document: Manifest = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def compose_northstar_services() -> dict[str, Manifest]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if service.get("image", "").startswith("northstar-")
    }


def config_map() -> dict[str, str]:
    data: dict[str, str] = k8s_of_kind("ConfigMap")["northstar-config"]["data"]
    return data


def only_container(deployment: Manifest) -> Manifest:
    containers: list[Manifest] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def container_port(container: Manifest, name: str) -> int:
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    return int(ports[name])


def northstar_variables_in(text: str) -> set[str]:
    return set(re.findall(r"\bNORTHSTAR_[A-Z0-9_]*[A-Z0-9]\b", text))


def settings_variables() -> set[str]:
    return {f"NORTHSTAR_{field.upper()}" for field in ServiceSettings.model_fields}


# --- an image and a command per service ----------------------------------------------------


def test_every_runnable_service_is_deployed_by_compose_and_kubernetes() -> None:
    assert RUNNABLE_SERVICES, "no services/<name>/__main__.py found"
    assert sorted(compose_northstar_services()) == RUNNABLE_SERVICES
    assert sorted(k8s_of_kind("Deployment")) == RUNNABLE_SERVICES
    assert sorted(k8s_of_kind("Service")) == RUNNABLE_SERVICES


def test_every_service_runs_its_own_image_and_entry_point() -> None:
    for name, service in compose_northstar_services().items():
        assert service["image"] == f"northstar-{name}:dev"
        assert service["build"] == {
            "context": "..",
            "dockerfile": "deploy/Dockerfile",
            "target": name,
        }
        assert "command" not in service, "the image's entry point is the service"
    for name, deployment in k8s_of_kind("Deployment").items():
        container = only_container(deployment)
        assert container["image"].split(":")[0] == f"northstar-{name}"
        assert container["command"] == [f"northstar-{name}"]
        assert "args" not in container


def test_kustomization_gives_each_image_its_own_tag_and_applies_all_but_the_example() -> None:
    kustomization = load_all(K8S / "kustomization.yaml")[0]
    assert sorted(image["name"] for image in kustomization["images"]) == [
        f"northstar-{name}" for name in RUNNABLE_SERVICES
    ]
    assert all("newTag" in image for image in kustomization["images"])
    manifests = {path.name for path in K8S.glob("*.yaml")} - {
        "kustomization.yaml",
        SECRET_EXAMPLE.name,
    }
    assert sorted(kustomization["resources"]) == sorted(manifests)


def dockerfile_stages() -> dict[str, str]:
    """Each `FROM ... AS <name>` stage of the Dockerfile and its instructions."""
    stages: dict[str, str] = {}
    parts = re.split(r"^FROM ", DOCKERFILE.read_text(), flags=re.MULTILINE)
    for part in parts[1:]:
        header, _, body = part.partition("\n")
        name = header.split(" AS ")[-1].strip() if " AS " in header else header.strip()
        stages[name] = body
    return stages


def test_each_service_image_holds_shared_and_its_own_code_only_and_runs_as_non_root() -> None:
    dockerfile = DOCKERFILE.read_text()
    # The base is pinned by digest: a rebuild never silently moves to another Python image.
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, flags=re.MULTILINE)
    assert base is not None
    assert re.fullmatch(r"python:3\.11-slim[\w.-]*@sha256:[0-9a-f]{64}", base.group(1))
    stages = dockerfile_stages()
    assert "COPY services/shared " in stages["build-base"]
    assert "--require-hashes -r requirements/runtime.lock" in stages["build-base"]
    assert "--require-hashes -r requirements/build.lock" in stages["build-base"]
    for name in RUNNABLE_SERVICES:
        build = stages[f"build-{name}"]
        copied = re.findall(r"^COPY (services/\S+)", build, flags=re.MULTILINE)
        assert copied == [f"services/{name}"], name
        assert f"northstar-{name} --help" in build
        final = stages[name]
        assert f"COPY --from=build-{name} /opt/venv /opt/venv" in final
        assert re.search(r"^USER 10001:10001$", final, flags=re.MULTILINE), name
        assert f'ENTRYPOINT ["northstar-{name}"]' in final
    # Nothing of the build (grpcio-tools, setuptools, sources) reaches a final image.
    assert "/opt/build" not in "".join(stages[name] for name in RUNNABLE_SERVICES)


def test_dockerignore_lets_in_only_what_the_images_are_built_from() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set(re.findall(r"^COPY (?!--)(\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE))
    copied |= {
        path
        for line in re.findall(r"^COPY (?!--)(.+) \./$", DOCKERFILE.read_text(), re.MULTILINE)
        for path in line.split()
    }
    for path in copied:
        assert any(path.rstrip("/") == a or path.startswith(a + "/") for a in allowed), path
    assert not {".venv", ".cache", ".data", "northstar", "devstack", "tests"} & allowed


# --- settings --------------------------------------------------------------------------------


def test_every_northstar_variable_in_descriptors_and_docs_is_a_settings_field() -> None:
    texts = [COMPOSE_FILE, DOCKERFILE, OPERATIONS_DOC, K8S / "README.md", *K8S.glob("*.yaml")]
    used = set().union(*(northstar_variables_in(path.read_text()) for path in texts))
    assert used, "no NORTHSTAR_* variable found"
    assert used <= settings_variables()


def test_operations_doc_lists_every_setting_and_every_metric() -> None:
    doc = OPERATIONS_DOC.read_text()
    assert settings_variables() <= northstar_variables_in(doc)
    for metric in ServiceMetrics("any").registry.collect():
        if not metric.name.startswith(PREFIX):
            # prometheus_client's process, platform and GC collectors: named as a family.
            assert f"`{metric.name.split('_')[0]}_*`" in doc, f"{metric.name} is not documented"
            continue
        name = f"{metric.name}_total" if metric.type == "counter" else metric.name
        assert f"`{name}`" in doc, f"{name} is not documented"


def test_services_listen_on_all_interfaces_on_the_same_ports_everywhere() -> None:
    cluster = config_map()
    assert cluster["NORTHSTAR_GRPC_HOST"] == "0.0.0.0"
    for service in compose_northstar_services().values():
        environment = service["environment"]
        assert environment["NORTHSTAR_GRPC_HOST"] == "0.0.0.0"
        assert environment["NORTHSTAR_GRPC_PORT"] == cluster["NORTHSTAR_GRPC_PORT"]
        assert environment["NORTHSTAR_METRICS_PORT"] == cluster["NORTHSTAR_METRICS_PORT"]
        published = {port.rsplit(":", 1)[1] for port in service["ports"]}
        assert published == {cluster["NORTHSTAR_GRPC_PORT"], cluster["NORTHSTAR_METRICS_PORT"]}


def test_compose_stores_in_its_postgres_and_reaches_its_kafka() -> None:
    services = compose()["services"]
    assert services["postgres"]["image"] == "postgres:15"
    for service in compose_northstar_services().values():
        environment = service["environment"]
        assert environment["NORTHSTAR_STORE_URL"].startswith("postgresql://")
        assert "@postgres:5432/" in environment["NORTHSTAR_STORE_URL"]
        assert environment["NORTHSTAR_KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] == "kafka"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["kafka-topics"]["condition"] == (
            "service_completed_successfully"
        )


def test_cluster_pods_take_the_store_url_from_a_secret_and_verify_rs256_keys_from_files() -> None:
    cluster = config_map()
    assert "NORTHSTAR_STORE_URL" not in cluster
    assert cluster["NORTHSTAR_AUTH_MODE"] == "production"
    store = next(m for m in load_all(SECRET_EXAMPLE) if m["metadata"]["name"] == "northstar-store")
    assert store["stringData"]["NORTHSTAR_STORE_URL"].startswith("postgresql://")
    for deployment in k8s_of_kind("Deployment").values():
        container = only_container(deployment)
        sources = container["envFrom"]
        assert {"configMapRef": {"name": "northstar-config"}} in sources
        assert {"secretRef": {"name": "northstar-store"}} in sources
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        keys_mount = mounts[cluster["NORTHSTAR_JWT_PUBLIC_KEYS_DIR"]]
        assert keys_mount["readOnly"] is True
        secret = volumes[keys_mount["name"]]["secret"]
        assert secret["secretName"] == "northstar-jwt-public-keys"


TOKEN_SETTINGS = {
    "jwt_jwks_url",
    "jwt_issuer",
    "jwt_audience",
    "jwt_leeway_seconds",
    "jwt_max_lifetime_seconds",
    "jwt_require_nbf",
    "jwt_tenant_claim",
    "jwt_roles_claim",
}
"""What an operator sets to verify an identity provider's tokens."""


def settings_from(environment: dict[str, str]) -> dict[str, object]:
    """The settings fields an environment sets, parsed as the services parse them."""
    fields = {
        name.removeprefix("NORTHSTAR_").lower(): value
        for name, value in environment.items()
        if name.startswith("NORTHSTAR_")
    }
    parsed = ServiceSettings.model_validate(fields)
    return {name: getattr(parsed, name) for name in fields}


@pytest.mark.parametrize("where", ["configmap", "compose"])
def test_the_token_settings_are_listed_with_the_services_own_defaults(where: str) -> None:
    # Listed, so an operator sees what to change for an identity provider; at the defaults, so
    # listing them changes nothing until someone does.
    environment = (
        config_map() if where == "configmap" else compose()["x-northstar-service"]["environment"]
    )
    parsed = settings_from(environment)
    assert parsed.keys() >= TOKEN_SETTINGS
    for name in TOKEN_SETTINGS | {"jwt_jwks_cache_seconds", "jwt_jwks_refetch_interval_seconds"}:
        if name in parsed:
            assert parsed[name] == ServiceSettings.model_fields[name].default, name


# --- probes, metrics, security ------------------------------------------------------------


def test_every_deployment_probes_standard_grpc_health_on_its_grpc_port() -> None:
    grpc_port = int(config_map()["NORTHSTAR_GRPC_PORT"])
    for name, deployment in k8s_of_kind("Deployment").items():
        container = only_container(deployment)
        assert container_port(container, "grpc") == grpc_port
        for probe_kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container[probe_kind]["grpc"]
            assert probe["port"] == grpc_port, f"{name} {probe_kind}"
        # Ready means this service's own API is registered and SERVING, not just the process.
        assert container["readinessProbe"]["grpc"]["service"].startswith(f"northstar.{name}.v1.")


def test_every_deployment_is_scraped_by_prometheus_on_its_metrics_port() -> None:
    metrics_port = int(config_map()["NORTHSTAR_METRICS_PORT"])
    for deployment in k8s_of_kind("Deployment").values():
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(metrics_port)
        assert annotations["prometheus.io/path"] == "/metrics"
        assert container_port(only_container(deployment), "metrics") == metrics_port


def test_every_service_routes_grpc_and_metrics_to_its_own_pods() -> None:
    deployments = k8s_of_kind("Deployment")
    for name, service in k8s_of_kind("Service").items():
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
        targets = {port["name"]: port["targetPort"] for port in service["spec"]["ports"]}
        assert targets == {"grpc": "grpc", "metrics": "metrics"}


def test_every_pod_runs_non_root_without_privilege_escalation() -> None:
    pods = [d["spec"]["template"]["spec"] for d in k8s_of_kind("Deployment").values()]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_every_namespaced_manifest_lives_in_the_northstar_namespace() -> None:
    for manifest in k8s_manifests():
        if manifest["kind"] == "KafkaTopic":
            # The topic operator watches the Kafka cluster's namespace.
            assert manifest["metadata"]["namespace"] == "kafka", manifest["metadata"]["name"]
        elif manifest["kind"] != "Namespace":
            assert manifest["metadata"]["namespace"] == "northstar", manifest["metadata"]["name"]


# --- scaling -------------------------------------------------------------------------------


def test_writing_services_scale_on_cpu_with_a_standby_relay_and_roll_without_downtime() -> None:
    assert WRITING_SERVICES, "no service with a relay found"
    deployments = k8s_of_kind("Deployment")
    autoscalers = k8s_of_kind("HorizontalPodAutoscaler")
    for name in WRITING_SERVICES:
        spec = deployments[name]["spec"]
        # The autoscaler owns the count: a `replicas` here would reset it on every apply.
        assert "replicas" not in spec
        # A new pod is ready before an old one stops: the leader lock keeps one relay active.
        assert spec["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        }
        autoscaler = autoscalers[name]["spec"]
        assert autoscaler["scaleTargetRef"]["name"] == name
        # Two pods at least: one leads the relay, one stands by to take over.
        assert 2 <= autoscaler["minReplicas"] < autoscaler["maxReplicas"]
        assert autoscaler["maxReplicas"] > autoscaler["minReplicas"]
        cpu_metric = autoscaler["metrics"][0]["resource"]
        assert cpu_metric["name"] == "cpu"


def test_projections_scale_on_consumer_lag_up_to_the_partition_count() -> None:
    assert "projections" not in WRITING_SERVICES
    scaled = k8s_of_kind("ScaledObject")["projections"]["spec"]
    assert scaled["scaleTargetRef"]["name"] == "projections"
    # The live version's lag as the service exports it (it follows blue/green switches).
    lag = next(t for t in scaled["triggers"] if t["type"] == "prometheus")["metadata"]
    assert lag["query"] == 'max(northstar_read_model_lag_messages{read_model="goals"})'
    exported = LiveMetrics(ServiceMetrics("projections")).live_lag
    assert exported._name == "northstar_read_model_lag_messages"
    assert exported._labelnames == ("read_model",)
    assert int(lag["threshold"]) > 0
    partitions = k8s_of_kind("KafkaTopic")[topic_for("goals")]["spec"]["partitions"]
    assert 1 < scaled["minReplicaCount"] <= scaled["maxReplicaCount"] == partitions
    assert any(t["type"] == "cpu" for t in scaled["triggers"])
    assert "replicas" not in k8s_of_kind("Deployment")["projections"]["spec"]


def test_disruption_budgets_cover_every_deployment_without_blocking_drains() -> None:
    budgets = k8s_of_kind("PodDisruptionBudget")
    assert sorted(budgets) == RUNNABLE_SERVICES
    for name, budget in budgets.items():
        assert budget["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        if name in WRITING_SERVICES:
            # One pod at a time may move: the others keep serving and a standby takes the relay.
            assert budget["spec"]["maxUnavailable"] == 1
            assert "minAvailable" not in budget["spec"]


# --- topics --------------------------------------------------------------------------------


def compose_topics_service() -> Manifest:
    service: Manifest = compose()["services"]["kafka-topics"]
    return service


def compose_job_script() -> str:
    service = compose_topics_service()
    assert service["entrypoint"] == ["/bin/sh", "-ec"]
    # Compose turns $$ into $ before the shell sees the script.
    script: str = service["command"][0].replace("$$", "$")
    return script


STAND_IN_TOOL = """#!/bin/sh
{ printf '%s' "${0##*/}"; for arg in "$@"; do printf '\\t%s' "$arg"; done; printf '\\n'; } \
  >> "$CALLS_LOG"
"""


@pytest.fixture
def kafka_tools(tmp_path: Path) -> Path:
    for tool in ("kafka-topics.sh", "kafka-configs.sh"):
        path = tmp_path / tool
        path.write_text(STAND_IN_TOOL)
        path.chmod(0o755)
    return tmp_path


def run_topic_script(script: str, environment: dict[str, str], tools: Path) -> list[list[str]]:
    calls_log = tools / "calls.log"
    env = {"PATH": os.environ["PATH"], "KAFKA_BIN": str(tools), "CALLS_LOG": str(calls_log)}
    subprocess.run(["/bin/sh", "-ec", script], env=env | environment, check=True, timeout=60)
    return [line.split("\t") for line in calls_log.read_text().splitlines()]


def option_values(call: list[str], option: str) -> list[str]:
    return [call[i + 1] for i, arg in enumerate(call[:-1]) if arg == option]


def created_topics(calls: list[list[str]]) -> Iterator[tuple[str, list[str]]]:
    for call in calls:
        if call[0] == "kafka-topics.sh" and "--create" in call:
            yield option_values(call, "--topic")[0], call


def expected_event_topics() -> set[str]:
    """Every topic the services publish to or consume from today."""
    return {topic_for(name) for name in WRITING_SERVICES} | {
        hris_inbound_topic(),
        measurements_inbound_topic(),
    }


def test_compose_topic_script_creates_every_topic_and_its_dead_letters_kept_forever(
    kafka_tools: Path,
) -> None:
    replication, min_insync = "1", "1"
    environment = {k: str(v) for k, v in compose_topics_service()["environment"].items()}
    script = compose_job_script()
    calls = run_topic_script(script, environment, kafka_tools)
    created = dict(created_topics(calls))
    event_topics = set(environment["EVENT_TOPICS"].split())
    assert expected_event_topics() <= event_topics
    assert set(created) == event_topics | {dead_letter_topic(t) for t in event_topics}
    for topic, call in created.items():
        assert option_values(call, "--bootstrap-server") == [environment["BOOTSTRAP_SERVERS"]]
        partitions = environment["DLQ_PARTITIONS" if topic.endswith(".dlq") else "EVENT_PARTITIONS"]
        assert option_values(call, "--partitions") == [partitions], topic
        assert option_values(call, "--replication-factor") == [replication], topic
        configs = set(option_values(call, "--config"))
        assert {"retention.ms=-1", "retention.bytes=-1", f"min.insync.replicas={min_insync}"} <= (
            configs
        )
    # Topics that already existed get their retention (re)applied too.
    altered = {
        option_values(call, "--entity-name")[0]: option_values(call, "--add-config")[0]
        for call in calls
        if call[0] == "kafka-configs.sh"
    }
    assert set(altered) == set(created)
    assert all("retention.ms=-1" in configs.split(",") for configs in altered.values())


def test_cluster_topics_are_strimzi_kafka_topics_replicated_three_times_and_kept_forever() -> None:
    topics = k8s_of_kind("KafkaTopic")
    environment = compose_topics_service()["environment"]
    event_topics = environment["EVENT_TOPICS"].split()
    assert expected_event_topics() <= set(event_topics)
    assert set(topics) == set(event_topics) | {dead_letter_topic(t) for t in event_topics}
    for name, topic in topics.items():
        spec = topic["spec"]
        assert spec["topicName"] == name
        # The Strimzi cluster behind the services' bootstrap address (configmap.yaml).
        cluster = topic["metadata"]["labels"]["strimzi.io/cluster"]
        bootstrap = config_map()["NORTHSTAR_KAFKA_BOOTSTRAP_SERVERS"]
        assert bootstrap.startswith(f"{cluster}-kafka-bootstrap.{topic['metadata']['namespace']}.")
        partitions = environment["DLQ_PARTITIONS" if name.endswith(".dlq") else "EVENT_PARTITIONS"]
        assert spec["partitions"] == int(partitions), name
        assert spec["replicas"] == 3
        assert spec["config"]["min.insync.replicas"] == 2
        assert spec["config"]["retention.ms"] == -1
        assert spec["config"]["retention.bytes"] == -1


def test_kafka_images_match_the_kafka_release_of_the_local_broker() -> None:
    pom = (DEPLOY / "kafka" / "pom.xml").read_text()
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert match is not None
    image = f"apache/kafka:{match.group(1)}"
    assert compose()["services"]["kafka"]["image"] == image
    assert compose_topics_service()["image"] == image


def test_compose_kafka_is_one_kraft_node_that_never_deletes_events() -> None:
    environment = compose()["services"]["kafka"]["environment"]
    assert environment["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert environment["KAFKA_LOG_RETENTION_MS"] == "-1"
    assert environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    internal = compose_northstar_services()["goals"]["environment"]
    assert f"INTERNAL://{internal['NORTHSTAR_KAFKA_BOOTSTRAP_SERVERS']}" in (
        environment["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
