"""nodegroup-scaling: a node group's bounds under CloudFormation, its size under the autoscaler.

A CloudFormation custom resource (``Custom::NodegroupScaling``), one per node group. The node
group's own template carries no ScalingConfig at all: with a DesiredSize there, every later
change of the group's scaling config would reset the count the Cluster Autoscaler set
mid-day (the EKS API reference says not to set it when an autoscaler manages the group).

- Create: min and max from the template, desired = min (the new group's first size).
- Update: min and max from the template, desired = today's desired clamped into them: the
  autoscaler's count survives, and only a bound it crossed moves it.
- Delete: nothing (the node group goes with its own resource).

A group that is being updated (a new launch template version rolling, a scaling call in
flight) is waited for. Standard library and the runtime's boto3 only; it answers
CloudFormation through the presigned response URL itself.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import boto3

# The function has 15 minutes; an EKS node group update can take about ten.
WAIT_FOR_ACTIVE_S = 600
POLL_S = 15


def desired_size(request_type: str, current: int | None, minimum: int, maximum: int) -> int:
    if request_type == "Create" or current is None:
        return minimum
    return max(minimum, min(current, maximum))


def apply(
    request_type: str,
    properties: Mapping[str, Any],
    eks: Any,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    cluster, nodegroup = str(properties["ClusterName"]), str(properties["NodegroupName"])
    minimum, maximum = int(properties["MinSize"]), int(properties["MaxSize"])
    if not 0 <= minimum <= maximum or maximum < 1:
        raise ValueError(f"bounds {minimum}..{maximum} of {nodegroup} are not 0 <= min <= max >= 1")
    waited = 0.0
    while True:
        group = eks.describe_nodegroup(clusterName=cluster, nodegroupName=nodegroup)["nodegroup"]
        if group["status"] == "ACTIVE":
            break
        if waited >= WAIT_FOR_ACTIVE_S:
            raise RuntimeError(f"{nodegroup} stayed {group['status']} for {waited:.0f} s")
        sleep(POLL_S)
        waited += POLL_S
    scaling = group.get("scalingConfig") or {}
    desired = desired_size(request_type, scaling.get("desiredSize"), minimum, maximum)
    wanted = {"minSize": minimum, "maxSize": maximum, "desiredSize": desired}
    if {k: scaling.get(k) for k in wanted} != wanted:
        eks.update_nodegroup_config(
            clusterName=cluster, nodegroupName=nodegroup, scalingConfig=wanted
        )
    return wanted


def respond(event: Mapping[str, Any], status: str, reason: str, data: Mapping[str, Any]) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000],
            "PhysicalResourceId": f"{event['ResourceProperties']['ClusterName']}/"
            f"{event['ResourceProperties']['NodegroupName']}",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": dict(data),
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


def handler(event: Mapping[str, Any], _context: Any) -> None:
    print(json.dumps({k: v for k, v in event.items() if k != "ResponseURL"}))
    try:
        data: Mapping[str, Any] = {}
        if event["RequestType"] != "Delete":
            data = apply(event["RequestType"], event["ResourceProperties"], boto3.client("eks"))
        respond(event, "SUCCESS", "ok", data)
    except Exception as err:
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        respond(event, "FAILED", f"{type(err).__name__}: {err}", {})
