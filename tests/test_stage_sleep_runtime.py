"""Stage sleep's orchestrator against emulated AWS (moto): what a sleep, a finish, a wake and a
check do to each part, in which order, and that nothing fails silently. The cluster function
is a stand-in that acts like the ALB controller (an Ingress leaving its class deletes the
ALB); CloudFormation's answers are stubbed (moto's needs extras the tests do not install)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from openmarket_cdk.config import stage_config
from openmarket_cdk.stage_sleep.plan import stage_plan
from openmarket_cdk.stage_sleep.runtime import orchestrator
from openmarket_cdk.stage_sleep.runtime.contract import (
    ASLEEP_INGRESS_CLASS,
    ZONE_TAG,
    ContractError,
    SleepEvent,
    StagePlan,
)

REGION = "ap-northeast-2"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/x"


class Stacks:
    """CloudFormation's DescribeStacks for the stage's stacks."""

    def __init__(self, statuses: dict[str, str] | None = None) -> None:
        self.statuses = statuses or {}
        self.exceptions = boto3.client("cloudformation", region_name=REGION).exceptions

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {
            "Stacks": [
                {
                    "StackName": StackName,
                    "StackStatus": self.statuses.get(StackName, "UPDATE_COMPLETE"),
                }
            ]
        }


class ClusterFunction:
    """The in-VPC function: records its calls; moving the Ingress out of the ALB class deletes
    the ALB (the controller's part), moving it back does nothing until the controller runs."""

    def __init__(self, load_balancer: str | None = None, fail: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.load_balancer = load_balancer
        self.fail = fail
        self.replicas = 1

    def __call__(self, function: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(payload)
        if self.fail:
            raise RuntimeError("AccessDenied: the API said no")
        if payload.get("ingressClass") == ASLEEP_INGRESS_CLASS and self.load_balancer:
            elbv2 = boto3.client("elbv2", region_name=REGION)
            arn = elbv2.describe_load_balancers(Names=[self.load_balancer])["LoadBalancers"][0]
            elbv2.delete_load_balancer(LoadBalancerArn=arn["LoadBalancerArn"])
        if payload.get("autoscalerReplicas") is not None:
            self.replicas = payload["autoscalerReplicas"]
        return {"autoscaler": {"replicas": self.replicas, "available": self.replicas}}


class Clock:
    def __init__(self) -> None:
        self.time = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += timedelta(seconds=seconds)


def aws(cluster: ClusterFunction, stacks: Stacks | None = None) -> orchestrator.Aws:
    clock = Clock()

    def client(service: str) -> Any:
        if service == "cloudformation":
            return stacks or Stacks()
        return boto3.client(service, region_name=REGION)

    return orchestrator.Aws(
        client=client,
        invoke_cluster=cluster,
        function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f",
        scheduler_role_arn=ROLE,
        now=clock.now,
        sleep=clock.sleep,
    )


def deployed(plan: StagePlan, *, desired: dict[str, int] | None = None) -> None:
    """The stage's cluster with a tagged node group per zone."""
    eks = boto3.client("eks", region_name=REGION)
    eks.create_cluster(name=plan.cluster_name, roleArn=ROLE, resourcesVpcConfig={"subnetIds": []})
    for zone in plan.zones:
        size = (desired or {}).get(zone.zone, zone.min_size)
        eks.create_nodegroup(
            clusterName=plan.cluster_name,
            nodegroupName=f"AppNodes-{zone.zone[-1]}-generated",
            nodeRole=ROLE,
            subnets=["subnet-1"],
            tags={ZONE_TAG: zone.zone},
            scalingConfig={"minSize": zone.min_size, "maxSize": zone.max_size, "desiredSize": size},
        )


def scaling(plan: StagePlan) -> dict[str, dict[str, int]]:
    eks = boto3.client("eks", region_name=REGION)
    groups = orchestrator.node_groups(plan, eks)
    return {zone: dict(group["scalingConfig"]) for zone, group in groups.items()}


def nat_instance(plan: StagePlan, state: str = "running") -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    assert plan.nat_tag is not None
    key, value = plan.nat_tag
    (instance,) = ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": key, "Value": value}]}],
    )["Instances"]
    if state == "stopped":
        ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
    return str(instance["InstanceId"])


def instance_state(instance_id: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    (reservation,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservation["Instances"][0]["State"]["Name"])


def load_balancer(name: str) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "c"))
    ]
    boto3.client("elbv2", region_name=REGION).create_load_balancer(Name=name, Subnets=subnets)


def marks() -> list[float]:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    data = cloudwatch.list_metrics(Namespace="OpenMarket/StageSleep")["Metrics"]
    assert data, "no sleep mark was published"
    stats = cloudwatch.get_metric_statistics(
        Namespace="OpenMarket/StageSleep",
        MetricName="Asleep",
        Dimensions=data[0]["Dimensions"],
        StartTime=datetime.now(UTC) - timedelta(hours=1),
        EndTime=datetime.now(UTC) + timedelta(hours=1),
        Period=60,
        Statistics=["Maximum", "Minimum"],
    )["Datapoints"]
    return sorted({p["Maximum"] for p in stats} | {p["Minimum"] for p in stats})


