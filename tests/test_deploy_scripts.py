"""The deploy-day scripts against emulated AWS (moto): the image preflight of ``make deploy``
and the clean-up step of ``make destroy``; and the make targets that call them."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3

from openmarket_cdk.config import stage_config
from scripts.cli_config import cli_context
from scripts.destroy_leftovers import (
    LBC_CLUSTER_TAG,
    delete_leftovers,
    find_leftovers,
    volume_cluster_tag,
)
from scripts.preflight import missing_images
from tests.conftest import ROOT

REGION = "ap-northeast-2"
DEV = stage_config("dev")


def _push(ecr: Any, repository: str, tag: str) -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": "sha256:" + "0" * 64},
    }
    ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)


# --- make deploy: the images must be there --------------------------------------------------
def test_preflight_names_each_missing_repository_and_tag(emulated_aws: None) -> None:
    ecr = boto3.client("ecr", region_name=REGION)
    backend, frontend = DEV.kubernetes.backend, DEV.kubernetes.frontend
    # Empty account: no repository yet.
    problems = missing_images(DEV, ecr)
    assert len(problems) == 2
    assert f"repository {DEV.names.ecr_repository_name(backend)} does not exist" in problems[0]
    assert "make deploy-registries STAGE=dev" in problems[0]
    # Registries deployed, nothing pushed: both tags are named.
    for workload in (backend, frontend):
        ecr.create_repository(repositoryName=DEV.names.ecr_repository_name(workload))
    problems = missing_images(DEV, ecr)
    assert [p.split(":")[0] for p in problems] == [
        DEV.names.ecr_repository_name(backend),
        DEV.names.ecr_repository_name(frontend),
    ]
    assert f"tag {backend.image_tag} is not in" in problems[0]
    # Only the backend pushed: the frontend is still refused.
    _push(ecr, DEV.names.ecr_repository_name(backend), backend.image_tag)
    (problem,) = missing_images(DEV, ecr)
    assert problem.startswith(f"{DEV.names.ecr_repository_name(frontend)}:{frontend.image_tag}")
    _push(ecr, DEV.names.ecr_repository_name(frontend), frontend.image_tag)
    assert missing_images(DEV, ecr) == []


def test_preflight_checks_the_tag_given_at_deploy_time() -> None:
    args = [
        "--method=template",
        "-c",
        "backend_image_tag=1.4.2",
        "--context=frontend_image_tag=2.0",
    ]
    assert cli_context(args) == {"backend_image_tag": "1.4.2", "frontend_image_tag": "2.0"}


def _target(name: str) -> str:
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{name}:.*?(?=^\S|\Z)", makefile, re.MULTILINE | re.DOTALL)
    assert match, name
    return match.group(0)


def test_make_deploy_runs_the_preflight_with_the_cli_arguments() -> None:
    deploy = _target("deploy")
    assert "$(PYTHON) scripts/preflight.py $(STAGE) $(CDK_ARGS)" in deploy
    assert deploy.index("scripts/preflight.py") < deploy.index("$(CDK) deploy")
    # Before anything that asks or changes: the prod prompt, waking the stage.
    assert deploy.index("scripts/preflight.py") < deploy.index("confirm_stage.sh")
    assert deploy.index("scripts/preflight.py") < deploy.index("wake_stage.py")


def test_make_deploy_and_destroy_wake_a_sleeping_stage_before_cdk_runs() -> None:
    """At night dev has no nodes and no NAT: the kubectl handler, the Helm releases and the
    ingress controller's finalizer (on destroy) would wait on them."""
    for name, cdk in (("deploy", "$(CDK) deploy"), ("destroy", "$(CDK) destroy")):
        target = _target(name)
        wake = target.index("$(PYTHON) scripts/wake_stage.py $(STAGE)")
        assert wake < target.index(cdk), name


def test_make_deploy_access_passes_context_so_an_existing_provider_is_reused() -> None:
    assert "$(CDK_ARGS)" in _target("deploy-access")
    assert "github_oidc_provider_arn" in (ROOT / "docs/deployment.md").read_text()


