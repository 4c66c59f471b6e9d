"""Prints the arguments of scripts/smoke_test.sh for one stage, from the stage config.

``make smoke STAGE=dev`` runs ``scripts/smoke_test.sh $(scripts/smoke_args.py dev)``: the ALB
name the Ingress gives the load balancer, the backend's health path, and, when the stage
has a domain or a certificate, the Host header and HTTPS.
"""

from __future__ import annotations

import sys
from pathlib import Path

from openmarket_cdk.config import StageConfig, stage_config

ROOT = Path(__file__).resolve().parents[1]


def smoke_args(config: StageConfig) -> list[str]:
    """``--alb openmarket-<stage>-alb --path /api/health`` (+ ``--host``, ``--https``)."""
    k8s = config.kubernetes
    # The name chart_values gives the Ingress's load-balancer-name annotation (a test checks
    # the two agree); computed here without cdk8s, so no Node process starts.
    args = ["--alb", f"{config.prefix}-alb", "--path", k8s.backend.health_path]
    if k8s.domain_name:
        args += ["--host", k8s.domain_name]
    if k8s.certificate_arn:
        args.append("--https")
    return args


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: smoke_args.py STAGE", file=sys.stderr)
        return 2
    print(" ".join(smoke_args(stage_config(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