DEV = stage_plan(stage_config("dev"))
STAGING = stage_plan(stage_config("staging"))


def test_the_plan_says_what_sleeps_per_stage() -> None:
    assert DEV.load_balancer_name == "openmarket-dev-alb" and DEV.ingress_class == "alb"
    assert DEV.nat_tag == ("openmarket:sleeps", "dev")
    assert DEV.database_cluster is None  # Serverless v2 pauses by itself
    assert STAGING.database_cluster == "openmarket-staging-aurora"
    assert STAGING.reader_scaling_resource == "cluster:openmarket-staging-aurora"
    assert STAGING.load_balancer_name is None and STAGING.nat_tag is None
    assert [z.zone for z in STAGING.zones] == ["ap-northeast-2a", "ap-northeast-2c"]
    assert (
        sum(z.min_size for z in STAGING.zones) == stage_config("staging").kubernetes.node_min_size
    )
    # The contract round-trips, and refuses what is not a plan.
    event = SleepEvent("wake", DEV)
    assert SleepEvent.from_json(json.loads(json.dumps(event.to_json()))) == event
    with pytest.raises(ContractError, match="action 'nap'"):
        SleepEvent.from_json({"action": "nap", "plan": DEV.to_json()})
    with pytest.raises(ContractError, match="ingress_class and load_balancer_name"):
        SleepEvent.from_json(
            {"action": "sleep", "plan": {**DEV.to_json(), "load_balancer_name": None}}
        )


def test_dev_sleeps_through_the_owners_apis(emulated_aws: None) -> None:
    deployed(DEV)
    load_balancer("openmarket-dev-alb")
    nat = nat_instance(DEV)
    cluster = ClusterFunction("openmarket-dev-alb")
    result = orchestrator.run(SleepEvent("sleep", DEV).to_json(), aws(cluster))
    assert result["failed"] == []
    # The Ingress leaves the controller's class first (the controller, still running,
    # deletes the ALB), then the autoscaler goes to 0, then the node groups.
    assert cluster.calls == [{"ingressClass": ASLEEP_INGRESS_CLASS}, {"autoscalerReplicas": 0}]
    assert not orchestrator.load_balancer_exists(DEV, boto3.client("elbv2", region_name=REGION))
    assert all(s["minSize"] == 0 and s["desiredSize"] == 0 for s in scaling(DEV).values())
    assert marks() == [1.0]
    # The NAT instance waits for the nodes to be gone (finish-sleep).
    assert instance_state(nat) == "running"


def test_the_nat_instance_stops_once_the_nodes_are_gone(emulated_aws: None) -> None:
    deployed(DEV, desired={z.zone: 0 for z in DEV.zones})
    nat = nat_instance(DEV)
    result = orchestrator.run(SleepEvent("finish-sleep", DEV).to_json(), aws(ClusterFunction()))
    assert result["done"] == [f"stopped NAT instance {nat}"]
    assert instance_state(nat) in ("stopping", "stopped")


def test_a_woken_stage_keeps_its_nat_instance(emulated_aws: None) -> None:
    deployed(DEV)  # desired back at the minimum: someone woke it
    nat = nat_instance(DEV)
    result = orchestrator.run(SleepEvent("finish-sleep", DEV).to_json(), aws(ClusterFunction()))
    assert "woken meanwhile" in result["done"][0]
    assert instance_state(nat) == "running"


