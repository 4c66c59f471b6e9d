"""make wake: runs the stage's own stage-sleep function with the morning's wake event, then
waits, bounded, for the nodes; one line when there is nothing to wake or it failed."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest

from openmarket_cdk.config import stage_config
from openmarket_cdk.stage_sleep.plan import stage_plan
from scripts.aws_access import OperatorError
from scripts.wake_stage import invoke_wake, main, nodes_short, wait_for_nodes

DEV = stage_config("dev")
REGION = "ap-northeast-2"


class Lambda:
    """The Lambda API: answers an invoke with what the function returned (or raised)."""

    def __init__(self, answer: dict[str, Any], error: bool = False, missing: bool = False) -> None:
        self.answer, self.error, self.missing = answer, error, missing
        self.invoked: list[tuple[str, dict[str, Any]]] = []
        self.exceptions = boto3.client("lambda", region_name=REGION).exceptions

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:
        if self.missing:
            raise self.exceptions.ResourceNotFoundException(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "x"}}, "Invoke"
            )
        self.invoked.append((FunctionName, json.loads(Payload)))
        reply: dict[str, Any] = {"Payload": io.BytesIO(json.dumps(self.answer).encode())}
        if self.error:
            reply["FunctionError"] = "Unhandled"
        return reply


def test_make_wake_sends_the_mornings_event() -> None:
    client = Lambda({"done": ["started NAT instance i-1", "node groups to ..."]})
    assert invoke_wake(DEV, client) == ["started NAT instance i-1", "node groups to ..."]
    ((function, event),) = client.invoked
    assert function == "openmarket-dev-stage-sleep"
    expected = {"action": "wake", "attempt": 0, "plan": stage_plan(DEV).to_json()}
    assert event == json.loads(json.dumps(expected))


def test_before_the_first_deploy_there_is_nothing_to_wake() -> None:
    (line,) = invoke_wake(DEV, Lambda({}, missing=True))
    assert "not deployed yet" in line


def test_a_partly_failed_wake_is_one_line_naming_the_log() -> None:
    with pytest.raises(OperatorError, match="the wake failed in part: wake of dev: node groups"):
        invoke_wake(DEV, Lambda({"errorMessage": "wake of dev: node groups: boom"}, error=True))


def test_waiting_for_nodes_is_bounded(emulated_aws: None) -> None:
    plan = stage_plan(DEV)
    eks = boto3.client("eks", region_name=REGION)
    role = "arn:aws:iam::123456789012:role/x"
    eks.create_cluster(name=plan.cluster_name, roleArn=role, resourcesVpcConfig={"subnetIds": []})
    for zone in plan.zones:
        eks.create_nodegroup(
            clusterName=plan.cluster_name,
            nodegroupName=f"g-{zone.zone}",
            nodeRole=role,
            subnets=["s"],
            tags={"openmarket:zone": zone.zone},
        )
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    assert nodes_short(DEV, eks, autoscaling) == ["ap-northeast-2a 0/1", "ap-northeast-2c 0/1"]
    waited: list[float] = []
    with pytest.raises(OperatorError, match="nodes still missing after 20 minutes"):
        wait_for_nodes(DEV, eks, autoscaling, sleep=waited.append)
    assert sum(waited) == 20 * 60


def test_prod_never_sleeps() -> None:
    assert main(["prod"]) == 0
