"""deploy/docker-compose.yml is a valid compose file (the compose-spec JSON schema; `docker compose
config` too where a Docker engine answers) that runs Kafka, PostgreSQL, every service,
Prometheus with the rules and Grafana with the dashboard, each with a health check."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from devstack import deploytools

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
RUNNABLE_SERVICES = sorted(path.parent.name for path in (ROOT / "services").glob("*/__main__.py"))
ONE_SHOT = {"kafka-topics"}


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30)
    return probe.returncode == 0


def test_the_compose_file_is_valid_against_the_compose_spec_schema() -> None:
    schema = json.loads(deploytools.schema("compose-spec.json").read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    errors = [f"{e.json_path}: {e.message}" for e in validator_class(schema).iter_errors(compose())]
    assert not errors, errors


def test_the_compose_spec_schema_refuses_an_unknown_field() -> None:
    """The schema check has teeth: a misspelt key is an error, not ignored."""
    schema = json.loads(deploytools.schema("compose-spec.json").read_text())
    broken = compose()
    broken["services"]["goals"]["healtcheck"] = broken["services"]["goals"].pop("healthcheck")
    validator_class = jsonschema.validators.validator_for(schema)
    assert list(validator_class(schema).iter_errors(broken))


def test_docker_compose_config_accepts_the_file_where_an_engine_answers() -> None:
    if not docker_engine_answers():
        # No engine on this machine: the schema test above is the check (docs say so).
        return
    subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
        check=True,
        timeout=120,
    )


def test_compose_runs_kafka_postgres_every_service_prometheus_and_grafana() -> None:
    services = compose()["services"]
    assert {"kafka", "postgres", "prometheus", "grafana", *RUNNABLE_SERVICES} <= set(services)
    assert "KAFKA_PROCESS_ROLES" in services["kafka"]["environment"]  # KRaft, no ZooKeeper


def test_every_long_running_container_has_a_health_check() -> None:
    for name, service in compose()["services"].items():
        if name in ONE_SHOT:
            assert service["restart"] == "no"
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test, f"{name} has no health check"
    for name in RUNNABLE_SERVICES:
        test = compose()["services"][name]["healthcheck"]["test"]
        # The service's own gRPC health, not just a port: SERVING for its API's full name.
        assert test[:2] == ["CMD", "northstar-healthcheck"]
        assert test[test.index("--service") + 1].startswith(f"northstar.{name}.v1.")


def test_prometheus_scrapes_every_service_with_the_rules_and_grafana_gets_the_dashboard() -> None:
    services = compose()["services"]
    mounts = {
        volume.split(":")[1]: DEPLOY / volume.split(":")[0]
        for volume in services["prometheus"]["volumes"]
        if volume.startswith("./")
    }
    config_flag = next(a for a in services["prometheus"]["command"] if "--config.file=" in a)
    config_path = Path(config_flag.split("=", 1)[1])
    config_file = mounts[str(config_path.parent)] / config_path.name
    config = yaml.safe_load(config_file.read_text())
    for rule_file in config["rule_files"]:
        assert (config_file.parent / rule_file).is_file()
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "northstar")
    scraped = {target["labels"]["service"]: target["targets"] for target in job["static_configs"]}
    metrics_port = services["goals"]["environment"]["NORTHSTAR_METRICS_PORT"]
    assert scraped == {name: [f"{name}:{metrics_port}"] for name in RUNNABLE_SERVICES}

    grafana_mounts = {
        volume.split(":")[1]: DEPLOY / volume.split(":")[0]
        for volume in services["grafana"]["volumes"]
        if volume.startswith("./")
    }
    provisioning = grafana_mounts["/etc/grafana/provisioning"]
    provider = yaml.safe_load((provisioning / "dashboards" / "northstar.yml").read_text())
    dashboards = grafana_mounts[provider["providers"][0]["options"]["path"]]
    assert (dashboards / "northstar.json").is_file()
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


@pytest.mark.parametrize("name", RUNNABLE_SERVICES)
def test_each_service_is_built_from_its_own_dockerfile_target(name: str) -> None:
    service = compose()["services"][name]
    assert service["build"]["target"] == name
    assert f"FROM runtime AS {name}\n" in (DEPLOY / "Dockerfile").read_text()
