"""`northstar`: Northstar from the terminal, through the public gRPC APIs only.

Command groups are listed in COMMAND_GROUPS; another package adds its own (e.g. feedback) with
an entry point in the group `northstar.commands` naming a typer app, without changing this file.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from typing import Annotated

import typer
from rich.text import Text

from northstar_cli import feedback, goals, kpis, one_on_ones, parked, records
from northstar_cli.config import (
    DEFAULT_BASE_PORT,
    DEFAULT_HOST,
    SERVICE_OFFSETS,
    Config,
    Identity,
    config_path,
    load_config,
    save_config,
)
from northstar_cli.output import JsonFlag, console, emit, fail
from services.shared.auth import PLATFORM_OPERATOR, PLATFORM_TENANT, ROLES

ENTRY_POINT_GROUP = "northstar.commands"

app = typer.Typer(
    name="northstar",
    help="Northstar from the terminal: goals, the alignment tree, history, KPIs, feedback, 1:1s.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

COMMAND_GROUPS: list[tuple[str, typer.Typer]] = [
    ("goals", goals.app),
    ("kpi", kpis.app),
    ("rebuild", records.rebuild_app),
    ("parked", parked.app),
    ("feedback", feedback.app),
    ("1on1", one_on_ones.app),
]

app.command("tree")(records.tree)
app.command("verify")(records.verify)
app.command("export")(records.export)


def _check_roles(roles: list[str]) -> list[str]:
    unknown = sorted(set(roles) - ROLES)
    if unknown:
        raise typer.BadParameter(
            f"unknown role(s) {', '.join(unknown)}; one of {', '.join(sorted(ROLES))}"
        )
    return roles


@app.command()
def login(
    subject: Annotated[
        str, typer.Option("--as", help="Your person id (or integration account id).")
    ] = "",
    tenant: Annotated[
        str, typer.Option(help="Tenant id, e.g. acme (none for a platform operator).")
    ] = "",
    role: Annotated[
        list[str] | None,
        typer.Option(
            help="A role: employee, manager, hr_admin, auditor, integration; repeats. "
            "Or platform_operator alone (parked events, rebuilds; no tenant)."
        ),
    ] = None,
    dev: Annotated[bool, typer.Option("--dev", help="Mint dev-mode tokens (make run).")] = False,
    token: Annotated[str, typer.Option(help="Use this bearer token instead (production).")] = "",
    host: Annotated[
        str | None, typer.Option(help=f"Services' host; default {DEFAULT_HOST}.")
    ] = None,
    base_port: Annotated[
        int | None,
        typer.Option(min=1, max=65000, help=f"First gRPC port; default {DEFAULT_BASE_PORT}."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Configure who you are and where the services answer (kept for every later command)."""
    config = load_config()
    if host is not None:
        config.host = host
    if base_port is not None:
        config.base_port = base_port
    if dev:
        roles = _check_roles(role or ["employee"])
        tenant = _operator_tenant(roles, tenant)
        if not subject or not tenant:
            raise typer.BadParameter("--dev needs --as <person> and --tenant <tenant>")
        config.identity = Identity(subject=subject, tenant=tenant, roles=roles, dev=True)
    elif token:
        config.identity = Identity(subject=subject, tenant=tenant, dev=False, token=token)
    else:
        raise typer.BadParameter("say how to log in: --dev (with --as/--tenant/--role) or --token")
    path = save_config(config)
    emit(
        {"config_file": str(path), **config.to_json()} | {"identity": _public_identity(config)},
        json_output,
        lambda: console().print(
            Text(
                f"Logged in as {_who(config)}; services at {config.host}:{config.base_port}+ "
                f"(saved in {path})."
            )
        ),
    )


@app.command()
def logout(json_output: JsonFlag = False) -> None:
    """Forget the configured identity (the endpoints stay)."""
    config = load_config()
    config.identity = None
    path = save_config(config)
    emit({"config_file": str(path)}, json_output, lambda: console().print("Logged out."))


@app.command()
def whoami(json_output: JsonFlag = False) -> None:
    """Who the commands act as and where they send requests."""
    config = load_config()
    if config.identity is None:
        raise fail("not logged in: run `northstar login --dev --as <person> ...`", json_output)
    addresses = {name: config.address_of(name) for name in SERVICE_OFFSETS}
    answer = {
        "config_file": str(config_path()),
        "identity": _public_identity(config),
        "addresses": addresses,
    }

    def show() -> None:
        console().print(Text(f"{_who(config)} (config {config_path()})"))
        for name, address in addresses.items():
            console().print(Text(f"  {name:<12} {address}"))

    emit(answer, json_output, show)


def _operator_tenant(roles: list[str], tenant: str) -> str:
    """A platform operator's tokens name no tenant (the services refuse any other shape)."""
    if PLATFORM_OPERATOR not in roles:
        return tenant
    if set(roles) != {PLATFORM_OPERATOR}:
        raise typer.BadParameter(f"--role {PLATFORM_OPERATOR} is not combined with other roles")
    if tenant not in ("", PLATFORM_TENANT):
        raise typer.BadParameter(f"a {PLATFORM_OPERATOR} acts for no tenant: leave out --tenant")
    return PLATFORM_TENANT


def _who(config: Config) -> str:
    identity = config.identity
    if identity is None:
        return "nobody"
    kind = "dev token" if identity.dev else "given token"
    roles = ", ".join(identity.roles) or "-"
    return f"{identity.subject or '?'} in {identity.tenant or '?'} ({roles}; {kind})"


def _public_identity(config: Config) -> dict[str, object]:
    identity = config.identity
    if identity is None:
        return {}
    return {
        "subject": identity.subject,
        "tenant": identity.tenant,
        "roles": identity.roles,
        "dev": identity.dev,
    }


def _register_groups() -> None:
    for name, group in COMMAND_GROUPS:
        app.add_typer(group, name=name)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        app.add_typer(point.load(), name=point.name)


_register_groups()


def main() -> None:
    """The `northstar` console script."""
    sys.exit(app())
