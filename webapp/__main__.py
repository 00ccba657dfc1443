"""`python -m webapp`: serves the web pages on loopback, reading from the services' gRPC APIs."""

from __future__ import annotations

import argparse
import os
import sys

from aiohttp import web

from northstar_cli.config import DEFAULT_BASE_PORT
from services.shared.auth import DEFAULT_DEV_SECRET, DEV_SECRET_ENV
from webapp.app import create_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webapp", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("NORTHSTAR_WEB_PORT", 8080)))
    parser.add_argument("--grpc-host", default="127.0.0.1")
    parser.add_argument(
        "--grpc-base-port",
        type=int,
        default=int(os.environ.get("NORTHSTAR_GRPC_BASE_PORT", DEFAULT_BASE_PORT)),
    )
    parser.add_argument("--tenant", default="acme", help="tenant of the dev login")
    args = parser.parse_args(argv)
    app = create_app(
        grpc_host=args.grpc_host,
        grpc_base_port=args.grpc_base_port,
        dev_secret=os.environ.get(DEV_SECRET_ENV) or DEFAULT_DEV_SECRET,
        tenant=args.tenant,
    )

    def serving(_: object) -> None:
        # devstack/run.py waits for this line.
        print(f"web: http=http://{args.host}:{args.port}/", flush=True)

    web.run_app(app, host=args.host, port=args.port, print=serving, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
