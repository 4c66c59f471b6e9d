"""stage-sleep: a stage sleeps outside working hours and wakes before them, through the APIs of
what owns each part. Runs outside the VPC (dev's NAT instance, which it starts, sleeps too).

``sleep`` (weekdays at stop_hour)
    1. A deploy of the stage running (a stack ``*_IN_PROGRESS``): sleep again in
       ``deploy_retry_minutes`` (a one-time schedule), at most ``deploy_retry_attempts``
       times, then fail. A sleep never starts under a deploy.
    2. Mark the stage asleep (the alerting dead man's switch holds still).
    3. ALB (dev): the cluster function moves the Ingress to a class no controller watches;
       the ALB controller, still running, deletes the ALB it made. Waits until it is gone.
    4. The cluster function scales the Cluster Autoscaler to 0: nothing adds nodes back.
    5. Every node group of the cluster to min 0, desired 0 (EKS drains the nodes).
    6. A provisioned Aurora cluster (staging): reader scaling suspended, the cluster stopped.
``finish-sleep`` (weekdays at stop_hour + finish_after_stop_minutes)
    The NAT instance (dev) stops once no node is left. Still draining: fail (retried, then
    the alarm): the NAT instance bills all night otherwise. Woken meanwhile: nothing to do.
``wake`` (weekdays before start_hour; ``make wake`` at any time)
    NAT instance started (and running), Aurora started and its scaling resumed, every node
    group back to its zone's minimum, the autoscaler back, the Ingress back in the ALB
    controller's class (it makes a new ALB once it runs), the stage marked awake, and a
    ``check-wake`` scheduled ``wake_check_after_minutes`` later.
``check-wake``
    Fails (the alarm) unless every node group has its minimum of running nodes, the
    autoscaler is available, the ALB exists (dev) and Aurora is available.

Every part is attempted; what failed is collected and raised at the end, so one broken part
does not leave the others undone and never goes unnoticed (the function's errors alarm).
Standard library and the runtime's boto3 only.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .contract import (
    ASLEEP_INGRESS_CLASS,
    ZONE_TAG,
    ContractError,
    SleepEvent,
    StagePlan,
    sleep_mark,
)

logger = logging.getLogger("stage_sleep")
logger.setLevel(logging.INFO)
if not logger.handlers:
    _handler = logging.StreamHandler(sys.stdout)
    _handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(_handler)
logger.propagate = False

# How long the sleep waits for the ALB controller to delete the ALB, and the wake for the NAT
# instance to run (both well inside the function's timeout).
LOAD_BALANCER_GONE_TIMEOUT_S = 300
NAT_RUNNING_TIMEOUT_S = 180
POLL_S = 10


class PartlyFailedError(RuntimeError):
    """Some parts of a sleep or wake failed; the others were done."""


@dataclass
class Outcome:
    """What one run did (logged as one JSON line and returned)."""

    action: str
    stage: str
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def step(self, what: str, run: Callable[[], str | None]) -> None:
        """Run one part; a failure is recorded, not raised, so the others still run."""
        try:
            result = run()
        except Exception as err:  # every part's failure is reported at the end
            self.failed.append(f"{what}: {type(err).__name__}: {err}")
            return
        if result:
            self.done.append(result)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "stage": self.stage,
            "done": self.done,
            "failed": self.failed,
        }


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


# --- actions ----------------------------------------------------------------------------


def sleep(event: SleepEvent, aws: Aws) -> Outcome:
    plan = event.plan
    outcome = Outcome("sleep", plan.stage)
    busy = deploy_in_progress(plan, aws.client("cloudformation"))
    if busy:
        if event.attempt >= plan.deploy_retry_attempts:
            raise PartlyFailedError(
                f"{plan.stage} did not sleep: a deploy is still running ({', '.join(busy)}) "
                f"after {event.attempt} retries"
            )
        retry = SleepEvent("sleep", plan, event.attempt + 1)
        stamp = aws.now().strftime("%Y%m%d%H%M")
        outcome.done.append(
            f"deploy running ({', '.join(busy)}): "
            + schedule_once(retry, aws, plan.deploy_retry_minutes, f"{plan.stage}-sleep-{stamp}")
        )
        return outcome
    outcome.step("mark", lambda: mark(plan, aws.client("cloudwatch"), asleep=True))
    outcome.step("load balancer", lambda: release_load_balancer(plan, aws))
    outcome.step("autoscaler", lambda: set_autoscaler(plan, aws, 0))
    outcome.step("node groups", lambda: scale_node_groups(plan, aws.client("eks"), asleep=True))
    outcome.step(
        "reader scaling",
        lambda: suspend_reader_scaling(plan, aws.client("application-autoscaling"), suspended=True),
    )
    outcome.step("database", lambda: stop_database(plan, aws.client("rds")))
    return outcome


def finish_sleep(event: SleepEvent, aws: Aws) -> Outcome:
    plan = event.plan
    outcome = Outcome("finish-sleep", plan.stage)
    if plan.nat_tag is None:
        return outcome
    desired, instances = instances_left(plan, aws.client("eks"), aws.client("autoscaling"))
    if desired > 0:
        outcome.done.append(f"woken meanwhile ({desired} nodes wanted): the NAT instance stays")
        return outcome
    if instances:
        raise PartlyFailedError(
            f"{plan.stage}: {instances} node(s) still draining; the NAT instance was not stopped"
        )
    outcome.step("NAT instance", lambda: stop_nat(plan, aws))
    return outcome


def wake(event: SleepEvent, aws: Aws) -> Outcome:
    plan = event.plan
    outcome = Outcome("wake", plan.stage)
    # The NAT instance first: booting nodes pull their images through it.
    outcome.step("NAT instance", lambda: start_nat(plan, aws))
    outcome.step("database", lambda: start_database(plan, aws.client("rds")))
    outcome.step(
        "reader scaling",
        lambda: suspend_reader_scaling(
            plan, aws.client("application-autoscaling"), suspended=False
        ),
    )
    outcome.step("node groups", lambda: scale_node_groups(plan, aws.client("eks"), asleep=False))
    outcome.step("autoscaler", lambda: set_autoscaler(plan, aws, plan.autoscaler_replicas))
    outcome.step("load balancer", lambda: restore_ingress(plan, aws))
    outcome.step("mark", lambda: mark(plan, aws.client("cloudwatch"), asleep=False))
    stamp = aws.now().strftime("%Y%m%d%H%M")
    check = SleepEvent("check-wake", plan)
    outcome.step(
        "check",
        lambda: schedule_once(
            check, aws, plan.wake_check_after_minutes, f"{plan.stage}-check-wake-{stamp}"
        ),
    )
    return outcome


def check_wake(event: SleepEvent, aws: Aws) -> Outcome:
    plan = event.plan
    outcome = Outcome("check-wake", plan.stage)

    def nodes() -> str:
        groups = node_groups(plan, aws.client("eks"))
        short = []
        for zone in plan.zones:
            group = groups[zone.zone]
            asgs = [a["name"] for a in (group.get("resources") or {}).get("autoScalingGroups", [])]
            running = 0
            if asgs:
                found = aws.client("autoscaling").describe_auto_scaling_groups(
                    AutoScalingGroupNames=asgs
                )["AutoScalingGroups"]
                running = sum(
                    1
                    for asg in found
                    for i in asg.get("Instances", [])
                    if i.get("LifecycleState") == "InService"
                )
            if running < zone.min_size:
                short.append(f"{zone.zone}: {running} of {zone.min_size}")
        if short:
            raise RuntimeError(f"nodes missing ({'; '.join(short)})")
        return "nodes at their minimum"

    def autoscaler() -> str:
        status = aws.invoke_cluster(plan.cluster_function, {})
        available = int(status.get("autoscaler", {}).get("available", 0))
        if available < 1:
            raise RuntimeError("the cluster autoscaler is not available")
        return "autoscaler available"

    def load_balancer() -> str | None:
        if plan.load_balancer_name is None:
            return None
        if not load_balancer_exists(plan, aws.client("elbv2")):
            raise RuntimeError(f"{plan.load_balancer_name} was not recreated")
        return f"{plan.load_balancer_name} exists"

    def database() -> str | None:
        if plan.database_cluster is None:
            return None
        status = database_status(plan, aws.client("rds"))
        if status != "available":
            raise RuntimeError(f"Aurora cluster {plan.database_cluster} is {status}")
        return "Aurora available"

    for what, run in (
        ("nodes", nodes),
        ("autoscaler", autoscaler),
        ("load balancer", load_balancer),
        ("database", database),
    ):
        outcome.step(what, run)
    return outcome


ACTIONS: dict[str, Callable[[SleepEvent, Aws], Outcome]] = {
    "sleep": sleep,
    "finish-sleep": finish_sleep,
    "wake": wake,
    "check-wake": check_wake,
}


def run(data: Any, aws: Aws) -> dict[str, Any]:
    """One event: parse it, run its action, log the outcome, raise if a part failed."""
    try:
        event = SleepEvent.from_json(data)
    except ContractError as err:
        logger.error(json.dumps({"action": "refused", "reason": str(err)}))
        raise
    outcome = ACTIONS[event.action](event, aws)
    logger.info(json.dumps(outcome.as_dict()))
    if outcome.failed:
        raise PartlyFailedError(
            f"{event.action} of {event.plan.stage}: " + "; ".join(outcome.failed)
        )
    return outcome.as_dict()


def _aws(context: Any) -> Aws:
    import boto3

    def invoke_cluster(function: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = boto3.client("lambda").invoke(
            FunctionName=function, Payload=json.dumps(payload).encode()
        )
        body = json.loads(answer["Payload"].read() or b"{}")
        if answer.get("FunctionError"):
            raise RuntimeError(f"{function}: {body.get('errorMessage', body)}")
        return dict(body)

    return Aws(
        client=boto3.client,
        invoke_cluster=invoke_cluster,
        function_arn=str(getattr(context, "invoked_function_arn", "")),
        scheduler_role_arn=os.environ.get("SCHEDULER_ROLE_ARN", ""),
    )


def handler(event: Any, context: Any) -> dict[str, Any]:
    return run(event, _aws(context))
