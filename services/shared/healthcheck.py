"""`northstar-healthcheck`: asks a service's standard gRPC health check whether it is SERVING.

Container healthchecks (docker compose) run it inside the service's image, which has no
grpcurl: exit status 0 when SERVING, 1 otherwise, with one line saying what was seen.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="northstar-healthcheck", description=__doc__)
    parser.add_argument(
        "--address",
        default=f"127.0.0.1:{os.environ.get('NORTHSTAR_GRPC_PORT', '50051')}",
        help="host:port of the gRPC server (default: 127.0.0.1:$NORTHSTAR_GRPC_PORT, else 50051)",
    )
    parser.add_argument(
        "--service",
        default="",
        help='the service name to ask for, e.g. northstar.goals.v1.GoalService ("": the process)',
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with grpc.insecure_channel(args.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer = stub.Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        except grpc.RpcError as error:
            print(f"{args.address}: {error.code().name}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    print(f"{args.address} {args.service or '(process)'}: {status}")
    return 0 if answer.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
