"""Refuses a deploy whose backend or frontend image is not in the stage's ECR repository.

``scripts/preflight-deploy.sh`` (``make deploy``, the deploy workflow) runs it before
``cdk deploy``: a missing tag would otherwise surface much later, as pods that never pull,
a Deployment that never becomes ready and a smoke test that fails after a 30-minute deploy.
The repositories and tags come from the stage config, as the charts' image URIs do.
"""

from __future__ import annotations

import sys
from typing import Any

from openmarket_cdk.config import StageConfig
from scripts.preflight_edge import stage_config_from_cli


def missing_images(config: StageConfig, ecr: Any) -> list[str]:
    """One line per image the stage deploys that its ECR repository does not hold."""
    problems: list[str] = []
    for workload in (config.kubernetes.backend, config.kubernetes.frontend):
        repository = config.ecr_repository_name(workload)
        image = f"{repository}:{workload.image_tag}"
        try:
            ecr.describe_images(
                repositoryName=repository, imageIds=[{"imageTag": workload.image_tag}]
            )
        except ecr.exceptions.RepositoryNotFoundException:
            problems.append(
                f"{image}: repository {repository} does not exist in {config.region}. "
                f"Create the registries first (make deploy-registries STAGE={config.name}), "
                "then push the image."
            )
        except ecr.exceptions.ImageNotFoundException:
            problems.append(
                f"{image}: tag {workload.image_tag} is not in {repository}. Push it, or set "
                f"the stage's {workload.name} image_tag to a tag that is there."
            )
    return problems


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: preflight_images.py STAGE [CDK CLI arguments]", file=sys.stderr)
        return 2
    import boto3  # only here: importing this module for its tests needs no AWS SDK session

    # The tags the app would deploy with these CDK arguments (``-c backend_image_tag=...``).
    config = stage_config_from_cli(argv[0], argv[1:])
    problems = missing_images(config, boto3.client("ecr", region_name=config.region))
    for problem in problems:
        print(f"make deploy STAGE={config.name}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
