"""The parts of a stage that sleep and wake, each through the API of what owns it.

One function per step of orchestrator.py's actions: CloudFormation (is a deploy running), the
EKS node groups and their Auto Scaling groups, the NAT instance (EC2), the ALB (the cluster
function moves the Ingress, ELB says when it is gone), the Cluster Autoscaler (the cluster
function), Aurora and its reader scaling, the CloudWatch sleep mark and the one-time
schedules (Scheduler). Each returns what it did (None: nothing to do) or raises; the actions
collect the failures. Standard library and the runtime's boto3 only (through ``Aws``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .contract import ASLEEP_INGRESS_CLASS, ZONE_TAG, SleepEvent, StagePlan, sleep_mark

# How long the sleep waits for the ALB controller to delete the ALB, and the wake for the NAT
# instance to run (both well inside the function's timeout).
LOAD_BALANCER_GONE_TIMEOUT_S = 300
NAT_RUNNING_TIMEOUT_S = 180
POLL_S = 10


@dataclass
class Aws:
    """The AWS side, made per invocation; tests give emulated clients and a fake cluster
    function."""

    client: Callable[[str], Any]
    invoke_cluster: Callable[[str, dict[str, Any]], dict[str, Any]]
    # This function's ARN (from its invocation context) and the role the Scheduler invokes
    # it as (one-time schedules).
    function_arn: str = ""
    scheduler_role_arn: str = ""
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep


# --- parts ------------------------------------------------------------------------------


def deploy_in_progress(plan: StagePlan, cloudformation: Any) -> list[str]:
    """The stage's stacks being deployed (or rolled back) right now."""
    busy: list[str] = []
    for name in plan.stacks:
        try:
            stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
        except cloudformation.exceptions.ClientError as err:
            if "does not exist" in str(err):
                continue
            raise
        busy += [
            f"{name} ({s['StackStatus']})" for s in stacks if "IN_PROGRESS" in s["StackStatus"]
        ]
    return busy


def node_groups(plan: StagePlan, eks: Any) -> dict[str, dict[str, Any]]:
    """Zone -> the node group of that zone (by its zone tag); every zone must have one."""
    by_zone: dict[str, dict[str, Any]] = {}
    for name in eks.list_nodegroups(clusterName=plan.cluster_name)["nodegroups"]:
        group = eks.describe_nodegroup(clusterName=plan.cluster_name, nodegroupName=name)[
            "nodegroup"
        ]
        zone = (group.get("tags") or {}).get(ZONE_TAG)
        if zone:
            by_zone[zone] = group
    missing = [z.zone for z in plan.zones if z.zone not in by_zone]
    if missing:
        raise RuntimeError(f"no node group tagged {ZONE_TAG} for {', '.join(missing)}")
    return by_zone


def scale_node_groups(plan: StagePlan, eks: Any, *, asleep: bool) -> str:
    groups = node_groups(plan, eks)
    sizes = []
    for zone in plan.zones:
        group = groups[zone.zone]
        minimum = 0 if asleep else zone.min_size
        desired = 0 if asleep else max(zone.min_size, group["scalingConfig"].get("desiredSize", 0))
        eks.update_nodegroup_config(
            clusterName=plan.cluster_name,
            nodegroupName=group["nodegroupName"],
            # EKS keeps max >= 1; with the autoscaler at 0 nothing raises desired meanwhile.
            scalingConfig={"minSize": minimum, "desiredSize": desired, "maxSize": zone.max_size},
        )
        sizes.append(f"{zone.zone} {desired}")
    return f"node groups to {', '.join(sizes)}"


def instances_left(plan: StagePlan, eks: Any, autoscaling: Any) -> tuple[int, int]:
    """(desired nodes, instances in the node groups' Auto Scaling groups, any state)."""
    groups = node_groups(plan, eks)
    desired = sum(g["scalingConfig"].get("desiredSize", 0) for g in groups.values())
    names = [
        asg["name"]
        for g in groups.values()
        for asg in (g.get("resources") or {}).get("autoScalingGroups", [])
    ]
    instances = 0
    if names:
        for asg in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=names)[
            "AutoScalingGroups"
        ]:
            instances += len(asg.get("Instances", [])) + int(asg.get("DesiredCapacity", 0))
    return desired, instances


