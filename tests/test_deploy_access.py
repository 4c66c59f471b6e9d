"""DeployAccessStack: who may reach the account from GitHub Actions, and what they may do.

Builds only this stack, in its own small app with cdk.json's context and cdk-nag, so it runs
in seconds and does not need the session synth of the stages.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from openmarket_cdk.config import GITHUB_REPOSITORY, REGION, all_stage_configs, stage_config
from openmarket_cdk.stacks.deploy_access import (
    APPROVAL_ENVIRONMENTS,
    DEPLOY_ROLE_NAME,
    DIFF_ROLE_NAME,
    DeployAccessStack,
)
from tests.conftest import ROOT, cdk_json_context
from tests.normalize import normalize_template

ACCOUNT = "123456789012"
OIDC = "token.actions.githubusercontent.com"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OIDC}"


def bootstrap_role(kind: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-{kind}-role-{ACCOUNT}-{REGION}"


@dataclass
class Synth:
    template: dict[str, Any]
    template_path: Path
    validation_report: dict[str, Any]


def synth(outdir: Path, **props: Any) -> Synth:
    app = cdk.App(outdir=str(outdir), context=cdk_json_context())
    stack = DeployAccessStack(
        app,
        "DeployAccess",
        stack_name="openmarket-deploy-access",
        env=cdk.Environment(account=ACCOUNT, region=REGION),
        termination_protection=True,
        **props,
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    assembly = app.synth()  # an unacknowledged cdk-nag finding raises here
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    report = json.loads((outdir / "validation-report.json").read_text())
    return Synth(artifact.template, outdir / artifact.template_file, report)


SLEEPING = [c for c in all_stage_configs(ACCOUNT) if c.sleep.enabled]
RESTRICTED = [c for c in all_stage_configs(ACCOUNT) if c.alb_is_restricted]
PREFLIGHT = [c for c in all_stage_configs(ACCOUNT) if c.name == "prod"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth(
        tmp_path_factory.mktemp("deploy-access"),
        sleeping_stages=SLEEPING,
        restricted_alb_stages=RESTRICTED,
        preflight_stages=PREFLIGHT,
    )


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def role(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = [
        (k, v)
        for k, v in of_type(template, "AWS::IAM::Role").items()
        if v["Properties"]["RoleName"] == name
    ]
    return logical_id, resource["Properties"]


def trust_statement(template: dict[str, Any], name: str) -> dict[str, Any]:
    _, props = role(template, name)
    [statement] = props["AssumeRolePolicyDocument"]["Statement"]
    assert isinstance(statement, dict)
    return statement


def allowed_actions(template: dict[str, Any], name: str) -> list[tuple[str, list[str]]]:
    """(action, resources) of every statement that applies to the role ``name``."""
    logical_id, props = role(template, name)
    assert "ManagedPolicyArns" not in props and "Policies" not in props
    found = []
    for policy in of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": logical_id} in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow"
                resources = statement["Resource"]
                found.append(
                    (statement["Action"], resources if isinstance(resources, list) else [resources])
                )
    return found


def test_github_oidc_provider_with_the_sts_audience(built: Synth) -> None:
    [provider] = of_type(built.template, "AWS::IAM::OIDCProvider").values()
    assert provider["Properties"] == {
        "Url": f"https://{OIDC}",
        "ClientIdList": ["sts.amazonaws.com"],
    }


def test_deploy_role_trusts_only_main_and_the_approval_environments(built: Synth) -> None:
    statement = trust_statement(built.template, DEPLOY_ROLE_NAME)
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Effect"] == "Allow"
    assert set(statement["Principal"]) == {"Federated"}
    # Exact matching only: a StringLike with a wildcard would let other branches in.
    assert statement["Condition"] == {
        "StringEquals": {
            f"{OIDC}:aud": "sts.amazonaws.com",
            f"{OIDC}:sub": [
                f"repo:{GITHUB_REPOSITORY}:ref:refs/heads/main",
                f"repo:{GITHUB_REPOSITORY}:environment:staging",
                f"repo:{GITHUB_REPOSITORY}:environment:prod",
            ],
        }
    }
    assert APPROVAL_ENVIRONMENTS == ("staging", "prod")


def test_diff_role_trusts_only_pull_requests_of_the_repository(built: Synth) -> None:
    statement = trust_statement(built.template, DIFF_ROLE_NAME)
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{OIDC}:aud": "sts.amazonaws.com",
            f"{OIDC}:sub": [f"repo:{GITHUB_REPOSITORY}:pull_request"],
        }
    }


def test_both_roles_trust_the_stacks_own_provider(built: Synth) -> None:
    [provider_id] = of_type(built.template, "AWS::IAM::OIDCProvider")
    for name in (DEPLOY_ROLE_NAME, DIFF_ROLE_NAME):
        principal = trust_statement(built.template, name)["Principal"]
        assert principal == {"Federated": {"Ref": provider_id}}


def test_deploy_role_may_only_assume_the_bootstrap_deploy_roles(built: Synth) -> None:
    assert allowed_actions(built.template, DEPLOY_ROLE_NAME) == [
        (
            "sts:AssumeRole",
            [
                bootstrap_role("deploy"),
                bootstrap_role("file-publishing"),
                bootstrap_role("image-publishing"),
                bootstrap_role("lookup"),
            ],
        ),
        # Read-only: the smoke test finds each stage's ALB by name (and a restricted one's
        # security group and rules); make preflight reads the SES sandbox state and the
        # sender identities; make wake counts the nodes that are back.
        (
            [
                "autoscaling:DescribeAutoScalingGroups",
                "ec2:DescribeSecurityGroupRules",
                "ec2:DescribeSecurityGroups",
                "elasticloadbalancing:DescribeLoadBalancers",
                "ses:GetAccount",
                "ses:GetEmailIdentity",
            ],
            ["*"],
        ),
        # Read-only, for the image preflight of make deploy: OpenMarket's repositories only.
        (
            "ecr:DescribeImages",
            [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/openmarket/*"],
        ),
        # make preflight: the bootstrap stack, the admin role, the Slack secret's keys.
        (
            "cloudformation:DescribeStacks",
            [f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/CDKToolkit/*"],
        ),
        ("iam:GetRole", [f"arn:aws:iam::{ACCOUNT}:role/OpenMarketPlatformAdmin"]),
        (
            "secretsmanager:GetSecretValue",
            [
                f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
                "openmarket-prod/alertmanager/slack-??????"
            ],
        ),
        (
            "ssm:GetParameter",
            [
                f"arn:aws:ssm:{REGION}::parameter/aws/service/ami-amazon-linux-latest/"
                "al2023-ami-kernel-default-*"
            ],
        ),
        # make wake: the stage's own stage-sleep function does the waking (dev, staging).
        (
            "lambda:InvokeFunction",
            [
                f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:openmarket-dev-stage-sleep",
                f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:openmarket-staging-stage-sleep",
            ],
        ),
        # make wake: is the stage deployed, are its node groups back (read-only)?
        (
            ["eks:DescribeCluster", "eks:ListNodegroups"],
            [
                f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/openmarket-dev",
                f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/openmarket-staging",
            ],
        ),
        (
            "eks:DescribeNodegroup",
            [
                f"arn:aws:eks:{REGION}:{ACCOUNT}:nodegroup/openmarket-dev/*/*",
                f"arn:aws:eks:{REGION}:{ACCOUNT}:nodegroup/openmarket-staging/*/*",
            ],
        ),
        # make smoke: the runner's address into dev's ALB group for the test (by tag).
        (
            ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
            [f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/*"],
        ),
    ]


def test_writes_on_ids_made_at_deploy_time_are_held_to_their_stages_tags(built: Synth) -> None:
    """Security group ids are unknown here: the one ec2 write applies only to what the
    stages tagged for it (dev's ALB security group). Waking writes nothing itself: the
    stage's function does it."""
    logical_id, _ = role(built.template, DEPLOY_ROLE_NAME)
    statements = [
        statement
        for policy in of_type(built.template, "AWS::IAM::Policy").values()
        if {"Ref": logical_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    conditions = {
        json.dumps(s["Action"]): s.get("Condition")
        for s in statements
        if any(str(a).startswith("ec2:") and "Describe" not in str(a) for a in s["Action"])
        or s["Action"] == "ec2:StartInstances"
    }
    assert conditions == {
        '["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]': {
            "StringEquals": {"aws:ResourceTag/openmarket:smoke-access": ["dev"]}
        },
    }


def test_diff_role_may_only_assume_the_read_only_lookup_role(built: Synth) -> None:
    assert allowed_actions(built.template, DIFF_ROLE_NAME) == [
        ("sts:AssumeRole", [bootstrap_role("lookup")])
    ]


def test_nothing_else_is_granted(built: Synth) -> None:
    types = {resource["Type"] for resource in built.template["Resources"].values()}
    assert types <= {"AWS::IAM::OIDCProvider", "AWS::IAM::Role", "AWS::IAM::Policy"}
    assert len(of_type(built.template, "AWS::IAM::Role")) == 2
    # The one wildcard resource: the deploy role's read-only Describe/Get statement.
    resources = json.dumps(built.template["Resources"])
    assert resources.count('"*"') == 1
    (wildcard,) = [
        statement
        for policy in of_type(built.template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Resource"] == "*"
    ]
    assert all(
        action.split(":")[1].startswith(("Describe", "Get")) for action in wildcard["Action"]
    )


def test_session_lengths(built: Synth) -> None:
    # A first stage deploy (EKS, Aurora) can take more than the default hour.
    assert role(built.template, DEPLOY_ROLE_NAME)[1]["MaxSessionDuration"] == 7200
    assert role(built.template, DIFF_ROLE_NAME)[1]["MaxSessionDuration"] == 3600


def test_outputs_name_the_roles(built: Synth) -> None:
    assert set(built.template["Outputs"]) == {"DeployRoleArn", "DiffRoleArn"}


def test_cdk_nag_finds_nothing(built: Synth) -> None:
    # The only acknowledgement is the ALB lookup's wildcard (IAM5), in the app-wide table.
    violations = [
        violation
        for plugin in built.validation_report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
    ]
    assert violations == []


def test_the_nag_gate_of_this_app_is_live(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path), context=cdk_json_context())
    stack = DeployAccessStack(
        app, "DeployAccess", env=cdk.Environment(account=ACCOUNT, region=REGION)
    )
    stack.deploy_role.add_to_policy(iam.PolicyStatement(actions=["s3:*"], resources=["*"]))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(Exception, match="AwsSolutions-IAM5"):
        app.synth()


def test_cfn_lint_is_clean(built: Synth) -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--config-file",
            ".cfnlintrc.yaml",
            str(built.template_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_role_may_snapshot_only_the_named_stages_clusters(tmp_path: Path) -> None:
    """make snapshot before the prod deploy: create, tag and read manual snapshots named
    openmarket-prod-predeploy-* of openmarket-prod-aurora; nothing that deletes or restores."""
    template = synth(tmp_path, snapshot_stages=[stage_config("prod", ACCOUNT)]).template
    rds = f"arn:aws:rds:{REGION}:{ACCOUNT}"
    cluster = f"{rds}:cluster:openmarket-prod-aurora"
    snapshots = f"{rds}:cluster-snapshot:openmarket-prod-predeploy-*"
    granted = allowed_actions(template, DEPLOY_ROLE_NAME)
    plain = allowed_actions(built_template(tmp_path), DEPLOY_ROLE_NAME)
    assert granted[: len(plain)] == plain
    # (CDK merges statements with the same resources.)
    assert granted[len(plain) :] == [
        (
            [
                "rds:CreateDBClusterSnapshot",
                "rds:DescribeDBClusterSnapshots",
                "rds:DescribeDBClusters",
            ],
            [snapshots, cluster],
        ),
        ("rds:AddTagsToResource", [snapshots]),
    ]


def built_template(tmp_path: Path) -> dict[str, Any]:
    return synth(tmp_path / "plain").template


def test_an_existing_provider_is_used_instead_of_a_new_one(tmp_path: Path) -> None:
    template = synth(tmp_path, existing_provider_arn=PROVIDER_ARN).template
    assert of_type(template, "AWS::IAM::OIDCProvider") == {}
    for name in (DEPLOY_ROLE_NAME, DIFF_ROLE_NAME):
        assert trust_statement(template, name)["Principal"] == {"Federated": PROVIDER_ARN}


@pytest.mark.parametrize("repository", ["openmarket", "openmarket/*", "a/b/c", "a b/c", ""])
def test_a_bad_repository_name_fails_synth(tmp_path: Path, repository: str) -> None:
    app = cdk.App(outdir=str(tmp_path))
    with pytest.raises(ValueError, match="owner/name"):
        DeployAccessStack(app, "DeployAccess", repository=repository)


def test_template_matches_snapshot(built: Synth, snapshot: SnapshotAssertion) -> None:
    assert normalize_template(built.template) == snapshot(extension_class=JSONSnapshotExtension)
