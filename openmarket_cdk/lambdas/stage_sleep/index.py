"""stage-sleep: put a sleeping stage's ALB and NAT instance to sleep once its nodes are gone,
and wake the NAT instance before they return.

Why it exists: in dev the EKS managed node group is scaled to 0 at 18:00 on weekdays, but the
ALB in front of the apps keeps billing its hourly charge all night and all weekend (about
$21 a month), and so does the NAT instance with its public address (about $5). The ALB is
not a CloudFormation resource: the AWS Load Balancer Controller creates it from the Ingress
(whose annotation names it) and tags it ``elbv2.k8s.aws/cluster=<cluster>``. An EventBridge
Scheduler schedule invokes this function at 18:30 on weekdays (``"action": "sleep"``): it
deletes the ALB and stops the NAT instance(s) carrying the stage's sleep tag. At 08:50 another
schedule (``"action": "wake"``) starts them, before the nodes boot at 09:00 and pull their
images through them; the controller, back with the nodes, reconciles the Ingress, finds no
ALB by that name and creates it again (the target groups, which cost nothing, stay and are
reused; ExternalDNS re-points a record at the new ALB). ``make wake`` starts the NAT instance
the same way, by its tag.

Why the checks:

- Nothing may be running (both parts of the sleep share this check). A NAT instance stopped
  under running nodes cuts their egress (image pulls, AWS APIs, a deploy's kubectl handler).
  The controller must not be running either. A running controller would not notice a deleted ALB
  until its next restart, so the site would stay down through the working day instead of
  the night. The controller runs only on the node group's nodes (the cluster has no other
  compute: no Fargate profile, no other node group), so the function deletes only when the
  node group's desired size is 0 *and* its Auto Scaling groups hold no instance in any
  lifecycle state (nodes still draining, in standby or starting) and want none. Anything
  else (someone woke the stage with ``make wake``, the night schedule failed, nodes are still
  terminating) is a logged skip, not an error: the next evening tries again. A wake that
  lands between these checks and the delete is harmless: nodes take minutes to join, and a
  controller that starts after the delete recreates the ALB.
- The load balancer must be this cluster's. The name comes from the schedule's input; a
  load balancer of that name without ``elbv2.k8s.aws/cluster=<cluster>`` (made by hand,
  by another cluster, or not an ALB) is not ours to delete. That is a refusal: the function
  raises, so a name clash shows up as a failed invocation instead of a silent deletion. The
  execution role's ``DeleteLoadBalancer`` grant carries the same tag condition.

Events (the schedules' input; a missing or empty key raises ``ValueError``: a misconfigured
schedule must fail loudly)::

    {"action": "sleep",
     "clusterName": "openmarket-dev",
     "nodegroupName": "openmarket-dev-apps",
     "loadBalancerName": "openmarket-dev-alb",                       # optional
     "natInstanceTag": {"key": "openmarket:sleeps", "value": "dev"}}  # optional
    {"action": "wake",
     "natInstanceTag": {"key": "openmarket:sleeps", "value": "dev"}}

Each decision is logged as one bare JSON line (the returned dict, or ``"action": "refused"``,
plus the level, the request id and the event's names), written straight to stdout so
CloudWatch Logs Insights discovers its fields whatever the function's log format (text or
JSON). Only boto3 (from the Lambda runtime) and the standard library are used.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import boto3
from botocore.exceptions import ClientError

# The tag the AWS Load Balancer Controller puts on every load balancer it creates.
LBC_CLUSTER_TAG = "elbv2.k8s.aws/cluster"
_NOT_FOUND = "LoadBalancerNotFound"

Action = Literal["sleep", "wake"]
Outcome = Literal["deleted", "stopped", "started", "skipped", "absent"]
ACTIONS: tuple[Action, ...] = ("sleep", "wake")


class PartResult(TypedDict):
    """What the function did to one part of the stage (the ALB, the NAT instances), and why;
    each is also one logged line."""

    part: str
    action: Outcome
    reason: str
    resources: list[str]


class StillStoppingError(RuntimeError):
    """A tagged instance is still stopping: it cannot be started yet."""


class RefusedError(RuntimeError):
    """A load balancer by that name exists but is not this cluster's ALB: not deleted."""

    def __init__(self, reason: str, arn: str) -> None:
        super().__init__(reason)
        self.arn = arn


@dataclass(frozen=True)
class InstanceTag:
    key: str
    value: str


@dataclass(frozen=True)
class SleepRequest:
    action: Action
    cluster_name: str = ""
    nodegroup_name: str = ""
    load_balancer_name: str | None = None
    nat_instance_tag: InstanceTag | None = None


class _JsonLineHandler(logging.Handler):
    """Writes the bare message to the current ``sys.stdout``: no runtime prefix in front of
    the JSON (Lambda's text format would add one), so Logs Insights parses every field."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


logger = logging.getLogger("stage_sleep")
logger.setLevel(logging.INFO)
logger.propagate = False
if not logger.handlers:
    logger.addHandler(_JsonLineHandler())


logger = logging.getLogger("stage_sleep")
logger.setLevel(logging.INFO)
logger.propagate = False
if not logger.handlers:
    logger.addHandler(_JsonLineHandler())


def _client(service: str) -> Any:
    """A boto3 client in the function's region (``AWS_REGION`` in Lambda), made per call."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return boto3.client(service, region_name=region)


