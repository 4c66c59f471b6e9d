"""stage-sleep against emulated AWS (moto): EKS node group, its Auto Scaling group, ALB, NAT.

moto's EKS reports an Auto Scaling group name for a managed node group but creates no group;
the fixture creates one under that name with the autoscaling mock, with the day's instances
in it. "Evening" does what the 18:00 schedule and the node drain do: the node group's desired
size goes to 0 and the group's instances go away. Every assertion on the outcome reads the
emulated account back (the load balancer is gone, or still there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from openmarket_cdk.lambdas.stage_sleep import index

REGION = "ap-northeast-2"
CLUSTER = "openmarket-dev"
NODEGROUP = "openmarket-dev-app-nodes"
ALB_NAME = "openmarket-dev-alb"
OTHER_ALB_NAME = "somebody-elses-alb"
ROLE_ARN = "arn:aws:iam::123456789012:role/openmarket-dev-eks"
DAY_NODES = 2
CONTEXT = SimpleNamespace(aws_request_id="test-request")


def controller_tags(cluster: str) -> list[dict[str, str]]:
    """The tags the AWS Load Balancer Controller puts on the ALB of an Ingress group."""
    return [
        {"Key": "elbv2.k8s.aws/cluster", "Value": cluster},
        {"Key": "ingress.k8s.aws/stack", "Value": "openmarket/openmarket"},
        {"Key": "ingress.k8s.aws/resource", "Value": "LoadBalancer"},
    ]


@dataclass
class Stage:
    """The emulated dev stage at the end of a working day (nodes up, ALB serving)."""

    eks: Any
    autoscaling: Any
    elbv2: Any
    subnets: list[str]
    asg_name: str

    def event(self, **overrides: Any) -> dict[str, Any]:
        """The evening schedule's input, for the ALB only (the NAT tests add its tag)."""
        return {
            "action": "sleep",
            "loadBalancerName": ALB_NAME,
            "clusterName": CLUSTER,
            "nodegroupName": NODEGROUP,
        } | overrides

    def create_load_balancer(
        self, name: str, tags: list[dict[str, str]], lb_type: str = "application"
    ) -> str:
        created = self.elbv2.create_load_balancer(
            Name=name, Subnets=self.subnets, Scheme="internet-facing", Type=lb_type, Tags=tags
        )
        return str(created["LoadBalancers"][0]["LoadBalancerArn"])

    def load_balancer_arn(self, name: str) -> str | None:
        try:
            found = self.elbv2.describe_load_balancers(Names=[name])["LoadBalancers"]
        except ClientError as error:
            assert error.response["Error"]["Code"] == "LoadBalancerNotFound"
            return None
        return str(found[0]["LoadBalancerArn"])

    def scale_nodegroup(self, desired: int) -> None:
        """What the working-hours schedule does (eks:UpdateNodegroupConfig)."""
        self.eks.update_nodegroup_config(
            clusterName=CLUSTER,
            nodegroupName=NODEGROUP,
            scalingConfig={"minSize": min(desired, 1), "maxSize": 3, "desiredSize": desired},
        )

    def group(self) -> dict[str, Any]:
        groups = self.autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[self.asg_name]
        )["AutoScalingGroups"]
        assert len(groups) == 1
        group: dict[str, Any] = groups[0]
        return group

    def drain(self) -> None:
        """The node group's Auto Scaling group follows it to 0: its instances terminate."""
        self.autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=self.asg_name, MinSize=0, DesiredCapacity=0
        )
        assert self.group()["Instances"] == []

    def evening(self) -> None:
        self.scale_nodegroup(0)
        self.drain()


@pytest.fixture
def stage(emulated_aws: None) -> Stage:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{REGION}{zone}")["Subnet"][
            "SubnetId"
        ]
        for cidr, zone in (("10.0.1.0/24", "a"), ("10.0.2.0/24", "c"))
    ]
    eks = boto3.client("eks", region_name=REGION)
    eks.create_cluster(name=CLUSTER, roleArn=ROLE_ARN, resourcesVpcConfig={"subnetIds": subnets})
    nodegroup = eks.create_nodegroup(
        clusterName=CLUSTER,
        nodegroupName=NODEGROUP,
        nodeRole=ROLE_ARN,
        subnets=subnets,
        scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": DAY_NODES},
    )["nodegroup"]
    (asg,) = nodegroup["resources"]["autoScalingGroups"]
    ec2.create_launch_template(
        LaunchTemplateName="openmarket-dev-nodes",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.medium"},
    )
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=asg["name"],
        LaunchTemplate={"LaunchTemplateName": "openmarket-dev-nodes"},
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=DAY_NODES,
        VPCZoneIdentifier=",".join(subnets),
    )
    result = Stage(
        eks=eks,
        autoscaling=autoscaling,
        elbv2=boto3.client("elbv2", region_name=REGION),
        subnets=subnets,
        asg_name=asg["name"],
    )
    assert len(result.group()["Instances"]) == DAY_NODES
    return result


