"""What sleeps outside working hours besides the nodes: dev's NAT instance and its ALB.

One Lambda function (the stage's sleep function) is invoked by two schedules: the "sleep"
one stops the instances carrying the input's ``natInstanceTag`` and deletes the ALB its
``loadBalancerName`` names (the AWS Load Balancer Controller recreates it when the node
group's start schedule brings the nodes back); the "wake" one starts the instances again.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from openmarket_cdk.config import stage_config
from tests.tools.cost.helpers import PRICES, H, dev_nodegroup, p, res
from tools.assembly import StackTemplate
from tools.cost import LineItem, StageEstimate, estimate_stage
from tools.cost.report import stage_table

NAT_ADDRESS = "dev/Network/NatInstance"
NAT_TAG = {"key": "openmarket:sleeps", "value": "dev"}
ALB_NAME = "openmarket-dev-alb"
SCALE_NODEGROUP = "arn:aws:scheduler:::aws-sdk:eks:updateNodegroupConfig"
SLEEP_FUNCTION = {"Fn::GetAtt": ["StageSleep", "Arn"]}
SLEEP_AT = "cron(30 18 ? * MON-FRI *)"
WAKE_AT = "cron(50 8 ? * MON-FRI *)"

NAT_HOURS = 730 * 5 * (9 + 40 / 60) / 168  # weekdays 08:50-18:30
ALB_HOURS = 730 * 47.5 / 168  # weekdays 09:00 (nodes start) - 18:30 (ALB deleted)


def schedule(
    expression: str, arn: Any, target_input: Any, state: str = "ENABLED"
) -> dict[str, Any]:
    """A Scheduler schedule as the CDK writes it; ``target_input`` a JSON string or a
    Fn::Join around tokens."""
    return res(
        "AWS::Scheduler::Schedule",
        ScheduleExpression=expression,
        ScheduleExpressionTimezone="Asia/Seoul",
        State=state,
        Target={
            "Arn": arn,
            "Input": target_input,
            "RoleArn": {"Fn::GetAtt": ["SchedulerRole", "Arn"]},
        },
    )


def node_schedule(desired: int, expression: str) -> dict[str, Any]:
    payload = {
        "ClusterName": "openmarket-dev",
        "NodegroupName": "openmarket-dev-apps",
        "ScalingConfig": {"MinSize": desired, "DesiredSize": desired, "MaxSize": 4},
    }
    return schedule(expression, SCALE_NODEGROUP, json.dumps(payload))


def sleep_schedule(
    expression: str = SLEEP_AT,
    nat_tag: dict[str, str] | None = NAT_TAG,
    load_balancer: str | None = ALB_NAME,
    state: str = "ENABLED",
) -> dict[str, Any]:
    """The sleep function's evening schedule; each part that sleeps is optional."""
    payload: dict[str, Any] = {
        "action": "sleep",
        "clusterName": "openmarket-dev",
        "nodegroupName": "openmarket-dev-apps",
    }
    if load_balancer is not None:
        payload["loadBalancerName"] = load_balancer
    if nat_tag is not None:
        payload["natInstanceTag"] = nat_tag
    return schedule(expression, SLEEP_FUNCTION, json.dumps(payload), state)


def wake_schedule(
    expression: str = WAKE_AT, nat_tag: dict[str, str] = NAT_TAG, state: str = "ENABLED"
) -> dict[str, Any]:
    """The sleep function's morning schedule: start the NAT instance."""
    payload = {"action": "wake", "natInstanceTag": nat_tag}
    return schedule(expression, SLEEP_FUNCTION, json.dumps(payload), state)


def nat_instance(shape: str = "network interface") -> dict[str, Any]:
    """The NAT instance, tagged for the sleep function, its public IPv4 from a public
    subnet (``SubnetId``) or from its network interface (``NetworkInterfaces``)."""
    placement: dict[str, Any] = (
        {"SubnetId": {"Ref": "PublicSubnet1"}}
        if shape == "subnet"
        else {
            "NetworkInterfaces": [
                {
                    "AssociatePublicIpAddress": True,
                    "DeviceIndex": "0",
                    "SubnetId": {"Ref": "PublicSubnet1"},
                    "GroupSet": [{"Fn::GetAtt": ["NatSecurityGroup", "GroupId"]}],
                }
            ]
        }
    )
    return res(
        "AWS::EC2::Instance",
        InstanceType="t4g.nano",
        SourceDestCheck=False,
        Tags=[
            {"Key": "Name", "Value": "openmarket-dev-network/NatInstance"},
            {"Key": "openmarket:sleeps", "Value": "dev"},
        ],
        **placement,
    )


def network(shape: str = "network interface") -> StackTemplate:
    return StackTemplate("dev/Network", {"Resources": {"NatInstance": nat_instance(shape)}})


