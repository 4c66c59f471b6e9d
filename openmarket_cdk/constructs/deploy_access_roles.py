"""GitHubRole: a role GitHub Actions assumes through the account's OIDC provider, whose one
permission of its own is to assume named CDK bootstrap roles."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import DefaultStackSynthesizer, Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
# What aws-actions/configure-aws-credentials asks GitHub to put in the token's `aud`.
STS_AUDIENCE = "sts.amazonaws.com"


def bootstrap_role_arn(scope: Construct, kind: str) -> str:
    """The ARN of one CDK bootstrap role (``deploy``, ``lookup``, ...) in scope's env."""
    stack = Stack.of(scope)
    qualifier = (
        stack.node.try_get_context("@aws-cdk/core:bootstrapQualifier")
        or DefaultStackSynthesizer.DEFAULT_QUALIFIER
    )
    return (
        f"arn:{stack.partition}:iam::{stack.account}:role/"
        f"cdk-{qualifier}-{kind}-role-{stack.account}-{stack.region}"
    )


class GitHubRole(iam.Role):
    """Trusted only for GitHub OIDC tokens with the STS audience and one of ``subjects``;
    may assume the ``bootstrap_roles`` (what a deploy may change is what the bootstrap's
    CloudFormation execution role may)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        provider: iam.IOidcProvider,
        role_name: str,
        subjects: list[str],
        bootstrap_roles: Sequence[str],
        max_session: Duration,
        description: str,
    ) -> None:
        principal = iam.WebIdentityPrincipal(
            provider.oidc_provider_arn,
            conditions={
                # Exact matches only: no StringLike, so no wildcard can widen the trust.
                "StringEquals": {
                    f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
                    f"{GITHUB_OIDC_HOST}:sub": subjects,
                }
            },
        )
        super().__init__(
            scope,
            construct_id,
            role_name=role_name,
            assumed_by=principal,
            description=description,
            max_session_duration=max_session,
        )
        self.add_to_policy(
            iam.PolicyStatement(
                actions=["sts:AssumeRole"],
                resources=[bootstrap_role_arn(self, kind) for kind in bootstrap_roles],
            )
        )