def alb_result(stage: Stage, **overrides: Any) -> dict[str, Any]:
    """The evening run for the ALB alone: its one result, as action, reason and ARN."""
    (part,) = index.handler(stage.event(**overrides), CONTEXT)
    assert part["part"] == "load-balancer"
    resources = part["resources"]
    return {
        "action": part["action"],
        "reason": part["reason"],
        "loadBalancerArn": resources[0] if resources else None,
    }


def logged(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The function's log lines: each one is a bare JSON object."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]


# --- deletes ----------------------------------------------------------------------------------
def test_deletes_this_clusters_alb_once_the_nodes_are_gone(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = stage.create_load_balancer(ALB_NAME, controller_tags(CLUSTER))
    other = stage.create_load_balancer(OTHER_ALB_NAME, controller_tags(CLUSTER))
    stage.evening()

    result = alb_result(stage)

    assert result["action"] == "deleted"
    assert result["loadBalancerArn"] == arn
    assert stage.load_balancer_arn(ALB_NAME) is None
    # Only the named load balancer: another of the same cluster is left alone.
    assert stage.load_balancer_arn(OTHER_ALB_NAME) == other
    (line,) = logged(capsys)
    assert line == {
        "level": "INFO",
        "part": "load-balancer",
        "action": "deleted",
        "reason": result["reason"],
        "resources": [arn],
        "request": "sleep",
        "clusterName": CLUSTER,
        "requestId": "test-request",
    }


def test_a_second_evening_finds_it_absent(stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    stage.create_load_balancer(ALB_NAME, controller_tags(CLUSTER))
    stage.evening()
    assert alb_result(stage)["action"] == "deleted"

    again = alb_result(stage)

    assert again == {
        "action": "absent",
        "reason": f"no load balancer named {ALB_NAME}: already asleep",
        "loadBalancerArn": None,
    }
    assert [line["action"] for line in logged(capsys)] == ["deleted", "absent"]


def test_absent_when_no_load_balancer_has_that_name(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    other = stage.create_load_balancer(OTHER_ALB_NAME, controller_tags(CLUSTER))
    stage.evening()

    result = alb_result(stage)

    assert result["action"] == "absent"
    assert result["loadBalancerArn"] is None
    assert stage.load_balancer_arn(OTHER_ALB_NAME) == other
    assert [line["action"] for line in logged(capsys)] == ["absent"]


# --- skips: the controller may be running -----------------------------------------------------
def test_skips_while_the_stage_is_awake(stage: Stage) -> None:
    arn = stage.create_load_balancer(ALB_NAME, controller_tags(CLUSTER))

    result = alb_result(stage)

    assert result["action"] == "skipped"
    assert f"desired size is {DAY_NODES}" in result["reason"]
    assert stage.load_balancer_arn(ALB_NAME) == arn


def test_skips_when_someone_woke_the_stage_before_any_node_started(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = stage.create_load_balancer(ALB_NAME, controller_tags(CLUSTER))
    stage.evening()
    # `make wake` after the evening: the node group wants a node, none has launched yet.
    stage.scale_nodegroup(1)
    assert stage.group()["Instances"] == []

    result = alb_result(stage)

    assert result == {
        "action": "skipped",
        "reason": f"node group {NODEGROUP} desired size is 1: the stage is awake",
        "loadBalancerArn": None,
    }
    assert stage.load_balancer_arn(ALB_NAME) == arn
    (line,) = logged(capsys)
    assert line["action"] == "skipped"
    assert line["reason"] == result["reason"]


def test_skips_while_the_nodes_are_still_draining(stage: Stage) -> None:
    arn = stage.create_load_balancer(ALB_NAME, controller_tags(CLUSTER))
    # The schedule has set the node group to 0; its instances have not terminated yet.
    stage.scale_nodegroup(0)
    assert len(stage.group()["Instances"]) == DAY_NODES

    result = alb_result(stage)

    assert result["action"] == "skipped"
    assert f"still has {DAY_NODES} instance(s) (InService)" in result["reason"]
    assert stage.asg_name in result["reason"]
    assert stage.load_balancer_arn(ALB_NAME) == arn


def test_skips_while_an_instance_remains_in_any_lifecycle_state(stage: Stage) -> None:
    arn = stage.create_load_balancer(ALB_NAME, controller_tags(CLUSTER))
    stage.scale_nodegroup(0)
    # The others terminated, the last node put in Standby (desired capacity decremented): the
    # group wants no instance, but one is still there and may run the controller.
    stage.autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=stage.asg_name, MinSize=0, DesiredCapacity=1
    )
    (standby,) = (i["InstanceId"] for i in stage.group()["Instances"])
    stage.autoscaling.enter_standby(
        AutoScalingGroupName=stage.asg_name,
        InstanceIds=[standby],
        ShouldDecrementDesiredCapacity=True,
    )
    group = stage.group()
    assert group["DesiredCapacity"] == 0
    assert [(i["InstanceId"], i["LifecycleState"]) for i in group["Instances"]] == [
        (standby, "Standby")
    ]

    result = alb_result(stage)

    assert result["action"] == "skipped"
    assert "still has 1 instance(s) (Standby)" in result["reason"]
    assert stage.load_balancer_arn(ALB_NAME) == arn


def test_skips_when_the_nodegroups_auto_scaling_group_is_not_found(stage: Stage) -> None:
    arn = stage.create_load_balancer(ALB_NAME, controller_tags(CLUSTER))
    stage.evening()
    stage.autoscaling.delete_auto_scaling_group(
        AutoScalingGroupName=stage.asg_name, ForceDelete=True
    )

    result = alb_result(stage)

    assert result["action"] == "skipped"
    assert (
        result["reason"] == f"Auto Scaling group {stage.asg_name} of the node group was not found"
    )
    assert stage.load_balancer_arn(ALB_NAME) == arn


# --- refuses: not this cluster's ALB ----------------------------------------------------------
@pytest.mark.parametrize(
    ("tags", "found"),
    [
        pytest.param(
            [{"Key": "team", "Value": "web"}], "no elbv2.k8s.aws/cluster tag", id="no-tag"
        ),
        pytest.param(
            controller_tags("openmarket-staging"),
            "elbv2.k8s.aws/cluster=openmarket-staging",
            id="other-cluster",
        ),
    ],
)
def test_refuses_a_load_balancer_this_cluster_did_not_create(
    stage: Stage, capsys: pytest.CaptureFixture[str], tags: list[dict[str, str]], found: str
) -> None:
    arn = stage.create_load_balancer(ALB_NAME, tags)
    stage.evening()

    with pytest.raises(index.RefusedError, match=found):
        index.handler(stage.event(), CONTEXT)

    assert stage.load_balancer_arn(ALB_NAME) == arn
    (line,) = logged(capsys)
    assert line["action"] == "refused"
    assert line["level"] == "ERROR"
    assert line["resources"] == [arn]
    assert found in line["reason"]


def test_refuses_a_load_balancer_that_is_not_an_alb(stage: Stage) -> None:
    arn = stage.create_load_balancer(ALB_NAME, controller_tags(CLUSTER), lb_type="network")
    stage.evening()

    with pytest.raises(index.RefusedError, match="of type network, not application"):
        index.handler(stage.event(), CONTEXT)

    assert stage.load_balancer_arn(ALB_NAME) == arn


# --- a misconfigured schedule fails loudly ----------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value"),
    [
        *(
            pytest.param(key, None, id=f"missing-{key}")
            for key in ("loadBalancerName", "clusterName", "nodegroupName")
        ),
        pytest.param("clusterName", "", id="empty-clusterName"),
        pytest.param("loadBalancerName", "  ", id="blank-loadBalancerName"),
    ],
)
def test_an_incomplete_event_raises_value_error_naming_the_key(key: str, value: str | None) -> None:
    event = {
        "action": "sleep",
        "loadBalancerName": ALB_NAME,
        "clusterName": CLUSTER,
        "nodegroupName": NODEGROUP,
    }
    if value is None:
        del event[key]
    else:
        event[key] = value
    with pytest.raises(ValueError, match=f"event key '{key}' is missing or empty"):
        index.parse_event(event)


def test_a_bad_event_deletes_nothing(stage: Stage) -> None:
    """The handler validates before any AWS call: the ALB of an emptied stage stays."""
    arn = stage.create_load_balancer(ALB_NAME, controller_tags(CLUSTER))
    stage.evening()
    event = stage.event()
    del event["clusterName"]
    with pytest.raises(ValueError, match="event key 'clusterName' is missing or empty"):
        index.handler(event, CONTEXT)
    assert stage.load_balancer_arn(ALB_NAME) == arn


def test_an_event_that_is_not_an_object_raises_value_error() -> None:
    with pytest.raises(ValueError, match="event must be an object"):
        index.handler(ALB_NAME, CONTEXT)


def test_an_unknown_nodegroup_is_an_error_not_a_skip(stage: Stage) -> None:
    arn = stage.create_load_balancer(ALB_NAME, controller_tags(CLUSTER))
    stage.evening()

    with pytest.raises(ClientError) as raised:
        index.handler(stage.event(nodegroupName="no-such-nodegroup"), CONTEXT)

    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert stage.load_balancer_arn(ALB_NAME) == arn


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"action": "nap", "clusterName": CLUSTER}, id="unknown-action"),
        pytest.param({"action": "wake"}, id="wake-without-tag"),
        pytest.param({"action": "wake", "natInstanceTag": "dev"}, id="tag-not-an-object"),
    ],
)
def test_a_malformed_action_or_tag_raises_value_error(event: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"event key '(action|natInstanceTag)'"):
        index.parse_event(event)