def cluster() -> StackTemplate:
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "openmarket",
            "namespace": "openmarket-dev",
            "annotations": {
                "alb.ingress.kubernetes.io/scheme": "internet-facing",
                "alb.ingress.kubernetes.io/load-balancer-name": ALB_NAME,
            },
        },
        "spec": {"ingressClassName": "alb"},
    }
    return StackTemplate(
        "dev/Cluster",
        {
            "Resources": {
                "Nodes": dev_nodegroup(),
                "Ingress": res(
                    "Custom::AWSCDK-EKS-KubernetesResource", Manifest=json.dumps([ingress])
                ),
            }
        },
    )


def dev(observability: dict[str, Any], shape: str = "network interface") -> StageEstimate:
    """dev's network and cluster stacks plus an observability stack with these resources."""
    stacks = [
        network(shape),
        cluster(),
        StackTemplate("dev/Observability", {"Resources": observability}),
    ]
    return estimate_stage(stage_config("dev"), stacks, PRICES)


def nat_items(result: StageEstimate) -> dict[str, LineItem]:
    found = {i.description: i for i in result.items if i.resource == NAT_ADDRESS}
    assert set(found) == {
        "NAT instance t4g.nano",
        "NAT instance root volume",
        "NAT instance public IPv4 address",
    }
    return found


def alb(result: StageEstimate) -> LineItem:
    (found,) = [i for i in result.items if i.category == "ALB"]
    return found


def alb_per_hour() -> float:
    """dev's ALB: hours, 1 average LCU (dev's alb_average_lcu), two public IPv4 (two AZs)."""
    return p("elb.alb_hour") + 1 * p("elb.alb_lcu_hour") + 2 * p("vpc.public_ipv4_hour")


NODES = {
    "StartNodes": node_schedule(2, "cron(0 9 ? * MON-FRI *)"),
    "StopNodes": node_schedule(0, "cron(0 18 ? * MON-FRI *)"),
}
FUNCTION = {"StageSleep": res("AWS::Lambda::Function", MemorySize=128)}
# dev as synthesized: one sleep schedule for the ALB and the NAT instance, one wake.
STAGE_SLEEP = {**FUNCTION, "Sleep": sleep_schedule(), "Wake": wake_schedule()}
NAT_ONLY = {**FUNCTION, "Sleep": sleep_schedule(load_balancer=None), "Wake": wake_schedule()}
ALB_ONLY = {**FUNCTION, "Sleep": sleep_schedule(nat_tag=None)}


def nat_instance_usd(result: StageEstimate) -> float:
    return nat_items(result)["NAT instance t4g.nano"].monthly_usd


def instance_usd(hours: float) -> float:
    return p("ec2.instance_hour", "t4g.nano") * hours


@pytest.mark.parametrize("shape", ["network interface", "subnet"])
def test_a_nat_instance_the_sleep_function_stops_and_starts_counts_its_running_hours(
    shape: str,
) -> None:
    result = dev({**NODES, **NAT_ONLY}, shape)
    found = nat_items(result)
    instance = found["NAT instance t4g.nano"]
    address = found["NAT instance public IPv4 address"]
    volume = found["NAT instance root volume"]
    assert instance.category == "NAT"
    assert instance.monthly_usd == pytest.approx(instance_usd(NAT_HOURS))
    assert address.monthly_usd == pytest.approx(p("vpc.public_ipv4_hour") * NAT_HOURS)
    # The volume outlives the stop: all month, as without the schedules.
    assert volume.monthly_usd == pytest.approx(8 * p("ebs.gb_month", "gp3"))
    assert "210.0 h" in instance.quantity and "210.0 h" in address.quantity
    (note,) = instance.notes
    assert "stopped outside MON-FRI 08:50-18:30 Asia/Seoul (48.33 h/week" in note
    assert "by dev/Observability/Sleep, started by dev/Observability/Wake" in note
    assert "function dev/Observability/StageSleep" in note
    assert address.notes == instance.notes
    assert all(i.floor_usd == 0 for i in found.values())  # NAT is not a floor item
    assert result.facts["instances_stopped_by_schedule"] == [NAT_ADDRESS]
    assert f"instance {NAT_ADDRESS}" in stage_table(result)
    assert not result.warnings


def test_one_sleep_schedule_for_the_alb_and_the_nat_instance_sleeps_both() -> None:
    result = dev({**NODES, **STAGE_SLEEP})
    assert nat_instance_usd(result) == pytest.approx(instance_usd(NAT_HOURS))
    assert alb(result).monthly_usd == pytest.approx(alb_per_hour() * ALB_HOURS)
    assert result.facts["instances_stopped_by_schedule"] == [NAT_ADDRESS]
    assert result.facts["albs_deleted_by_schedule"] == [ALB_NAME]
    assert not result.warnings