def nat_instances(plan: StagePlan, ec2: Any, states: list[str]) -> list[dict[str, Any]]:
    tag = plan.nat_tag
    if tag is None:
        return []
    reservations = ec2.describe_instances(
        Filters=[
            {"Name": f"tag:{tag[0]}", "Values": [tag[1]]},
            {"Name": "instance-state-name", "Values": states},
        ]
    )["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def start_nat(plan: StagePlan, aws: Aws) -> str | None:
    ec2 = aws.client("ec2")
    if nat_instances(plan, ec2, ["stopping"]):
        raise RuntimeError("the NAT instance is still stopping: try again in a minute")
    stopped = [i["InstanceId"] for i in nat_instances(plan, ec2, ["stopped"])]
    if stopped:
        ec2.start_instances(InstanceIds=stopped)
    pending = [i["InstanceId"] for i in nat_instances(plan, ec2, ["pending"])]
    deadline = aws.now() + timedelta(seconds=NAT_RUNNING_TIMEOUT_S)
    while pending and aws.now() < deadline:
        aws.sleep(POLL_S)
        pending = [i["InstanceId"] for i in nat_instances(plan, ec2, ["pending"])]
    if pending:
        raise RuntimeError(f"NAT instance {', '.join(pending)} did not start running")
    return f"started NAT instance {', '.join(stopped)}" if stopped else None


def stop_nat(plan: StagePlan, aws: Aws) -> str | None:
    ec2 = aws.client("ec2")
    running = [i["InstanceId"] for i in nat_instances(plan, ec2, ["pending", "running"])]
    if not running:
        return None
    ec2.stop_instances(InstanceIds=running)
    return f"stopped NAT instance {', '.join(running)}"


def load_balancer_exists(plan: StagePlan, elbv2: Any) -> bool:
    try:
        elbv2.describe_load_balancers(Names=[plan.load_balancer_name])
    except elbv2.exceptions.LoadBalancerNotFoundException:
        return False
    return True


def release_load_balancer(plan: StagePlan, aws: Aws) -> str | None:
    """The Ingress leaves the controller's class; the controller deletes the ALB."""
    if plan.load_balancer_name is None:
        return None
    aws.invoke_cluster(plan.cluster_function, {"ingressClass": ASLEEP_INGRESS_CLASS})
    elbv2 = aws.client("elbv2")
    deadline = aws.now() + timedelta(seconds=LOAD_BALANCER_GONE_TIMEOUT_S)
    while load_balancer_exists(plan, elbv2):
        if aws.now() >= deadline:
            raise RuntimeError(
                f"{plan.load_balancer_name} still exists {LOAD_BALANCER_GONE_TIMEOUT_S} s after "
                "its Ingress left the controller's class (is the controller running?)"
            )
        aws.sleep(POLL_S)
    return f"Ingress moved to {ASLEEP_INGRESS_CLASS}: the controller deleted its ALB"


def set_autoscaler(plan: StagePlan, aws: Aws, replicas: int) -> str:
    aws.invoke_cluster(plan.cluster_function, {"autoscalerReplicas": replicas})
    return f"cluster autoscaler to {replicas}"


def restore_ingress(plan: StagePlan, aws: Aws) -> str | None:
    if plan.ingress_class is None:
        return None
    aws.invoke_cluster(plan.cluster_function, {"ingressClass": plan.ingress_class})
    return f"Ingress back in class {plan.ingress_class}: the controller makes a new ALB"


def suspend_reader_scaling(plan: StagePlan, autoscaling: Any, *, suspended: bool) -> str | None:
    if plan.reader_scaling_resource is None:
        return None
    autoscaling.register_scalable_target(
        ServiceNamespace="rds",
        ResourceId=plan.reader_scaling_resource,
        ScalableDimension="rds:cluster:ReadReplicaCount",
        SuspendedState={
            "DynamicScalingInSuspended": suspended,
            "DynamicScalingOutSuspended": suspended,
            "ScheduledScalingSuspended": suspended,
        },
    )
    return f"reader scaling {'suspended' if suspended else 'resumed'}"


def database_status(plan: StagePlan, rds: Any) -> str:
    (cluster,) = rds.describe_db_clusters(DBClusterIdentifier=plan.database_cluster)["DBClusters"]
    return str(cluster["Status"])


def stop_database(plan: StagePlan, rds: Any) -> str | None:
    if plan.database_cluster is None:
        return None
    status = database_status(plan, rds)
    if status in ("stopped", "stopping"):
        return None
    if status != "available":
        # A reader being added or removed, a maintenance: StopDBCluster would fail.
        raise RuntimeError(f"Aurora cluster {plan.database_cluster} is {status}, not stopped")
    rds.stop_db_cluster(DBClusterIdentifier=plan.database_cluster)
    return f"stopped Aurora cluster {plan.database_cluster}"


def start_database(plan: StagePlan, rds: Any) -> str | None:
    if plan.database_cluster is None:
        return None
    status = database_status(plan, rds)
    if status == "stopping":
        raise RuntimeError(f"Aurora cluster {plan.database_cluster} is still stopping")
    if status != "stopped":
        return None
    rds.start_db_cluster(DBClusterIdentifier=plan.database_cluster)
    return f"started Aurora cluster {plan.database_cluster}"


def mark(plan: StagePlan, cloudwatch: Any, *, asleep: bool) -> str:
    cloudwatch.put_metric_data(**sleep_mark(plan.stage, asleep=asleep))
    return f"marked {'asleep' if asleep else 'awake'}"


def schedule_once(event: SleepEvent, aws: Aws, minutes: int, name: str) -> str:
    """A one-time schedule that invokes this function again (deleted once it ran)."""
    at = (aws.now() + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S")
    aws.client("scheduler").create_schedule(
        Name=name,
        ScheduleExpression=f"at({at})",
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={
            "Arn": aws.function_arn,
            "RoleArn": aws.scheduler_role_arn,
            "Input": json.dumps(event.to_json()),
        },
    )
    return f"{event.action} scheduled at {at} UTC"