def _text(event: Mapping[str, Any], key: str, required: bool) -> str | None:
    value = event.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"event key {key!r} is missing or empty (got {value!r})")
    return value.strip()


def parse_event(event: Any) -> SleepRequest:
    """The request the schedule sent; ``ValueError`` naming the key when it is malformed."""
    if not isinstance(event, Mapping):
        raise ValueError(f"event must be an object with an 'action'; got {event!r}")
    action = event.get("action")
    if action not in ACTIONS:
        raise ValueError(f"event key 'action' must be one of {ACTIONS} (got {action!r})")
    tag: InstanceTag | None = None
    raw_tag = event.get("natInstanceTag")
    if raw_tag is not None:
        if not isinstance(raw_tag, Mapping):
            raise ValueError(f"event key 'natInstanceTag' must be an object (got {raw_tag!r})")
        key, value = _text(raw_tag, "key", True), _text(raw_tag, "value", True)
        assert key is not None and value is not None
        tag = InstanceTag(key=key, value=value)
    if action == "wake":
        if tag is None:
            raise ValueError("event key 'natInstanceTag' is missing or empty: nothing to wake")
        return SleepRequest(action="wake", nat_instance_tag=tag)
    cluster = _text(event, "clusterName", True)
    nodegroup = _text(event, "nodegroupName", True)
    assert cluster is not None and nodegroup is not None
    load_balancer = _text(event, "loadBalancerName", False)
    if load_balancer is None and tag is None:
        raise ValueError(
            "event key 'loadBalancerName' is missing or empty, and so is 'natInstanceTag': "
            "nothing to put to sleep"
        )
    return SleepRequest(
        action="sleep",
        cluster_name=cluster,
        nodegroup_name=nodegroup,
        load_balancer_name=load_balancer,
        nat_instance_tag=tag,
    )


def _nodes_block_reason(request: SleepRequest, eks: Any, autoscaling: Any) -> str | None:
    """Why the controller may still run (a reason to skip), or None when no node exists."""
    nodegroup = eks.describe_nodegroup(
        clusterName=request.cluster_name, nodegroupName=request.nodegroup_name
    )["nodegroup"]
    desired_size = nodegroup.get("scalingConfig", {}).get("desiredSize")
    if desired_size is None:
        return f"node group {request.nodegroup_name} reports no desired size"
    desired = int(desired_size)
    if desired > 0:
        return f"node group {request.nodegroup_name} desired size is {desired}: the stage is awake"
    group_names = [
        str(group["name"])
        for group in nodegroup.get("resources", {}).get("autoScalingGroups", [])
        if group.get("name")
    ]
    if not group_names:
        return f"node group {request.nodegroup_name} reports no Auto Scaling group yet"
    for name in group_names:
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ]
        if not groups:
            return f"Auto Scaling group {name} of the node group was not found"
        group = groups[0]
        instances = group.get("Instances", [])
        if instances:
            states = sorted({str(i.get("LifecycleState", "?")) for i in instances})
            return (
                f"Auto Scaling group {name} still has {len(instances)} instance(s) "
                f"({', '.join(states)})"
            )
        if int(group.get("DesiredCapacity", 0)) > 0:
            return (
                f"Auto Scaling group {name} desired capacity is {group['DesiredCapacity']}: "
                "nodes are starting"
            )
    return None


def _find_load_balancer(name: str, elbv2: Any) -> dict[str, Any] | None:
    try:
        found: list[dict[str, Any]] = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == _NOT_FOUND:
            return None
        raise
    return found[0] if found else None


def _refusal(request: SleepRequest, load_balancer: Mapping[str, Any], elbv2: Any) -> str | None:
    """Why this load balancer is not this cluster's ALB, or None when it is."""
    arn = str(load_balancer["LoadBalancerArn"])
    descriptions = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
    tags = {
        str(tag["Key"]): str(tag["Value"])
        for description in descriptions
        if description.get("ResourceArn") == arn
        for tag in description.get("Tags", [])
    }
    owner = tags.get(LBC_CLUSTER_TAG)
    if owner != request.cluster_name:
        found = f"{LBC_CLUSTER_TAG}={owner}" if owner is not None else f"no {LBC_CLUSTER_TAG} tag"
        return (
            f"load balancer {request.load_balancer_name} has {found}, not "
            f"{LBC_CLUSTER_TAG}={request.cluster_name}: not created by this cluster's controller"
        )
    lb_type = load_balancer.get("Type")
    if lb_type != "application":
        return f"load balancer {request.load_balancer_name} is of type {lb_type}, not application"
    return None