def test_without_its_tag_in_the_schedules_the_nat_instance_runs_all_month() -> None:
    result = dev({**NODES, **ALB_ONLY})
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    assert not nat_items(result)["NAT instance t4g.nano"].notes
    assert result.facts["instances_stopped_by_schedule"] == []
    assert not result.warnings


@pytest.mark.parametrize(
    ("schedules", "expected"),
    [
        (
            {"Sleep": sleep_schedule()},
            "is stopped by dev/Observability/Sleep but no enabled schedule starts it",
        ),
        (
            {"Wake": wake_schedule()},
            "is started by dev/Observability/Wake but no enabled schedule stops it",
        ),
    ],
    ids=["only sleep", "only wake"],
)
def test_a_nat_instance_with_only_one_of_the_schedules_runs_all_month_and_warns(
    schedules: dict[str, Any], expected: str
) -> None:
    result = dev({**NODES, **FUNCTION, **schedules})
    found = nat_items(result)
    instance = found["NAT instance t4g.nano"]
    assert instance.monthly_usd == pytest.approx(instance_usd(H))
    assert found["NAT instance public IPv4 address"].monthly_usd == pytest.approx(
        p("vpc.public_ipv4_hour") * H
    )
    assert not instance.notes
    assert result.facts["instances_stopped_by_schedule"] == []
    (warning,) = [w for w in result.warnings if "instance " in w]
    assert f"instance {NAT_ADDRESS} {expected}" in warning and "730 h/month" in warning


def test_a_disabled_wake_schedule_does_not_count() -> None:
    result = dev({**NODES, **STAGE_SLEEP, "Wake": wake_schedule(state="DISABLED")})
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    assert any("no enabled schedule starts it" in w for w in result.warnings)
    # The ALB's deletion does not depend on the wake schedule.
    assert result.facts["albs_deleted_by_schedule"] == [ALB_NAME]


def test_a_disabled_sleep_schedule_does_not_count() -> None:
    result = dev({**NODES, **STAGE_SLEEP, "Sleep": sleep_schedule(state="DISABLED")})
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    assert any("no enabled schedule stops it" in w for w in result.warnings)
    assert alb(result).monthly_usd == pytest.approx(alb_per_hour() * H)
    assert result.facts["albs_deleted_by_schedule"] == []


@pytest.mark.parametrize(
    "tag",
    [
        {"key": "openmarket:sleeps", "value": "staging"},
        {"key": "openmarket:stops", "value": "dev"},
    ],
    ids=["other value", "other key"],
)
def test_schedules_naming_a_tag_the_nat_instance_lacks_do_not_count(tag: dict[str, str]) -> None:
    result = dev(
        {
            **NODES,
            **FUNCTION,
            "Sleep": sleep_schedule(nat_tag=tag, load_balancer=None),
            "Wake": wake_schedule(nat_tag=tag),
        }
    )
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    assert result.facts["instances_stopped_by_schedule"] == []
    tagged = f"the instances tagged {tag['key']}={tag['value']}, but no instance"
    assert any("dev/Observability/Sleep stop " + tagged in w for w in result.warnings)
    assert any("dev/Observability/Wake start " + tagged in w for w in result.warnings)


def test_a_sleep_and_a_wake_for_different_tags_do_not_pair_up() -> None:
    result = dev(
        {
            **NODES,
            **FUNCTION,
            "Sleep": sleep_schedule(load_balancer=None),
            "Wake": wake_schedule(nat_tag={"key": "openmarket:sleeps", "value": "staging"}),
        }
    )
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    assert any("no enabled schedule starts it" in w for w in result.warnings)


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "sleep", "natInstanceTag": "dev"},
        {"action": "stop", "natInstanceTag": NAT_TAG},
        {"action": ["sleep"], "natInstanceTag": NAT_TAG},
        {"natInstanceTag": NAT_TAG},
    ],
    ids=["tag not an object", "unknown action", "action not a string", "no action"],
)
def test_a_nat_tag_the_function_cannot_read_is_not_modelled(payload: dict[str, Any]) -> None:
    malformed = schedule(SLEEP_AT, SLEEP_FUNCTION, json.dumps(payload))
    result = dev({**NODES, **FUNCTION, "Sleep": malformed, "Wake": wake_schedule()})
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    assert any("passes natInstanceTag" in w and "not modelled" in w for w in result.warnings)


