"""What sleeps outside working hours besides the nodes: dev's NAT instance (stopped and
started by two schedules) and its ALB (deleted by a scheduled function, recreated by the
AWS Load Balancer Controller when the node group's start schedule brings the nodes back)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openmarket_cdk.config import stage_config
from tests.tools.cost.helpers import PRICES, H, p, res
from tools.assembly import StackTemplate
from tools.cost import LineItem, StageEstimate, estimate_stage
from tools.cost.report import stage_table

NAT_EXPORT = "openmarket-dev-network:ExportsOutputRefNatInstance0B9683B3"
NAT_ADDRESS = "dev/Network/NatInstance"
ALB_NAME = "openmarket-dev-alb"
SCALE_NODEGROUP = "arn:aws:scheduler:::aws-sdk:eks:updateNodegroupConfig"

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


def instance_schedule(action: str, expression: str) -> dict[str, Any]:
    """stop/startInstances on the NAT instance, imported from the network stack."""
    instance_ids = {
        "Fn::Join": [
            "",
            ['{"InstanceIds":["', {"Fn::ImportValue": NAT_EXPORT}, '"]}'],
        ]
    }
    return schedule(expression, f"arn:aws:scheduler:::aws-sdk:ec2:{action}Instances", instance_ids)


def node_schedule(desired: int, expression: str) -> dict[str, Any]:
    payload = {
        "ClusterName": "openmarket-dev",
        "NodegroupName": "openmarket-dev-apps",
        "ScalingConfig": {"MinSize": desired, "DesiredSize": desired, "MaxSize": 4},
    }
    return schedule(expression, SCALE_NODEGROUP, json.dumps(payload))


def alb_schedule(
    name: str = ALB_NAME, expression: str = "cron(30 18 ? * MON-FRI *)"
) -> dict[str, Any]:
    payload = {"clusterName": "openmarket-dev", "loadBalancerName": name}
    return schedule(expression, {"Fn::GetAtt": ["AlbSleeper", "Arn"]}, json.dumps(payload))


def network() -> StackTemplate:
    return StackTemplate(
        "dev/Network",
        {
            "Resources": {
                "NatInstance": res(
                    "AWS::EC2::Instance", InstanceType="t4g.nano", SourceDestCheck=False
                )
            },
            "Outputs": {
                "ExportsOutputRefNatInstance0B9683B3": {
                    "Value": {"Ref": "NatInstance"},
                    "Export": {"Name": NAT_EXPORT},
                }
            },
        },
    )


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
                "Nodes": res(
                    "AWS::EKS::Nodegroup",
                    NodegroupName="openmarket-dev-apps",
                    InstanceTypes=["t3.medium"],
                    ScalingConfig={"MinSize": 2, "DesiredSize": 2, "MaxSize": 4},
                ),
                "Ingress": res(
                    "Custom::AWSCDK-EKS-KubernetesResource", Manifest=json.dumps([ingress])
                ),
            }
        },
    )


def dev(observability: dict[str, Any]) -> StageEstimate:
    """dev's network and cluster stacks plus an observability stack with these resources."""
    stacks = [
        network(),
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
NAT_SCHEDULES = {
    "StopNat": instance_schedule("stop", "cron(30 18 ? * MON-FRI *)"),
    "StartNat": instance_schedule("start", "cron(50 8 ? * MON-FRI *)"),
}
ALB_SLEEP = {
    "AlbSleeper": res("AWS::Lambda::Function", MemorySize=128),
    "AlbSleep": alb_schedule(),
}


def test_a_nat_instance_stopped_and_started_by_schedules_counts_its_running_hours() -> None:
    result = dev({**NODES, **NAT_SCHEDULES})
    found = nat_items(result)
    instance = found["NAT instance t4g.nano"]
    address = found["NAT instance public IPv4 address"]
    volume = found["NAT instance root volume"]
    assert instance.monthly_usd == pytest.approx(p("ec2.instance_hour", "t4g.nano") * NAT_HOURS)
    assert address.monthly_usd == pytest.approx(p("vpc.public_ipv4_hour") * NAT_HOURS)
    # The volume outlives the stop: all month, as without the schedules.
    assert volume.monthly_usd == pytest.approx(8 * p("ebs.gb_month", "gp3"))
    assert "210.0 h" in instance.quantity
    (note,) = instance.notes
    assert "stopped outside MON-FRI 08:50-18:30 Asia/Seoul" in note
    assert "dev/Observability/StopNat" in note and "dev/Observability/StartNat" in note
    assert all(i.floor_usd == 0 for i in found.values())  # NAT is not a floor item
    assert result.facts["instances_stopped_by_schedule"] == [NAT_ADDRESS]
    assert f"instance {NAT_ADDRESS}" in stage_table(result)
    assert not result.warnings


def test_a_nat_instance_with_only_a_stop_schedule_runs_all_month_and_warns() -> None:
    result = dev({**NODES, "StopNat": NAT_SCHEDULES["StopNat"]})
    found = nat_items(result)
    instance = found["NAT instance t4g.nano"]
    assert instance.monthly_usd == pytest.approx(p("ec2.instance_hour", "t4g.nano") * H)
    assert found["NAT instance public IPv4 address"].monthly_usd == pytest.approx(
        p("vpc.public_ipv4_hour") * H
    )
    assert not instance.notes
    assert result.facts["instances_stopped_by_schedule"] == []
    (warning,) = result.warnings
    assert NAT_ADDRESS in warning and "no enabled schedule starts it" in warning


def test_a_disabled_start_schedule_does_not_count() -> None:
    disabled = schedule(
        "cron(50 8 ? * MON-FRI *)",
        "arn:aws:scheduler:::aws-sdk:ec2:startInstances",
        NAT_SCHEDULES["StartNat"]["Properties"]["Target"]["Input"],
        state="DISABLED",
    )
    result = dev({**NODES, "StopNat": NAT_SCHEDULES["StopNat"], "StartNat": disabled})
    instance = nat_items(result)["NAT instance t4g.nano"]
    assert instance.monthly_usd == pytest.approx(p("ec2.instance_hour", "t4g.nano") * H)
    assert any("no enabled schedule starts it" in w for w in result.warnings)


def test_a_literal_instance_id_matches_the_stages_only_nat_instance() -> None:
    literal = json.dumps({"InstanceIds": ["i-0123456789abcdef0"]})
    result = dev(
        {
            **NODES,
            "StopNat": schedule(
                "cron(30 18 ? * MON-FRI *)",
                "arn:aws:scheduler:::aws-sdk:ec2:stopInstances",
                literal,
            ),
            "StartNat": schedule(
                "cron(50 8 ? * MON-FRI *)",
                "arn:aws:scheduler:::aws-sdk:ec2:startInstances",
                literal,
            ),
        }
    )
    instance = nat_items(result)["NAT instance t4g.nano"]
    assert instance.monthly_usd == pytest.approx(p("ec2.instance_hour", "t4g.nano") * NAT_HOURS)


def test_nat_schedules_that_stop_before_they_start_are_not_modelled() -> None:
    result = dev(
        {
            **NODES,
            "StopNat": instance_schedule("stop", "cron(30 7 ? * MON-FRI *)"),
            "StartNat": instance_schedule("start", "cron(50 8 ? * MON-FRI *)"),
        }
    )
    instance = nat_items(result)["NAT instance t4g.nano"]
    assert instance.monthly_usd == pytest.approx(p("ec2.instance_hour", "t4g.nano") * H)
    assert any("not after the start" in w for w in result.warnings)


def test_an_alb_deleted_by_a_scheduled_function_counts_from_node_start_to_deletion() -> None:
    result = dev({**NODES, **ALB_SLEEP})
    item = alb(result)
    assert item.monthly_usd == pytest.approx(alb_per_hour() * ALB_HOURS)
    assert item.quantity.startswith(f"{ALB_HOURS:.1f} h")
    # The floor (what no setting removes) is the ALB for the hours its schedules leave it.
    assert item.floor_usd == pytest.approx(item.monthly_usd)
    (note,) = item.notes
    assert "deleted outside MON-FRI 09:00-18:30 Asia/Seoul (47.5 h/week" in note
    assert "dev/Observability/AlbSleep" in note and "dev/Observability/StartNodes" in note
    assert result.facts["albs_deleted_by_schedule"] == [ALB_NAME]
    assert not result.warnings


def test_an_alb_deletion_naming_another_alb_is_not_counted() -> None:
    result = dev({**NODES, **ALB_SLEEP, "AlbSleep": alb_schedule("openmarket-staging-alb")})
    item = alb(result)
    assert item.monthly_usd == pytest.approx(alb_per_hour() * H)
    assert not item.notes
    assert result.facts["albs_deleted_by_schedule"] == []
    assert any("'openmarket-staging-alb', which no Ingress creates" in w for w in result.warnings)


def test_an_alb_deletion_without_a_node_start_schedule_is_not_counted_and_warns() -> None:
    result = dev({"StopNodes": NODES["StopNodes"], **ALB_SLEEP})
    assert alb(result).monthly_usd == pytest.approx(alb_per_hour() * H)
    assert any(f"ALB '{ALB_NAME}' is deleted by" in w for w in result.warnings)


def test_an_alb_deleted_before_the_nodes_stop_is_not_counted() -> None:
    # The controller still runs at 17:30 and would recreate the ALB at once.
    early = alb_schedule(expression="cron(30 17 ? * MON-FRI *)")
    result = dev({**NODES, **ALB_SLEEP, "AlbSleep": early})
    assert alb(result).monthly_usd == pytest.approx(alb_per_hour() * H)
    assert any("the controller would recreate it" in w for w in result.warnings)


def test_nat_instance_and_alb_sleep_together_lower_the_total_and_the_floor() -> None:
    awake = dev(dict(NODES))
    asleep = dev({**NODES, **NAT_SCHEDULES, **ALB_SLEEP})
    saved = (p("ec2.instance_hour", "t4g.nano") + p("vpc.public_ipv4_hour")) * (H - NAT_HOURS)
    saved += alb_per_hour() * (H - ALB_HOURS)
    # What the sleep costs itself: the schedules' invocations and the function.
    added = {f"dev/Observability/{logical_id}" for logical_id in {*NAT_SCHEDULES, *ALB_SLEEP}}
    overhead = sum(i.monthly_usd for i in asleep.items if i.resource in added)
    assert asleep.total_usd == pytest.approx(awake.total_usd - saved + overhead)
    assert asleep.floor_usd == pytest.approx(awake.floor_usd - alb_per_hour() * (H - ALB_HOURS))
