"""Where the services answer and who the caller is, kept in one file under the user's config dir.

`northstar login` writes it once; every other command reads it. The file is JSON (Python reads
and writes it without extra packages) at `$NORTHSTAR_CONFIG`, else
`<user config dir>/northstar/config.json` (`~/.config/northstar/config.json` on Linux).
A dev identity is stored, not a token: each command mints a fresh short-lived dev token from it,
so a login never expires while `make run` keeps its default secret.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import typer

CONFIG_ENV = "NORTHSTAR_CONFIG"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_BASE_PORT = 50051
# gRPC port = base + offset: the layout `make run` uses (devstack/run.py, SERVICE_PORTS; a unit
# test keeps the two tables equal). The feedback service's slot is reserved for when it joins.
SERVICE_OFFSETS = {"directory": 0, "goals": 1, "feedback": 2, "kpi": 3, "projections": 4}


class NotLoggedIn(Exception):
    """No identity is configured yet."""


@dataclass
class Identity:
    """Who the commands act as: a dev identity (token minted per command) or a given token."""

    subject: str = ""
    tenant: str = ""
    roles: list[str] = field(default_factory=list)
    dev: bool = True
    token: str = ""
    dev_secret: str = ""  # "" uses $NORTHSTAR_JWT_DEV_SECRET, else the built-in dev secret


@dataclass
class Config:
    host: str = DEFAULT_HOST
    base_port: int = DEFAULT_BASE_PORT
    # Per-service "host:port" overrides, e.g. {"goals": "goals.internal:443"}.
    addresses: dict[str, str] = field(default_factory=dict)
    identity: Identity | None = None

    def address_of(self, service: str) -> str:
        if service in self.addresses:
            return self.addresses[service]
        return f"{self.host}:{self.base_port + SERVICE_OFFSETS[service]}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Config:
        identity = raw.get("identity")
        return cls(
            host=str(raw.get("host", DEFAULT_HOST)),
            base_port=int(raw.get("base_port", DEFAULT_BASE_PORT)),
            addresses={str(k): str(v) for k, v in (raw.get("addresses") or {}).items()},
            identity=Identity(**identity) if isinstance(identity, dict) else None,
        )


def config_path() -> Path:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit)
    return Path(typer.get_app_dir("northstar")) / "config.json"


def load_config() -> Config:
    path = config_path()
    if not path.exists():
        return Config()
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise typer.BadParameter(f"cannot read the config file {path}: {error}") from error
    if not isinstance(raw, dict):
        raise typer.BadParameter(f"the config file {path} does not hold a JSON object")
    return Config.from_json(raw)


def save_config(config: Config) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # The file may hold a bearer token: readable by its owner only.
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(config.to_json(), indent=2) + "\n")
    temporary.chmod(0o600)
    temporary.replace(path)
    return path