def test_a_universal_target_schedule_does_not_stop_the_nat_instance() -> None:
    # Only the sleep function's schedules count: the input of another target is not its.
    stop_instances = schedule(
        SLEEP_AT,
        "arn:aws:scheduler:::aws-sdk:ec2:stopInstances",
        json.dumps({"action": "sleep", "natInstanceTag": NAT_TAG}),
    )
    result = dev({**NODES, **FUNCTION, "Sleep": stop_instances, "Wake": wake_schedule()})
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    assert any("no enabled schedule stops it" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("sleep_at", "wake_at", "expected"),
    [
        ("cron(30 7 ? * MON-FRI *)", WAKE_AT, "not after the start"),
        (SLEEP_AT, "cron(50 8 ? * MON-SAT *)", "different weekdays"),
        (SLEEP_AT, "cron(50 8,12 ? * MON-FRI *)", "more than once a day"),
    ],
    ids=["sleep before wake", "other weekdays", "twice a day"],
)
def test_nat_windows_that_are_not_modelled_run_all_month_and_warn(
    sleep_at: str, wake_at: str, expected: str
) -> None:
    result = dev(
        {
            **NODES,
            **FUNCTION,
            "Sleep": sleep_schedule(sleep_at, load_balancer=None),
            "Wake": wake_schedule(wake_at),
        }
    )
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    assert result.facts["instances_stopped_by_schedule"] == []
    (warning,) = result.warnings
    assert f"instance {NAT_ADDRESS}:" in warning and expected in warning


def test_an_alb_deleted_by_the_sleep_function_counts_from_node_start_to_deletion() -> None:
    result = dev({**NODES, **ALB_ONLY})
    item = alb(result)
    assert item.monthly_usd == pytest.approx(alb_per_hour() * ALB_HOURS)
    assert item.quantity.startswith(f"{ALB_HOURS:.1f} h")
    # The floor (what no setting removes) is the ALB for the hours its schedules leave it.
    assert item.floor_usd == pytest.approx(item.monthly_usd)
    (note,) = item.notes
    assert "deleted outside MON-FRI 09:00-18:30 Asia/Seoul (47.5 h/week" in note
    assert "dev/Observability/Sleep" in note and "dev/Observability/StartNodes" in note
    assert result.facts["albs_deleted_by_schedule"] == [ALB_NAME]
    assert not result.warnings


def test_an_alb_deletion_naming_another_alb_is_not_counted() -> None:
    result = dev(
        {
            **NODES,
            **FUNCTION,
            "Sleep": sleep_schedule(nat_tag=None, load_balancer="openmarket-staging-alb"),
        }
    )
    item = alb(result)
    assert item.monthly_usd == pytest.approx(alb_per_hour() * H)
    assert not item.notes
    assert result.facts["albs_deleted_by_schedule"] == []
    assert any("'openmarket-staging-alb', which no Ingress creates" in w for w in result.warnings)


def test_a_load_balancer_name_in_a_wake_schedule_deletes_nothing() -> None:
    wake = schedule(
        WAKE_AT, SLEEP_FUNCTION, json.dumps({"action": "wake", "loadBalancerName": ALB_NAME})
    )
    result = dev({**NODES, **FUNCTION, "Wake": wake})
    assert alb(result).monthly_usd == pytest.approx(alb_per_hour() * H)
    assert result.facts["albs_deleted_by_schedule"] == []
    assert any(f"load balancer '{ALB_NAME}'" in w and "not modelled" in w for w in result.warnings)


def test_an_alb_deletion_without_a_node_start_schedule_is_not_counted_and_warns() -> None:
    result = dev({"StopNodes": NODES["StopNodes"], **ALB_ONLY})
    assert alb(result).monthly_usd == pytest.approx(alb_per_hour() * H)
    assert any(f"ALB '{ALB_NAME}' is deleted by" in w for w in result.warnings)


def test_an_alb_deleted_before_the_nodes_stop_is_not_counted() -> None:
    # The controller still runs at 17:30 and would recreate the ALB at once.
    early = sleep_schedule("cron(30 17 ? * MON-FRI *)", nat_tag=None)
    result = dev({**NODES, **FUNCTION, "Sleep": early})
    assert alb(result).monthly_usd == pytest.approx(alb_per_hour() * H)
    assert any("the controller would recreate it" in w for w in result.warnings)


def test_nat_instance_and_alb_sleep_together_lower_the_total_and_the_floor() -> None:
    awake = dev(dict(NODES))
    asleep = dev({**NODES, **STAGE_SLEEP})
    saved = (p("ec2.instance_hour", "t4g.nano") + p("vpc.public_ipv4_hour")) * (H - NAT_HOURS)
    saved += alb_per_hour() * (H - ALB_HOURS)
    # What the sleep costs itself: the schedules' invocations and the function.
    added = {f"dev/Observability/{logical_id}" for logical_id in STAGE_SLEEP}
    overhead = sum(i.monthly_usd for i in asleep.items if i.resource in added)
    assert overhead > 0
    assert asleep.total_usd == pytest.approx(awake.total_usd - saved + overhead)
    assert asleep.floor_usd == pytest.approx(awake.floor_usd - alb_per_hour() * (H - ALB_HOURS))
