"""Prints the arguments of scripts/smoke_test.sh for one stage, from the stage config.

``make smoke STAGE=prod`` runs ``scripts/smoke_test.sh $(scripts/smoke_args.py prod
$(CDK_ARGS))``. A stage with a domain is checked where shoppers go: its HTTPS URL, and plain
HTTP on the same name must redirect there (a placeholder domain is refused at once: retrying
it would only wait). A stage without one (dev) is checked through the ALB the Ingress names,
over HTTP. Context overrides (``-c domain=...``) count, as in deploy.
"""

from __future__ import annotations

import sys

from openmarket_cdk.config import StageConfig
from openmarket_cdk.config.edge import is_reserved_domain
from scripts.aws_access import OperatorError, run
from scripts.cli_config import stage_config_from_cli


def smoke_args(config: StageConfig) -> list[str]:
    """``--url https://<domain><health> --redirect-from http://<domain><health>``, or
    ``--alb openmarket-<stage>-alb --path <health>`` for a stage without a domain."""
    health = config.kubernetes.backend.health_path
    if config.edge is not None:
        domain = config.edge.domain_name
        if is_reserved_domain(domain):
            raise OperatorError(
                f"{config.name}'s domain {domain} is a placeholder (edge.domain_name): nothing "
                "answers there; set the real one (openmarket_cdk/config/stages.py or "
                "-c domain=...)"
            )
        return ["--url", f"https://{domain}{health}", "--redirect-from", f"http://{domain}{health}"]
    # The name chart_values gives the Ingress's load-balancer-name annotation (a test checks
    # the two agree); computed here without cdk8s, so no Node process starts.
    return ["--alb", config.names.load_balancer_name, "--path", health]


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: smoke_args.py STAGE [CDK arguments...]", file=sys.stderr)
        return 2

    def body() -> int:
        print(" ".join(smoke_args(stage_config_from_cli(argv[0], argv[1:]))))
        return 0

    return run(f"make smoke STAGE={argv[0]}", body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
