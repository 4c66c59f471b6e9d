"""Prints where a deployed stage answers: `make url STAGE=dev`.

A stage with a domain: ``https://<domain>``. Without one (dev): ``http://`` and the DNS name
of the ALB the ingress controller made, looked up by its name. dev's ALB sleeps at night and
comes back with a new DNS name each morning, so bookmarks of it go stale; this is the way
to the current one (an empty answer: the stage sleeps, `make wake STAGE=dev`).
"""

from __future__ import annotations

import sys

import boto3

from openmarket_cdk.config import STAGE_NAMES, stage_config


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in STAGE_NAMES:
        print(f"usage: stage_url.py {{{','.join(STAGE_NAMES)}}}", file=sys.stderr)
        return 2
    config = stage_config(argv[0])
    if config.edge is not None:
        print(f"https://{config.edge.domain_name}")
        return 0
    elbv2 = boto3.client("elbv2", region_name=config.region)
    try:
        (balancer,) = elbv2.describe_load_balancers(Names=[config.load_balancer_name])[
            "LoadBalancers"
        ]
    except elbv2.exceptions.LoadBalancerNotFoundException:
        print(
            f"{config.load_balancer_name} does not exist: {config.name} sleeps or is not "
            f"deployed (make wake STAGE={config.name})",
            file=sys.stderr,
        )
        return 1
    print(f"http://{balancer['DNSName']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