def test_the_deployment_guide_gives_the_first_deploy_order_of_real_targets() -> None:
    guide = (ROOT / "docs/deployment.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in set(re.findall(r"make ([a-z][a-z-]+)", guide)):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
    first = guide[guide.index("## The first deploy of a stage") :]
    # Placeholders, the account's prerequisites, registries, images, the preflight with the
    # account, the stage, the subscriptions, Slack, the smoke test, the cluster.
    order = [
        "make preflight STAGE",
        "make bootstrap",
        "#1b-the-platform-admin-role",
        "aws sesv2 create-email-identity",
        "make deploy-registries",
        "docker push",
        "make deploy STAGE",
        "Confirm the e-mail subscriptions",
        "make slack-webhooks STAGE",
        "make smoke STAGE",
        "make kubectl STAGE",
    ]
    positions = [first.index(step) for step in order]
    # The admin role's commands, linked from the walk, are in the once-per-account part.
    assert "aws iam create-role --role-name OpenMarketPlatformAdmin" in guide
    assert "### 1b. The platform admin role" in guide
    assert positions == sorted(positions)


# --- make destroy: nothing left billing ------------------------------------------------------
def _cluster_resources(ec2: Any, elbv2: Any, cluster: str) -> dict[str, str]:
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in ((1, "a"), (2, "c"))
    ]
    lbc_tag = [{"Key": LBC_CLUSTER_TAG, "Value": cluster}]
    group = ec2.create_security_group(
        GroupName=f"k8s-{cluster}", Description="controller-made", VpcId=vpc
    )["GroupId"]
    ec2.create_tags(Resources=[group], Tags=lbc_tag)
    alb = elbv2.create_load_balancer(Name=f"{cluster}-alb", Subnets=subnets, Tags=lbc_tag)
    target_group = elbv2.create_target_group(
        Name=f"k8s-{cluster}"[:32],
        Protocol="HTTP",
        Port=3001,
        VpcId=vpc,
        TargetType="ip",
        Tags=lbc_tag,
    )
    volume = ec2.create_volume(
        AvailabilityZone=f"{REGION}a",
        Size=100,
        VolumeType="gp3",
        TagSpecifications=[
            {
                "ResourceType": "volume",
                "Tags": [
                    {"Key": volume_cluster_tag(cluster), "Value": "owned"},
                    {"Key": "ebs.csi.aws.com/cluster", "Value": "true"},
                ],
            }
        ],
    )
    return {
        "alb": alb["LoadBalancers"][0]["LoadBalancerArn"],
        "target_group": target_group["TargetGroups"][0]["TargetGroupArn"],
        "group": group,
        "volume": volume["VolumeId"],
    }


def test_destroy_finds_and_deletes_only_the_stage_clusters_leftovers(emulated_aws: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    elbv2 = boto3.client("elbv2", region_name=REGION)
    mine = _cluster_resources(ec2, elbv2, DEV.names.cluster_name)
    # Another stage's cluster in the same account: never touched.
    theirs = _cluster_resources(ec2, elbv2, stage_config("staging").names.cluster_name)

    leftovers = find_leftovers(DEV.names.cluster_name, ec2, elbv2)
    assert leftovers.load_balancers == [mine["alb"]]
    assert leftovers.target_groups == [mine["target_group"]]
    assert leftovers.security_groups == [mine["group"]]
    assert leftovers.volumes == [mine["volume"]]

    assert delete_leftovers(leftovers, ec2, elbv2, pause_s=0) == []
    after = find_leftovers(DEV.names.cluster_name, ec2, elbv2)
    assert after.lines() == []
    other = find_leftovers(stage_config("staging").names.cluster_name, ec2, elbv2)
    assert other.load_balancers == [theirs["alb"]] and other.volumes == [theirs["volume"]]


def test_destroy_deletes_the_cluster_before_its_leftovers_and_the_network_last() -> None:
    destroy = _target("destroy")
    cluster = destroy.index("destroy -c stages=$(STAGE) '$(STAGE)/Cluster'")
    sweep = destroy.index("scripts/destroy_leftovers.py $(STAGE)")
    rest = destroy.index("destroy -c stages=$(STAGE) '$(STAGE)/*'")
    assert cluster < sweep < rest
