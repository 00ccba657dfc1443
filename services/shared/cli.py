"""Operator command line: `python -m services.shared.cli mint-token ...` prints a dev-mode JWT."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from services.shared.auth import (
    DEFAULT_DEV_SECRET,
    DEV_SECRET_ENV,
    PLATFORM_OPERATOR,
    PLATFORM_TENANT,
    ROLES,
    mint_dev_token,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.shared.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    mint = commands.add_parser(
        "mint-token", help="print a dev-mode (HS256) bearer token for the gRPC APIs"
    )
    mint.add_argument("--subject", required=True, help="person or integration account id")
    mint.add_argument(
        "--tenant",
        default=None,
        help=f"tenant id (required, except for --role {PLATFORM_OPERATOR}: "
        f"its tokens name no tenant, {PLATFORM_TENANT!r})",
    )
    mint.add_argument(
        "--role",
        action="append",
        required=True,
        choices=sorted(ROLES),
        help="a role of the subject; repeat for several",
    )
    mint.add_argument(
        "--secret",
        default=None,
        help=f"signing secret (default: ${DEV_SECRET_ENV}, else the built-in dev secret)",
    )
    mint.add_argument("--ttl-seconds", type=int, default=3600, help="validity (default 3600)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if PLATFORM_OPERATOR in args.role:
        if len(set(args.role)) > 1:
            parser.error(f"--role {PLATFORM_OPERATOR} is not combined with other roles")
        if args.tenant not in {None, PLATFORM_TENANT}:
            parser.error(f"a {PLATFORM_OPERATOR} acts for no tenant: leave out --tenant")
        args.tenant = PLATFORM_TENANT
    elif not args.tenant:
        parser.error("--tenant is required")
    secret = args.secret or os.environ.get(DEV_SECRET_ENV) or DEFAULT_DEV_SECRET
    token = mint_dev_token(
        secret,
        subject=args.subject,
        tenant_id=args.tenant,
        roles=args.role,
        ttl_seconds=args.ttl_seconds,
    )
    sys.stdout.write(token + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
