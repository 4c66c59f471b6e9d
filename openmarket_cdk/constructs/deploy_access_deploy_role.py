"""GitHubDeployRole: the deploy workflow's role, and the narrow read-mostly grants its make
targets need beyond the CDK bootstrap roles."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam

from openmarket_cdk.config import SMOKE_ACCESS_TAG, StageConfig
from openmarket_cdk.constructs.deploy_access_roles import GitHubRole
from openmarket_cdk.nag import acknowledge


class GitHubDeployRole(GitHubRole):
    """A GitHubRole with one ``allow_*`` method per make target of the deploy workflow that
    calls AWS itself, each granting exactly what that target reads or does."""

    def allow_alb_lookup(self) -> None:
        """The post-deploy smoke test finds each stage's ALB by name: the AWS Load Balancer
        Controller creates it, so it is no CloudFormation output. Read-only, and
        DescribeLoadBalancers has no resource-level permissions."""
        self.add_to_policy(
            iam.PolicyStatement(
                actions=["elasticloadbalancing:DescribeLoadBalancers"], resources=["*"]
            )
        )
        acknowledge(
            self,
            "AwsSolutions-IAM5[Resource::*]",
            "elasticloadbalancing:DescribeLoadBalancers (read-only, for the smoke test) has no "
            "resource-level permissions.",
        )

    def allow_image_preflight(self) -> None:
        """make deploy's preflight (scripts/preflight_images.py) refuses a deploy whose image
        tags are not in the stages' ECR repositories: read-only, OpenMarket's repositories."""
        repositories = Stack.of(self).format_arn(
            service="ecr", resource="repository", resource_name="openmarket/*"
        )
        self.add_to_policy(
            iam.PolicyStatement(actions=["ecr:DescribeImages"], resources=[repositories])
        )
        acknowledge(
            self,
            f"AwsSolutions-IAM5[Resource::{repositories}]",
            "ecr:DescribeImages (read-only, the image preflight) on every stage's repositories "
            "(openmarket/<stage>/...), which the preflight checks before each deploy.",
        )

    def allow_preflight(self, stages: Sequence[StageConfig]) -> None:
        """``make preflight`` (run first by ``make deploy``): read-only looks at what a first
        deploy needs, each on exactly the resource it checks."""
        stack = Stack.of(self)
        bootstrap_stack = stack.format_arn(
            service="cloudformation", resource="stack", resource_name="CDKToolkit/*"
        )
        self.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudformation:DescribeStacks"], resources=[bootstrap_stack]
            )
        )
        self.add_to_policy(
            iam.PolicyStatement(
                # The SES account's sandbox state and the sender identities: no resource-level
                # permissions for GetAccount; identities are named in the stages' configs.
                actions=["ses:GetAccount", "ses:GetEmailIdentity"],
                resources=["*"],
            )
        )
        for config in stages:
            self.add_to_policy(
                iam.PolicyStatement(
                    actions=["iam:GetRole"],
                    resources=[config.names.admin_role_arn],
                )
            )
            # Whether the Slack URLs are stored (the name ends in a suffix Secrets Manager adds).
            slack_secret = stack.format_arn(
                service="secretsmanager",
                resource="secret",
                resource_name=f"{config.names.slack_webhooks_secret_name}-??????",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            self.add_to_policy(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"], resources=[slack_secret]
                )
            )
            acknowledge(
                self,
                f"AwsSolutions-IAM5[Resource::{slack_secret}]",
                "One secret; the six characters are the suffix Secrets Manager appends.",
            )
        # The current Amazon Linux 2023 images (AWS's public parameters), for the NAT note.
        al2023 = (
            f"arn:{stack.partition}:ssm:{stack.region}::parameter/aws/service/"
            "ami-amazon-linux-latest/al2023-ami-kernel-default-*"
        )
        self.add_to_policy(iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[al2023]))
        acknowledge(
            self,
            f"AwsSolutions-IAM5[Resource::{al2023}]",
            "AWS's public image parameters of Amazon Linux 2023 (arm64 and x86_64); read-only.",
        )
        acknowledge(
            self,
            f"AwsSolutions-IAM5[Resource::{bootstrap_stack}]",
            "The bootstrap stack's ARN ends in an id CloudFormation assigns; read-only.",
        )

    def allow_waking(self, stages: Sequence[StageConfig]) -> None:
        """``make wake`` in the deploy workflow: a deploy into a sleeping stage would wait for
        nodes (Helm releases, charts) that the night removed. It runs the stage's own
        stage-sleep function (which does the waking, under its own role) and watches the
        stage come back: the deploy role itself changes nothing of the stage."""
        stack = Stack.of(self)
        for config in stages:
            self.add_to_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"],
                    resources=[
                        stack.format_arn(
                            service="lambda",
                            resource="function",
                            resource_name=config.names.stage_sleep_function_name,
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                )
            )
            # Whether the stage is deployed, and when its node groups are back.
            cluster = stack.format_arn(
                service="eks", resource="cluster", resource_name=config.names.cluster_name
            )
            nodegroups = stack.format_arn(
                service="eks",
                resource="nodegroup",
                resource_name=f"{config.names.cluster_name}/*/*",
            )
            self.add_to_policy(
                iam.PolicyStatement(
                    actions=["eks:DescribeCluster", "eks:ListNodegroups"], resources=[cluster]
                )
            )
            self.add_to_policy(
                iam.PolicyStatement(actions=["eks:DescribeNodegroup"], resources=[nodegroups])
            )
            acknowledge(
                self,
                f"AwsSolutions-IAM5[Resource::{nodegroups}]",
                "Node group names are generated at deploy time; read-only, this cluster's.",
            )
        if stages:
            # make wake counts the nodes that are back (no resource-level permissions).
            self.add_to_policy(
                iam.PolicyStatement(
                    actions=["autoscaling:DescribeAutoScalingGroups"], resources=["*"]
                )
            )

    def allow_smoke_access(self, stages: Sequence[StageConfig]) -> None:
        """``make smoke`` from a GitHub runner into a stage whose ALB admits listed ranges
        only (dev): add the runner's address to that ALB's security group for the test, and
        remove it after. Only on security groups tagged for it, by stage."""
        if not stages:
            return
        groups = Stack.of(self).format_arn(
            service="ec2", resource="security-group", resource_name="*"
        )
        self.add_to_policy(
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
        self.add_to_policy(
            iam.PolicyStatement(
                actions=["ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules"],
                # EC2 Describe* calls have no resource-level permissions.
                resources=["*"],
            )
        )
        acknowledge(
            self,
            f"AwsSolutions-IAM5[Resource::{groups}]",
            "Security group ids are made at deploy time; the condition limits the two calls "
            f"to groups tagged {SMOKE_ACCESS_TAG} (the restricted stages' ALB groups).",
        )

    def allow_predeploy_snapshot(self, stage: StageConfig) -> None:
        """``make snapshot`` in the deploy workflow: a manual snapshot of this stage's Aurora
        cluster, named ``<prefix>-predeploy-...`` and tagged, then polled until available.
        Creating and tagging snapshots of no other name, and nothing that deletes or restores.
        """
        arn = f"arn:aws:rds:{stage.region}:{stage.account}"
        cluster = f"{arn}:cluster:{stage.names.aurora_cluster_identifier}"
        snapshots = f"{arn}:cluster-snapshot:{stage.names.predeploy_snapshot_prefix}-*"
        self.add_to_policy(
            iam.PolicyStatement(
                actions=["rds:CreateDBClusterSnapshot"], resources=[cluster, snapshots]
            )
        )
        self.add_to_policy(
            iam.PolicyStatement(actions=["rds:AddTagsToResource"], resources=[snapshots])
        )
        self.add_to_policy(
            iam.PolicyStatement(
                actions=["rds:DescribeDBClusters", "rds:DescribeDBClusterSnapshots"],
                resources=[cluster, snapshots],
            )
        )
        acknowledge(
            self,
            f"AwsSolutions-IAM5[Resource::{snapshots}]",
            "Each pre-deploy snapshot is new, named after the commit and the time; the "
            "stage's pre-deploy prefix is the narrowest grant for that.",
        )
