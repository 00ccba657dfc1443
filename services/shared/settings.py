"""Process settings from the environment (NORTHSTAR_*), the same for every service."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NORTHSTAR_", extra="ignore")

    data_dir: Path = Field(Path(".data"), description="Where embedded SQLite stores live.")
    store_url: str = Field(
        "", description="Event/read-model store; empty = sqlite:///<data_dir>/<service>.db"
    )
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]."
    )
    grpc_host: str = Field(
        "127.0.0.1", description="Address gRPC and /metrics bind (0.0.0.0 in a container)."
    )
    grpc_port: int = Field(0, ge=0, le=65535, description="0 picks a free port.")
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Prometheus /metrics port; 0 picks a free port."
    )
    auth_mode: Literal["dev", "production"] = Field(
        "dev", description="dev: HS256 tokens (dev secret); production: RS256 (public keys)."
    )
    jwt_dev_secret: str = Field(
        "northstar-dev-secret", description="Dev mode only: the HS256 signing secret."
    )
    jwt_public_keys_dir: Path | None = Field(
        None, description="Production: folder of <kid>.pem RSA (RS256) or P-256 (ES256) keys."
    )
    jwt_jwks_url: str = Field(
        "", description="Production: the identity provider's JWKS URL (instead of local keys)."
    )
    jwt_jwks_cache_seconds: float = Field(300.0, gt=0, description="Key set refresh period.")
    jwt_jwks_refetch_interval_seconds: float = Field(
        30.0, ge=0, description="Fewest seconds between two fetches (unknown kid, failures)."
    )
    jwt_jwks_timeout_seconds: float = Field(5.0, gt=0)
    jwt_issuer: str = Field("northstar", min_length=1, description="Required `iss`.")
    jwt_audience: str = Field("northstar", min_length=1, description="Required in `aud`.")
    jwt_leeway_seconds: float = Field(10.0, ge=0, le=300, description="Clock skew tolerated.")
    jwt_max_lifetime_seconds: float = Field(
        86_400.0, gt=0, description="Longest `exp - iat` a token may have."
    )
    jwt_require_nbf: bool = Field(True, description="Off for IdPs that send no `nbf`.")
    jwt_tenant_claim: str = Field("tenant", min_length=1, description="Name or dotted path.")
    jwt_roles_claim: str = Field("roles", min_length=1, description="Name or dotted path.")
    topic_namespace: str = Field(
        "northstar", description="First part of every topic name (isolates test runs)."
    )
    relay_stall_threshold_seconds: float = Field(
        30.0, gt=0, description="Pending and unpublished this long: the relay's health fails."
    )
    kafka_log_repeat_interval_seconds: float = Field(
        30.0, ge=0, description="The Kafka client logs one line of each warning per interval."
    )
    read_wait_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest a query waits for a consistency token."
    )
    request_retention_hours: float = Field(
        24.0, gt=0, description="How long a command's request id is remembered for retries."
    )

    @property
    def request_retention(self) -> timedelta:
        return timedelta(hours=self.request_retention_hours)

    def store_url_for(self, service: str) -> str:
        if self.store_url:
            return self.store_url
        return f"sqlite:///{(self.data_dir / f'{service}.db').resolve()}"

    def topic_for(self, service: str) -> str:
        return topic_for(service, self.topic_namespace)


def topic_for(service: str, namespace: str = "northstar") -> str:
    """Public, versioned topic of a service's events."""
    return f"{namespace}.{service}.v1"
