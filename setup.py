"""Build step of the distribution: the gRPC code is generated from proto/ while building.

The generated `northstar.*` package is never committed, so a wheel built from a clean
checkout would otherwise lack it and every service would fail on import. Building runs
grpc_tools.protoc (a build requirement, pinned in pyproject.toml, so the code matches the
grpcio the services run with) into the build folder and packages the result.

What gets packaged follows the tree being built: every service folder present under
services/ becomes a package with its console entry point (`northstar-<service>`), and only the
APIs of those services are generated. A service image copies services/shared and its own
folder only, so its wheel holds that service's code and nothing else.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROTO_ROOT = ROOT / "proto"
BUILD_OUTPUT = ROOT / "build" / "generated"
GENERATED = "northstar"
SHARED = "shared"


def present_services() -> list[str]:
    """Service folders in this tree that a process can run (they have a __main__.py)."""
    return sorted(
        path.parent.name
        for path in (ROOT / "services").glob("*/__main__.py")
        if path.parent.name != SHARED
    )


def service_protos() -> list[Path]:
    """proto/northstar/<service>/v*/... of the services present (each API under its name)."""
    services = set(present_services())
    return sorted(
        path
        for path in PROTO_ROOT.rglob("*.proto")
        if path.relative_to(PROTO_ROOT).parts[1] in services
    )


def generated_packages() -> list[str]:
    packages = {GENERATED}
    for proto in service_protos():
        parts = proto.relative_to(PROTO_ROOT).parent.parts
        packages.update(".".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    return sorted(packages)


def generate_grpc_code(out_dir: Path) -> None:
    """protoc into out_dir/northstar/..., with an __init__.py in every folder."""
    from grpc_tools import protoc  # a build requirement; imported only when building

    protos = [str(path.relative_to(PROTO_ROOT)) for path in service_protos()]
    if not protos:
        raise SystemExit("no .proto files of a present service under proto/")
    shutil.rmtree(out_dir / GENERATED, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"  # google/protobuf/*.proto
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            *protos,
        ]
    )
    if status != 0:
        raise SystemExit(f"grpc_tools.protoc failed with status {status}")
    for package in generated_packages():
        (out_dir / package.replace(".", "/") / "__init__.py").touch()


class BuildWithGrpcCode(build_py):
    """build_py that first generates the gRPC code the packages import."""

    def run(self) -> None:
        # An editable install maps `northstar` onto the source tree, so it is generated there
        # (`make proto` regenerates it with the type stubs); a wheel takes it from build/.
        generate_grpc_code(ROOT if self.editable_mode else BUILD_OUTPUT)
        super().run()


# The people-facing clients of the gRPC APIs: the `northstar` console command and the web
# pages. A service image leaves them out (it copies services/ only), so they come with a wheel
# built from the whole tree.
CLIENTS = ("northstar_cli", "webapp")


def present_clients() -> list[str]:
    return [name for name in CLIENTS if (ROOT / name / "__init__.py").is_file()]


def entry_points() -> dict[str, list[str]]:
    scripts = [f"northstar-{name} = services.{name}.__main__:cli" for name in present_services()]
    scripts.append("northstar-healthcheck = services.shared.healthcheck:main")
    if "northstar_cli" in present_clients():
        scripts.append("northstar = northstar_cli.app:main")
    return {"console_scripts": scripts}


def package_dirs() -> dict[str, str]:
    """Where setuptools finds the generated packages: the source tree for an editable install,
    build/generated for a wheel (never a stale copy in the source tree). Their folders exist
    before build_py fills them, because the metadata steps look for them first."""
    editable = "editable_wheel" in sys.argv
    output = ROOT if editable else BUILD_OUTPUT
    for package in generated_packages():
        folder = output / package.replace(".", "/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").touch()
    return {} if editable else {GENERATED: str((BUILD_OUTPUT / GENERATED).relative_to(ROOT))}


clients = [f"{client}{suffix}" for client in present_clients() for suffix in ("", ".*")]
packages = find_packages(include=["services", "services.*", *clients]) + generated_packages()
package_dir = package_dirs()

setup(
    packages=packages,
    package_dir=package_dir,
    entry_points=entry_points(),
    # The web pages' templates and static files travel with their package.
    package_data={"webapp": ["templates/*.html", "static/*"]},
    cmdclass={"build_py": BuildWithGrpcCode},
)
