"""Prints where a deployed stage answers: `make url STAGE=dev`.

A stage with a domain: ``https://<domain>`` (a placeholder domain is refused: nothing answers
there). Without one (dev): ``http://`` and the DNS name of the ALB the ingress controller made,
looked up by its name. dev's ALB sleeps at night and comes back with a new DNS name each
morning, so bookmarks of it go stale; this is the way to the current one (none: the stage
sleeps, `make wake STAGE=dev`).
"""

from __future__ import annotations

import sys

from openmarket_cdk.config import STAGE_NAMES
from openmarket_cdk.config.edge import is_reserved_domain
from scripts.aws_access import OperatorError, client, require_credentials, run
from scripts.cli_config import stage_config_from_cli


def stage_url(stage: str, cdk_args: list[str]) -> int:
    config = stage_config_from_cli(stage, cdk_args)
    if config.edge is not None:
        if is_reserved_domain(config.edge.domain_name):
            raise OperatorError(
                f"{config.name}'s domain {config.edge.domain_name} is a placeholder "
                "(edge.domain_name): set the real one (openmarket_cdk/config/stages.py or "
                "-c domain=...)"
            )
        print(config.edge.url)
        return 0
    require_credentials()
    elbv2 = client("elbv2", config.region)
    try:
        (balancer,) = elbv2.describe_load_balancers(Names=[config.names.load_balancer_name])[
            "LoadBalancers"
        ]
    except elbv2.exceptions.LoadBalancerNotFoundException:
        raise OperatorError(
            f"{config.names.load_balancer_name} does not exist: {config.name} sleeps or is not "
            f"deployed (make wake STAGE={config.name})"
        ) from None
    print(f"http://{balancer['DNSName']}")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in STAGE_NAMES:
        print(f"usage: stage_url.py {{{','.join(STAGE_NAMES)}}} [CDK arguments]", file=sys.stderr)
        return 2
    return run(f"make url STAGE={argv[0]}", lambda: stage_url(argv[0], argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
