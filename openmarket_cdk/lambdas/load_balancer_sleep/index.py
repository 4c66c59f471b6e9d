"""load-balancer-sleep: delete a sleeping stage's ALB once its nodes are gone.

Why it exists: in dev the EKS managed node group is scaled to 0 at 18:00 on weekdays, but the
ALB in front of the apps keeps billing its hourly charge all night and all weekend (about
$21 a month). That ALB is not a CloudFormation resource: the AWS Load Balancer Controller
creates it from the Ingress (whose annotation names it) and tags it
``elbv2.k8s.aws/cluster=<cluster>``. An EventBridge Scheduler schedule invokes this function
at 18:30 on weekdays; it deletes the ALB. At 09:00 the nodes come back, the controller starts,
reconciles the Ingress, finds no ALB by that name and creates it again (the target groups,
which cost nothing, stay and are reused; ExternalDNS re-points the record at the new ALB).

Why the checks:

- The controller must not be running. A running controller would not notice a deleted ALB
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

Event (the schedule's input; a missing or empty key raises ``ValueError``: a misconfigured
schedule must fail loudly)::

    {"loadBalancerName": "openmarket-dev-alb",
     "clusterName": "openmarket-dev",
     "nodegroupName": "openmarket-dev-app-nodes"}

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
EVENT_KEYS = ("loadBalancerName", "clusterName", "nodegroupName")
_NOT_FOUND = "LoadBalancerNotFound"

Action = Literal["deleted", "skipped", "absent"]


class SleepResult(TypedDict):
    """What the function did, and why (also the logged line's core)."""

    action: Action
    reason: str
    loadBalancerArn: str | None


class RefusedError(RuntimeError):
    """A load balancer by that name exists but is not this cluster's ALB: not deleted."""


@dataclass(frozen=True)
class SleepRequest:
    load_balancer_name: str
    cluster_name: str
    nodegroup_name: str


class _JsonLineHandler(logging.Handler):
    """Writes the bare message to the current ``sys.stdout``: no runtime prefix in front of
    the JSON (Lambda's text format would add one), so Logs Insights parses every field."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


logger = logging.getLogger("load_balancer_sleep")
logger.setLevel(logging.INFO)
logger.propagate = False
if not logger.handlers:
    logger.addHandler(_JsonLineHandler())


def _client(service: str) -> Any:
    """A boto3 client in the function's region (``AWS_REGION`` in Lambda), made per call."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return boto3.client(service, region_name=region)


def parse_event(event: Any) -> SleepRequest:
    """The three names, each a non-empty string; otherwise ``ValueError`` naming the key."""
    if not isinstance(event, Mapping):
        raise ValueError(f"event must be an object with {', '.join(EVENT_KEYS)}; got {event!r}")
    values: dict[str, str] = {}
    for key in EVENT_KEYS:
        value = event.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"event key {key!r} is missing or empty (got {value!r})")
        values[key] = value.strip()
    return SleepRequest(
        load_balancer_name=values["loadBalancerName"],
        cluster_name=values["clusterName"],
        nodegroup_name=values["nodegroupName"],
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
        "loadBalancerName": request.load_balancer_name,
        "clusterName": request.cluster_name,
        "nodegroupName": request.nodegroup_name,
        "requestId": getattr(context, "aws_request_id", None),
    }
    logger.log(level, json.dumps(line, sort_keys=True))


def sleep_load_balancer(request: SleepRequest, context: Any = None) -> SleepResult:
    """Check that no node can run the controller and that the ALB is this cluster's, then
    delete it. Returns the decision; raises ``RefusedError`` for a load balancer that is
    not this cluster's ALB."""
    reason = _nodes_block_reason(request, _client("eks"), _client("autoscaling"))
    if reason is not None:
        result = SleepResult(action="skipped", reason=reason, loadBalancerArn=None)
        _log(logging.INFO, result, request, context)
        return result

    elbv2 = _client("elbv2")
    load_balancer = _find_load_balancer(request.load_balancer_name, elbv2)
    if load_balancer is None:
        result = SleepResult(
            action="absent",
            reason=f"no load balancer named {request.load_balancer_name}: already asleep",
            loadBalancerArn=None,
        )
        _log(logging.INFO, result, request, context)
        return result

    arn = str(load_balancer["LoadBalancerArn"])
    refusal = _refusal(request, load_balancer, elbv2)
    if refusal is not None:
        _log(
            logging.ERROR,
            {"action": "refused", "reason": refusal, "loadBalancerArn": arn},
            request,
            context,
        )
        raise RefusedError(refusal)

    elbv2.delete_load_balancer(LoadBalancerArn=arn)
    result = SleepResult(
        action="deleted",
        reason=(
            f"node group {request.nodegroup_name} has no node: the controller is not running "
            "and recreates the ALB when the nodes return"
        ),
        loadBalancerArn=arn,
    )
    _log(logging.INFO, result, request, context)
    return result


def handler(event: Any, context: Any) -> SleepResult:
    """Lambda entry point (``index.handler``), invoked by the evening schedule."""
    return sleep_load_balancer(parse_event(event), context)
