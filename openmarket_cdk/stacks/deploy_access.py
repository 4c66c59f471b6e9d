"""DeployAccessStack: GitHub Actions' way into the account (OIDC), deployed once per account."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aws_cdk import ArnFormat, CfnOutput, DefaultStackSynthesizer, Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from openmarket_cdk.config import (
    GITHUB_REPOSITORY,
    SMOKE_ACCESS_TAG,
    StageConfig,
)
from openmarket_cdk.config.model import GITHUB_DEPLOY_ROLE_NAME, GITHUB_DIFF_ROLE_NAME
from openmarket_cdk.nag import acknowledge

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
# What aws-actions/configure-aws-credentials asks GitHub to put in the token's `aud`.
STS_AUDIENCE = "sts.amazonaws.com"

# Fixed names: the workflows build the role ARNs from the account id and these.
DEPLOY_ROLE_NAME = GITHUB_DEPLOY_ROLE_NAME
DIFF_ROLE_NAME = GITHUB_DIFF_ROLE_NAME

DEPLOY_BRANCH = "main"
# Jobs that name a GitHub environment get `repo:<repo>:environment:<name>` as their subject
# instead of the branch. staging and prod run behind those environments' required reviewers.
APPROVAL_ENVIRONMENTS: tuple[str, ...] = ("staging", "prod")

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

        self.deploy_role = self._github_role(
            "DeployRole",
            role_name=DEPLOY_ROLE_NAME,
            subjects=deploy_subjects(repository),
            bootstrap_roles=DEPLOY_BOOTSTRAP_ROLES,
            max_session=DEPLOY_SESSION,
            description=(
                f"GitHub Actions deploys of {repository} (main branch, staging and prod "
                "environments): may only assume the CDK bootstrap roles, find ALBs and check images"
            ),
        )
        self.diff_role = self._github_role(
            "DiffRole",
            role_name=DIFF_ROLE_NAME,
            subjects=diff_subjects(repository),
            bootstrap_roles=DIFF_BOOTSTRAP_ROLES,
            max_session=DIFF_SESSION,
            description=(
                f"GitHub Actions pull-request diffs of {repository}: "
                "may only assume the read-only CDK lookup role"
            ),
        )

        # The post-deploy smoke test finds each stage's ALB by name: the AWS Load Balancer
        # Controller creates it, so it is no CloudFormation output. Read-only, and
        # DescribeLoadBalancers has no resource-level permissions.
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(
                actions=["elasticloadbalancing:DescribeLoadBalancers"], resources=["*"]
            )
        )
        acknowledge(
            self.deploy_role,
            "AwsSolutions-IAM5[Resource::*]",
            "elasticloadbalancing:DescribeLoadBalancers (read-only, for the smoke test) has no "
            "resource-level permissions.",
        )
        # make deploy's preflight (scripts/preflight_images.py) refuses a deploy whose image
        # tags are not in the stages' ECR repositories: read-only, OpenMarket's repositories.
        repositories = self.format_arn(
            service="ecr", resource="repository", resource_name="openmarket/*"
        )
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(actions=["ecr:DescribeImages"], resources=[repositories])
        )
        acknowledge(
            self.deploy_role,
            f"AwsSolutions-IAM5[Resource::{repositories}]",
            "ecr:DescribeImages (read-only, the image preflight) on every stage's repositories "
            "(openmarket/<stage>/...), which the preflight checks before each deploy.",
        )
        self._allow_preflight(preflight_stages)
        self._allow_waking(sleeping_stages)
        self._allow_smoke_access(restricted_alb_stages)
        for stage in snapshot_stages:
            self._allow_predeploy_snapshot(stage)
        CfnOutput(self, "DeployRoleArn", value=self.deploy_role.role_arn)
        CfnOutput(self, "DiffRoleArn", value=self.diff_role.role_arn)

    def _allow_preflight(self, stages: Sequence[StageConfig]) -> None:
        """``make preflight`` (run first by ``make deploy``): read-only looks at what a first
        deploy needs, each on exactly the resource it checks."""
        bootstrap_stack = self.format_arn(
            service="cloudformation", resource="stack", resource_name="CDKToolkit/*"
        )
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudformation:DescribeStacks"], resources=[bootstrap_stack]
            )
        )
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(
                # The SES account's sandbox state and the sender identities: no resource-level
                # permissions for GetAccount; identities are named in the stages' configs.
                actions=["ses:GetAccount", "ses:GetEmailIdentity"],
                resources=["*"],
            )
        )
        for config in stages:
            self.deploy_role.add_to_policy(
                iam.PolicyStatement(
                    actions=["iam:GetRole"],
                    resources=[config.admin_role_arn],
                )
            )
            # Whether the Slack URLs are stored (the name ends in a suffix Secrets Manager adds).
            slack_secret = self.format_arn(
                service="secretsmanager",
                resource="secret",
                resource_name=f"{config.slack_webhooks_secret_name}-??????",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            self.deploy_role.add_to_policy(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"], resources=[slack_secret]
                )
            )
            acknowledge(
                self.deploy_role,
                f"AwsSolutions-IAM5[Resource::{slack_secret}]",
                "One secret; the six characters are the suffix Secrets Manager appends.",
            )
        # The current Amazon Linux 2023 images (AWS's public parameters), for the NAT note.
        al2023 = (
            f"arn:{self.partition}:ssm:{self.region}::parameter/aws/service/"
            "ami-amazon-linux-latest/al2023-ami-kernel-default-*"
        )
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[al2023])
        )
        acknowledge(
            self.deploy_role,
            f"AwsSolutions-IAM5[Resource::{al2023}]",
            "AWS's public image parameters of Amazon Linux 2023 (arm64 and x86_64); read-only.",
        )
        acknowledge(
            self.deploy_role,
            f"AwsSolutions-IAM5[Resource::{bootstrap_stack}]",
            "The bootstrap stack's ARN ends in an id CloudFormation assigns; read-only.",
        )

    def _allow_waking(self, stages: Sequence[StageConfig]) -> None:
        """``make wake`` in the deploy workflow: a deploy into a sleeping stage would wait for
        nodes (Helm releases, charts) that the night removed. It runs the stage's own
        stage-sleep function (which does the waking, under its own role) and watches the
        stage come back: the deploy role itself changes nothing of the stage."""
        for config in stages:
            self.deploy_role.add_to_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"],
                    resources=[
                        self.format_arn(
                            service="lambda",
                            resource="function",
                            resource_name=config.stage_sleep_function_name,
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                )
            )
            # Whether the stage is deployed, and when its node groups are back.
            cluster = self.format_arn(
                service="eks", resource="cluster", resource_name=config.cluster_name
            )
            nodegroups = self.format_arn(
                service="eks", resource="nodegroup", resource_name=f"{config.cluster_name}/*/*"
            )
            self.deploy_role.add_to_policy(
                iam.PolicyStatement(
                    actions=["eks:DescribeCluster", "eks:ListNodegroups"], resources=[cluster]
                )
            )
            self.deploy_role.add_to_policy(
                iam.PolicyStatement(actions=["eks:DescribeNodegroup"], resources=[nodegroups])
            )
            acknowledge(
                self.deploy_role,
                f"AwsSolutions-IAM5[Resource::{nodegroups}]",
                "Node group names are generated at deploy time; read-only, this cluster's.",
            )
        if stages:
            # make wake counts the nodes that are back (no resource-level permissions).
            self.deploy_role.add_to_policy(
                iam.PolicyStatement(
                    actions=["autoscaling:DescribeAutoScalingGroups"], resources=["*"]
                )
            )

    def _allow_smoke_access(self, stages: Sequence[StageConfig]) -> None:
        """``make smoke`` from a GitHub runner into a stage whose ALB admits listed ranges
        only (dev): add the runner's address to that ALB's security group for the test, and
        remove it after. Only on security groups tagged for it, by stage."""
        if not stages:
            return
        groups = self.format_arn(service="ec2", resource="security-group", resource_name="*")
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(
                actions=["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                resources=[groups],
                conditions={
                    "StringEquals": {
                        f"aws:ResourceTag/{SMOKE_ACCESS_TAG}": [c.name for c in stages]
                    }
                },
            )
        )
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(
                actions=["ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules"],
                # EC2 Describe* calls have no resource-level permissions.
                resources=["*"],
            )
        )
        acknowledge(
            self.deploy_role,
            f"AwsSolutions-IAM5[Resource::{groups}]",
            "Security group ids are made at deploy time; the condition limits the two calls "
            f"to groups tagged {SMOKE_ACCESS_TAG} (the restricted stages' ALB groups).",
        )

    def _allow_predeploy_snapshot(self, stage: StageConfig) -> None:
        """``make snapshot`` in the deploy workflow: a manual snapshot of this stage's Aurora
        cluster, named ``<prefix>-predeploy-...`` and tagged, then polled until available.
        Creating and tagging snapshots of no other name, and nothing that deletes or restores.
        """
        arn = f"arn:aws:rds:{stage.region}:{stage.account}"
        cluster = f"{arn}:cluster:{stage.aurora_cluster_identifier}"
        snapshots = f"{arn}:cluster-snapshot:{stage.predeploy_snapshot_prefix}-*"
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(
                actions=["rds:CreateDBClusterSnapshot"], resources=[cluster, snapshots]
            )
        )
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(actions=["rds:AddTagsToResource"], resources=[snapshots])
        )
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(
                actions=["rds:DescribeDBClusters", "rds:DescribeDBClusterSnapshots"],
                resources=[cluster, snapshots],
            )
        )
        acknowledge(
            self.deploy_role,
            f"AwsSolutions-IAM5[Resource::{snapshots}]",
            "Each pre-deploy snapshot is new, named after the commit and the time; the "
            "stage's pre-deploy prefix is the narrowest grant for that.",
        )

    def bootstrap_role_arn(self, kind: str) -> str:
        """The ARN of one CDK bootstrap role (``deploy``, ``lookup``, ...) in this env."""
        qualifier = (
            self.node.try_get_context("@aws-cdk/core:bootstrapQualifier")
            or DefaultStackSynthesizer.DEFAULT_QUALIFIER
        )
        return (
            f"arn:{self.partition}:iam::{self.account}:role/"
            f"cdk-{qualifier}-{kind}-role-{self.account}-{self.region}"
        )

    def _github_role(
        self,
        construct_id: str,
        *,
        role_name: str,
        subjects: list[str],
        bootstrap_roles: tuple[str, ...],
        max_session: Duration,
        description: str,
    ) -> iam.Role:
        principal = iam.WebIdentityPrincipal(
            self.provider.oidc_provider_arn,
            conditions={
                # Exact matches only: no StringLike, so no wildcard can widen the trust.
                "StringEquals": {
                    f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
                    f"{GITHUB_OIDC_HOST}:sub": subjects,
                }
            },
        )
        role = iam.Role(
            self,
            construct_id,
            role_name=role_name,
            assumed_by=principal,
            description=description,
            max_session_duration=max_session,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["sts:AssumeRole"],
                resources=[self.bootstrap_role_arn(kind) for kind in bootstrap_roles],
            )
        )
        return role
