"""DeployAccessStack: GitHub Actions' way into the account (OIDC), deployed once per account."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from openmarket_cdk.config import GITHUB_REPOSITORY, StageConfig, all_stage_configs
from openmarket_cdk.config.facts import (
    GITHUB_DEPLOY_ROLE_NAME,
    GITHUB_DIFF_ROLE_NAME,
)
from openmarket_cdk.constructs.deploy_access_deploy_role import GitHubDeployRole
from openmarket_cdk.constructs.deploy_access_roles import (
    GITHUB_OIDC_HOST,
    STS_AUDIENCE,
    GitHubRole,
    bootstrap_role_arn,
)

GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"

# Fixed names: the workflows build the role ARNs from the account id and these.
DEPLOY_ROLE_NAME = GITHUB_DEPLOY_ROLE_NAME
DIFF_ROLE_NAME = GITHUB_DIFF_ROLE_NAME

DEPLOY_BRANCH = "main"
# Jobs that name a GitHub environment get `repo:<repo>:environment:<name>` as their subject
# instead of the branch. The production-like stages (StagePolicy; staging and prod) deploy
# behind an environment of their name, with required reviewers.
APPROVAL_ENVIRONMENTS: tuple[str, ...] = tuple(
    config.name for config in all_stage_configs() if config.policy.production_like
)

# The bootstrap roles `cdk deploy` assumes (bootstrap template v8+). The deploy role also
# reads the bootstrap version parameter; the lookup role has ReadOnlyAccess (with
# kms:Decrypt denied), which is what `cdk diff --method=template` reads templates with.
DEPLOY_BOOTSTRAP_ROLES: tuple[str, ...] = (
    "deploy",
    "file-publishing",
    "image-publishing",
    "lookup",
)
DIFF_BOOTSTRAP_ROLES: tuple[str, ...] = ("lookup",)

# A stage deploy with EKS and Aurora can outlast the 1-hour default; the CLI re-assumes the
# (1-hour, chained) bootstrap roles from this session as long as it lives.
DEPLOY_SESSION = Duration.hours(2)
DIFF_SESSION = Duration.hours(1)

_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def deploy_subjects(repository: str) -> list[str]:
    """The OIDC subjects the deploy role trusts: main, and the approval environments."""
    return [
        f"repo:{repository}:ref:refs/heads/{DEPLOY_BRANCH}",
        *(f"repo:{repository}:environment:{name}" for name in APPROVAL_ENVIRONMENTS),
    ]


def diff_subjects(repository: str) -> list[str]:
    """The OIDC subject of a pull request's workflow run (same-repository PRs only)."""
    return [f"repo:{repository}:pull_request"]


class DeployAccessStack(Stack):
    """How GitHub Actions reaches AWS for OpenMarket, without stored AWS keys.

    Deploys, once per account and outside every stage:

    - the GitHub OIDC identity provider (``token.actions.githubusercontent.com``, audience
      ``sts.amazonaws.com``; AWS validates GitHub's certificate itself, no thumbprint), or uses
      an existing one when ``existing_provider_arn`` is given (IAM allows one per account);
    - ``openmarket-github-deploy``, trusted only for ``repo:<repo>:ref:refs/heads/main`` and the
      GitHub environments ``staging`` and ``prod`` of the configured repository, which may
      assume the CDK bootstrap deploy, file-publishing, image-publishing and lookup roles;
    - ``openmarket-github-diff``, trusted only for the repository's pull requests, which may
      assume the bootstrap lookup role and nothing else (``cdk diff --method=template``).

    Neither role has any permission of its own beyond ``sts:AssumeRole`` on those exact role
    ARNs: what a deploy may change is what the bootstrap's CloudFormation execution role may.
    Narrow exceptions for the deploy role: finding ALBs by name (the smoke test), reading
    image tags of OpenMarket's repositories (the image preflight), waking a stage that sleeps
    outside working hours (``sleeping_stages``: describe and scale up its one node group,
    describe and start its one Aurora cluster), and, for the ``snapshot_stages``, a manual
    snapshot of the stage's Aurora cluster before the deploy (``make snapshot``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository: str = GITHUB_REPOSITORY,
        existing_provider_arn: str | None = None,
        sleeping_stages: Sequence[StageConfig] = (),
        snapshot_stages: Sequence[StageConfig] = (),
        restricted_alb_stages: Sequence[StageConfig] = (),
        preflight_stages: Sequence[StageConfig] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if not _REPOSITORY.fullmatch(repository):
            raise ValueError(f"GitHub repository {repository!r}: expected 'owner/name'")
        self.repository = repository

        # --- the OIDC provider (stateful: a direct child) ----------------------------------
        if existing_provider_arn:
            provider: iam.IOidcProvider = iam.OidcProviderNative.from_oidc_provider_arn(
                self, "GitHubOidcProvider", existing_provider_arn
            )
        else:
            provider = iam.OidcProviderNative(
                self,
                "GitHubOidcProvider",
                url=GITHUB_OIDC_URL,
                client_ids=[STS_AUDIENCE],
            )
        self.provider = provider

        # --- the deploy role and the diff role ---------------------------------------------
        self.deploy_role = GitHubDeployRole(
            self,
            "DeployRole",
            provider=provider,
            role_name=DEPLOY_ROLE_NAME,
            subjects=deploy_subjects(repository),
            bootstrap_roles=DEPLOY_BOOTSTRAP_ROLES,
            max_session=DEPLOY_SESSION,
            description=(
                f"GitHub Actions deploys of {repository} (main branch, staging and prod "
                "environments): may only assume the CDK bootstrap roles, find ALBs and check images"
            ),
        )
        self.diff_role = GitHubRole(
            self,
            "DiffRole",
            provider=provider,
            role_name=DIFF_ROLE_NAME,
            subjects=diff_subjects(repository),
            bootstrap_roles=DIFF_BOOTSTRAP_ROLES,
            max_session=DIFF_SESSION,
            description=(
                f"GitHub Actions pull-request diffs of {repository}: "
                "may only assume the read-only CDK lookup role"
            ),
        )

        # --- what the deploy workflow's make targets may do besides deploying -------------
        self.deploy_role.allow_alb_lookup()
        self.deploy_role.allow_image_preflight()
        self.deploy_role.allow_preflight(preflight_stages)
        self.deploy_role.allow_waking(sleeping_stages)
        self.deploy_role.allow_smoke_access(restricted_alb_stages)
        for stage in snapshot_stages:
            self.deploy_role.allow_predeploy_snapshot(stage)

        CfnOutput(self, "DeployRoleArn", value=self.deploy_role.role_arn)
        CfnOutput(self, "DiffRoleArn", value=self.diff_role.role_arn)

    def bootstrap_role_arn(self, kind: str) -> str:
        """The ARN of one CDK bootstrap role (``deploy``, ``lookup``, ...) in this env."""
        return bootstrap_role_arn(self, kind)
