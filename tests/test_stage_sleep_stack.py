"""Stage sleep in the cluster templates: one part, in-band, least privilege.

- dev and staging run the orchestrator (outside the VPC) from three (dev) or two weekday
  schedules whose input is the stage's plan; prod has none of it.
- Only the cluster function, inside the VPC, talks to the Kubernetes API, as an access entry
  whose group RBAC binds to the autoscaler's scale and (dev) the one Ingress.
- Nothing deletes what a controller owns: no role may delete a load balancer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from openmarket_cdk.config import STAGE_NAMES, stage_config
from openmarket_cdk.stage_sleep.plan import stage_plan
from openmarket_cdk.stage_sleep.runtime.contract import SleepEvent
from tests.cfn import of_type, ref_id
from tests.conftest import STACK_KINDS, Synthesized
from tests.test_first_deploy import manifest_objects

pytestmark = pytest.mark.parametrize("stage", STAGE_NAMES)


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        str(f["Properties"]["FunctionName"]): f["Properties"]
        for f in of_type(template, "AWS::Lambda::Function").values()
        if isinstance(f["Properties"].get("FunctionName"), str)
    }


def statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [
        s
        for p in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_a_sleeping_stage_has_the_part_and_prod_has_none(
    synthesized: Synthesized, stage: str
) -> None:
    config = stage_config(stage)
    template = synthesized.template(stage, "cluster")
    found = functions(template)
    names = {config.names.stage_sleep_function_name, config.names.stage_sleep_cluster_function_name}
    if not config.sleep.enabled:
        assert not names & set(found)
        assert of_type(template, "AWS::Scheduler::Schedule") == {}
        return
    assert names <= set(found)
    # The orchestrator is outside the VPC (dev's NAT, which it starts, sleeps); the cluster
    # function inside (the API endpoint is private or office-only), reaching nothing but it.
    assert "VpcConfig" not in found[config.names.stage_sleep_function_name]
    assert "VpcConfig" in found[config.names.stage_sleep_cluster_function_name]
    schedules = {
        s["Properties"]["Name"]: s["Properties"]
        for s in of_type(template, "AWS::Scheduler::Schedule").values()
    }
    expected = {"sleep", "wake"} | ({"finish-sleep"} if config.sleep.nat_instance_sleeps else set())
    assert set(schedules) == {f"{config.names.prefix}-{a}" for a in expected}
    for action in expected:
        schedule = schedules[f"{config.names.prefix}-{action}"]
        event = SleepEvent.from_json(json.loads(schedule["Target"]["Input"]))
        assert event.action == action and event.plan == stage_plan(config)
        assert schedule["ScheduleExpressionTimezone"] == config.sleep.time_zone
    hour, minute = config.sleep.wake_hour_minute
    assert schedules[f"{config.names.prefix}-wake"]["ScheduleExpression"] == (
        f"cron({minute} {hour} ? * {config.sleep.weekdays} *)"
    )
    assert schedules[f"{config.names.prefix}-sleep"]["ScheduleExpression"] == (
        f"cron(0 {config.sleep.stop_hour} ? * {config.sleep.weekdays} *)"
    )
    # The plan names every stack of the stage (a sleep waits for a running deploy).
    assert stage_plan(config).stacks == tuple(f"{config.names.prefix}-{k}" for k in STACK_KINDS)


def test_the_cluster_function_may_touch_two_objects(synthesized: Synthesized, stage: str) -> None:
    config = stage_config(stage)
    if not config.sleep.enabled:
        return
    template = synthesized.template(stage, "cluster")
    entries = [
        e["Properties"]
        for e in of_type(template, "AWS::EKS::AccessEntry").values()
        if e["Properties"].get("KubernetesGroups")
    ]
    (entry,) = entries
    assert entry["KubernetesGroups"] == ["openmarket-stage-sleep"]
    assert entry.get("AccessPolicies") in (None, [])  # RBAC alone decides
    objects = [
        o
        for m in of_type(template, "Custom::AWSCDK-EKS-KubernetesResource").values()
        for o in manifest_objects(m)
        if o.get("metadata", {}).get("name") in ("openmarket-stage-sleep", "openmarket-asleep")
    ]
    rules = {o["metadata"]["namespace"]: o["rules"] for o in objects if o["kind"] == "Role"}
    assert rules["kube-system"] == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "deployments/scale"],
            "resourceNames": ["cluster-autoscaler"],
            "verbs": ["get", "patch"],
        }
    ]
    sleeps = config.sleep.load_balancer_sleeps
    assert (config.names.namespace in rules) is sleeps
    if sleeps:
        assert rules[config.names.namespace][0]["resources"] == ["ingresses"]
        (ingress_class,) = [o for o in objects if o["kind"] == "IngressClass"]
        assert ingress_class["spec"]["controller"] != "ingress.k8s.aws/alb"
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    assert bindings and all(
        b["subjects"]
        == [
            {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Group",
                "name": "openmarket-stage-sleep",
            }
        ]
        for b in bindings
    )


def test_no_role_may_delete_a_load_balancer(synthesized: Synthesized, stage: str) -> None:
    """The ALB is the controller's: only the controller deletes it (its Ingress leaving the
    class); no Lambda or schedule role of the stage may."""
    for kind in STACK_KINDS:
        text = json.dumps(synthesized.template(stage, kind))
        if kind == "cluster":
            # The controller's own policy (aws-eks-v2's, for its service account) may.
            controller_policies = [
                p
                for p in of_type(synthesized.template(stage, kind), "AWS::IAM::Policy").values()
                if "elasticloadbalancing:DeleteLoadBalancer" in json.dumps(p)
            ]
            for policy in controller_policies:
                (role,) = policy["Properties"]["Roles"]
                assert "AlbController" in str(ref_id(role)), role
            continue
        assert "elasticloadbalancing:DeleteLoadBalancer" not in text, kind


def test_the_orchestrator_writes_only_this_stage(synthesized: Synthesized, stage: str) -> None:
    config = stage_config(stage)
    if not config.sleep.enabled:
        return
    template = synthesized.template(stage, "cluster")
    (role_id,) = [
        ref_id(f["Properties"]["Role"])
        for f in of_type(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("FunctionName") == config.names.stage_sleep_function_name
    ]
    assert role_id
    writes = {
        a: s
        for s in statements(template, role_id)
        for a in actions(s)
        if not a.split(":")[1].startswith(("Describe", "List", "Get"))
    }
    nodegroups = json.dumps(writes["eks:UpdateNodegroupConfig"]["Resource"])
    assert f"nodegroup/{config.names.cluster_name}/*/*" in nodegroups
    assert writes["cloudwatch:PutMetricData"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "OpenMarket/StageSleep"}
    }
    assert f"schedule/default/{stage}-*" in json.dumps(
        writes["scheduler:CreateSchedule"]["Resource"]
    )
    if config.sleep.nat_instance_sleeps:
        assert writes["ec2:StopInstances"]["Condition"] == {
            "StringEquals": {"aws:ResourceTag/openmarket:sleeps": stage}
        }
    else:
        assert "ec2:StopInstances" not in writes
    if stage_plan(config).database_cluster:
        stop = json.dumps(writes["rds:StopDBCluster"]["Resource"])
        assert f":cluster:{config.names.aurora_cluster_identifier}" in stop