def test_a_slow_drain_fails_loudly_instead_of_billing_all_night(
    emulated_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed(DEV, desired={z.zone: 0 for z in DEV.zones})
    nat_instance(DEV)
    monkeypatch.setattr(orchestrator, "instances_left", lambda plan, eks, autoscaling: (0, 2))
    with pytest.raises(orchestrator.PartlyFailedError, match="2 node\\(s\\) still draining"):
        orchestrator.run(SleepEvent("finish-sleep", DEV).to_json(), aws(ClusterFunction()))


def test_a_running_deploy_defers_the_sleep_then_fails(emulated_aws: None) -> None:
    deployed(DEV)
    busy = Stacks({"openmarket-dev-cluster": "UPDATE_IN_PROGRESS"})
    cluster = ClusterFunction()
    result = orchestrator.run(SleepEvent("sleep", DEV).to_json(), aws(cluster, busy))
    assert "deploy running (openmarket-dev-cluster (UPDATE_IN_PROGRESS))" in result["done"][0]
    assert cluster.calls == []  # nothing was touched
    assert all(s["desiredSize"] > 0 for s in scaling(DEV).values())
    (schedule,) = boto3.client("scheduler", region_name=REGION).list_schedules()["Schedules"]
    assert schedule["Name"].startswith("dev-sleep-")
    retry = boto3.client("scheduler", region_name=REGION).get_schedule(Name=schedule["Name"])
    assert json.loads(retry["Target"]["Input"])["attempt"] == 1
    assert retry["ActionAfterCompletion"] == "DELETE"
    last = SleepEvent("sleep", DEV, attempt=DEV.deploy_retry_attempts)
    with pytest.raises(orchestrator.PartlyFailedError, match="a deploy is still running"):
        orchestrator.run(last.to_json(), aws(cluster, busy))


def test_dev_wakes_in_reverse_and_schedules_its_check(emulated_aws: None) -> None:
    deployed(DEV, desired={z.zone: 0 for z in DEV.zones})
    nat = nat_instance(DEV, state="stopped")
    cluster = ClusterFunction()
    result = orchestrator.run(SleepEvent("wake", DEV).to_json(), aws(cluster))
    assert result["failed"] == []
    assert instance_state(nat) == "running"
    assert {z: (s["minSize"], s["desiredSize"]) for z, s in scaling(DEV).items()} == {
        z.zone: (z.min_size, z.min_size) for z in DEV.zones
    }
    assert cluster.calls == [
        {"autoscalerReplicas": DEV.autoscaler_replicas},
        {"ingressClass": "alb"},
    ]
    assert marks() == [0.0]
    (schedule,) = boto3.client("scheduler", region_name=REGION).list_schedules()["Schedules"]
    check = boto3.client("scheduler", region_name=REGION).get_schedule(Name=schedule["Name"])
    assert json.loads(check["Target"]["Input"])["action"] == "check-wake"


def test_a_wake_keeps_what_the_autoscaler_added(emulated_aws: None) -> None:
    """Woken twice (the schedule, then make wake): nodes the autoscaler added stay."""
    plan = replace(DEV, nat_instance_tag=None, ingress_class=None, load_balancer_name=None)
    deployed(plan, desired={plan.zones[0].zone: 3})
    orchestrator.run(SleepEvent("wake", plan).to_json(), aws(ClusterFunction()))
    assert scaling(plan)[plan.zones[0].zone]["desiredSize"] == 3


def test_staging_stops_aurora_with_its_reader_scaling_suspended(emulated_aws: None) -> None:
    deployed(STAGING)
    rds = boto3.client("rds", region_name=REGION)
    rds.create_db_cluster(
        DBClusterIdentifier="openmarket-staging-aurora",
        Engine="aurora-mysql",
        MasterUsername="admin",
        ManageMasterUserPassword=True,
    )
    autoscaling = boto3.client("application-autoscaling", region_name=REGION)
    autoscaling.register_scalable_target(
        ServiceNamespace="rds",
        ResourceId="cluster:openmarket-staging-aurora",
        ScalableDimension="rds:cluster:ReadReplicaCount",
        MinCapacity=1,
        MaxCapacity=2,
    )
    result = orchestrator.run(SleepEvent("sleep", STAGING).to_json(), aws(ClusterFunction()))
    assert result["failed"] == []
    assert orchestrator.database_status(STAGING, rds) in ("stopped", "stopping")
    (target,) = autoscaling.describe_scalable_targets(ServiceNamespace="rds")["ScalableTargets"]
    assert target["SuspendedState"]["DynamicScalingOutSuspended"] is True
    result = orchestrator.run(SleepEvent("wake", STAGING).to_json(), aws(ClusterFunction()))
    (target,) = autoscaling.describe_scalable_targets(ServiceNamespace="rds")["ScalableTargets"]
    assert target["SuspendedState"]["DynamicScalingOutSuspended"] is False
    assert "started Aurora cluster openmarket-staging-aurora" in result["done"]


def test_a_failing_part_leaves_the_others_done_and_fails_the_run(emulated_aws: None) -> None:
    deployed(DEV)
    load_balancer("openmarket-dev-alb")
    with pytest.raises(orchestrator.PartlyFailedError) as failed:
        orchestrator.run(SleepEvent("sleep", DEV).to_json(), aws(ClusterFunction(fail=True)))
    message = str(failed.value)
    assert "load balancer: RuntimeError: AccessDenied" in message
    assert "autoscaler: RuntimeError: AccessDenied" in message
    # The node groups still went to 0: the night is not billed because one part failed.
    assert all(s["desiredSize"] == 0 for s in scaling(DEV).values())


def test_the_check_after_a_wake_fails_when_nodes_are_missing(emulated_aws: None) -> None:
    plan = replace(DEV, nat_instance_tag=None, ingress_class=None, load_balancer_name=None)
    deployed(plan)  # no instance ever started: moto's groups have no Auto Scaling group
    with pytest.raises(orchestrator.PartlyFailedError, match="nodes missing"):
        orchestrator.run(SleepEvent("check-wake", plan).to_json(), aws(ClusterFunction()))


def test_a_node_group_without_its_zone_tag_is_an_error(emulated_aws: None) -> None:
    eks = boto3.client("eks", region_name=REGION)
    eks.create_cluster(name=DEV.cluster_name, roleArn=ROLE, resourcesVpcConfig={"subnetIds": []})
    with pytest.raises(RuntimeError, match="no node group tagged openmarket:zone"):
        orchestrator.node_groups(DEV, eks)