# --- the NAT instance -------------------------------------------------------------------------
NAT_TAG = {"key": "openmarket:sleeps", "value": "dev"}


def nat_instance(stage: Stage, tagged: bool = True) -> str:
    """A running instance like the NAT instance (tagged for the stage's sleep) or not."""
    ec2 = boto3.client("ec2", region_name=REGION)
    tags = [{"Key": NAT_TAG["key"], "Value": NAT_TAG["value"]}] if tagged else []
    (instance,) = ec2.run_instances(
        ImageId="ami-12c6146b",
        InstanceType="t4g.nano",
        MinCount=1,
        MaxCount=1,
        SubnetId=stage.subnets[0],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": tags or [{"Key": "x", "Value": "y"}]}
        ],
    )["Instances"]
    return str(instance["InstanceId"])


def state(instance_id: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    (reservation,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservation["Instances"][0]["State"]["Name"])


def test_the_evening_stops_the_tagged_nat_instance_and_deletes_the_alb(stage: Stage) -> None:
    nat = nat_instance(stage)
    untagged = nat_instance(stage, tagged=False)
    stage.create_load_balancer(ALB_NAME, controller_tags(CLUSTER))
    stage.evening()

    parts = index.handler(stage.event(natInstanceTag=NAT_TAG), CONTEXT)

    assert [(p["part"], p["action"]) for p in parts] == [
        ("nat-instances", "stopped"),
        ("load-balancer", "deleted"),
    ]
    assert parts[0]["resources"] == [nat]
    assert state(nat) == "stopped"
    assert state(untagged) == "running"
    assert stage.load_balancer_arn(ALB_NAME) is None


def test_the_nat_instance_stays_up_while_the_stage_is_awake(stage: Stage) -> None:
    """Someone woke dev after 18:00: its nodes need their egress (a deploy's kubectl too)."""
    nat = nat_instance(stage)

    parts = index.handler(stage.event(natInstanceTag=NAT_TAG), CONTEXT)

    assert {p["action"] for p in parts} == {"skipped"}
    assert state(nat) == "running"


def test_a_refused_alb_does_not_keep_the_nat_instance_up(stage: Stage) -> None:
    nat = nat_instance(stage)
    stage.create_load_balancer(ALB_NAME, [{"Key": "team", "Value": "web"}])
    stage.evening()

    with pytest.raises(index.RefusedError):
        index.handler(stage.event(natInstanceTag=NAT_TAG), CONTEXT)

    assert state(nat) == "stopped"


def test_the_morning_starts_the_stopped_nat_instance(stage: Stage) -> None:
    nat = nat_instance(stage)
    boto3.client("ec2", region_name=REGION).stop_instances(InstanceIds=[nat])

    (started,) = index.handler({"action": "wake", "natInstanceTag": NAT_TAG}, CONTEXT)
    (again,) = index.handler({"action": "wake", "natInstanceTag": NAT_TAG}, CONTEXT)

    assert (started["action"], started["resources"]) == ("started", [nat])
    assert state(nat) == "running"
    assert again["action"] == "absent"