def _log(level: int, record: Mapping[str, Any], request: SleepRequest, context: Any) -> None:
    line = {
        "level": logging.getLevelName(level),
        **record,
        "request": request.action,
        "clusterName": request.cluster_name or None,
        "requestId": getattr(context, "aws_request_id", None),
    }
    logger.log(level, json.dumps(line, sort_keys=True))


def _instances(tag: InstanceTag, states: list[str], ec2: Any) -> list[dict[str, Any]]:
    reservations = ec2.describe_instances(
        Filters=[
            {"Name": f"tag:{tag.key}", "Values": [tag.value]},
            {"Name": "instance-state-name", "Values": states},
        ]
    )["Reservations"]
    return [instance for r in reservations for instance in r["Instances"]]


def _stop_nat_instances(tag: InstanceTag, ec2: Any) -> PartResult:
    running = [i["InstanceId"] for i in _instances(tag, ["pending", "running"], ec2)]
    if not running:
        return PartResult(
            part="nat-instances",
            action="absent",
            reason=f"no running instance tagged {tag.key}={tag.value}: already asleep",
            resources=[],
        )
    ec2.stop_instances(InstanceIds=running)
    return PartResult(
        part="nat-instances",
        action="stopped",
        reason="the node group has no node: nothing needs the NAT until the morning",
        resources=running,
    )


def start_nat_instances(tag: InstanceTag, ec2: Any) -> PartResult:
    """Start the stopped instances carrying ``tag`` (the morning schedule, and `make wake`);
    ``StillStoppingError`` when one has not finished stopping."""
    instances = _instances(tag, ["stopped", "stopping"], ec2)
    stopping = [i["InstanceId"] for i in instances if i["State"]["Name"] == "stopping"]
    if stopping:
        # Cannot be started until it has stopped: fail, so the errors alarm says so.
        raise StillStoppingError(
            f"NAT instance(s) {', '.join(stopping)} still stopping: not started"
        )
    stopped = [i["InstanceId"] for i in instances]
    if not stopped:
        return PartResult(
            part="nat-instances",
            action="absent",
            reason=f"no stopped instance tagged {tag.key}={tag.value}: already awake",
            resources=[],
        )
    ec2.start_instances(InstanceIds=stopped)
    return PartResult(
        part="nat-instances",
        action="started",
        reason="before the nodes boot and pull their images through it",
        resources=stopped,
    )


def _sleep_load_balancer(request: SleepRequest, elbv2: Any) -> PartResult:
    """Delete the ALB; ``RefusedError`` for a load balancer that is not this cluster's."""
    name = str(request.load_balancer_name)
    load_balancer = _find_load_balancer(name, elbv2)
    if load_balancer is None:
        return PartResult(
            part="load-balancer",
            action="absent",
            reason=f"no load balancer named {name}: already asleep",
            resources=[],
        )
    arn = str(load_balancer["LoadBalancerArn"])
    refusal = _refusal(request, load_balancer, elbv2)
    if refusal is not None:
        raise RefusedError(refusal, arn)
    elbv2.delete_load_balancer(LoadBalancerArn=arn)
    return PartResult(
        part="load-balancer",
        action="deleted",
        reason=(
            f"node group {request.nodegroup_name} has no node: the controller is not running "
            "and recreates the ALB when the nodes return"
        ),
        resources=[arn],
    )


def run(request: SleepRequest, context: Any = None) -> list[PartResult]:
    """Wake: start the NAT instances. Sleep: when no node can be running, stop the NAT
    instances and delete the ALB (after the NAT: a refusal to delete must not keep the NAT
    up). Returns one result per part; raises ``RefusedError`` after logging a refusal."""
    parts: list[PartResult] = []
    if request.action == "wake":
        assert request.nat_instance_tag is not None
        parts.append(start_nat_instances(request.nat_instance_tag, _client("ec2")))
    else:
        reason = _nodes_block_reason(request, _client("eks"), _client("autoscaling"))
        if reason is not None:
            names = [
                part
                for part, wanted in (
                    ("nat-instances", request.nat_instance_tag),
                    ("load-balancer", request.load_balancer_name),
                )
                if wanted
            ]
            parts = [
                PartResult(part=part, action="skipped", reason=reason, resources=[])
                for part in names
            ]
        else:
            if request.nat_instance_tag is not None:
                parts.append(_stop_nat_instances(request.nat_instance_tag, _client("ec2")))
            if request.load_balancer_name is not None:
                try:
                    parts.append(_sleep_load_balancer(request, _client("elbv2")))
                except RefusedError as refused:
                    for part in parts:
                        _log(logging.INFO, part, request, context)
                    _log(
                        logging.ERROR,
                        {
                            "part": "load-balancer",
                            "action": "refused",
                            "reason": str(refused),
                            "resources": [refused.arn],
                        },
                        request,
                        context,
                    )
                    raise
    for part in parts:
        _log(logging.INFO, part, request, context)
    return parts


def handler(event: Any, context: Any) -> list[PartResult]:
    """Lambda entry point (``index.handler``), invoked by the evening and morning schedules."""
    return run(parse_event(event), context)
