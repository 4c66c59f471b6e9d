"""What sleeps outside working hours, as the stage-sleep schedules' input says.

In a stage that sleeps, schedules of its cluster stack invoke the stage-sleep function with a
``SleepEvent`` (openmarket_cdk/stage_sleep/runtime/contract.py) whose plan says what sleeps:
"sleep" (18:00) scales the node groups of the plan's zones to 0, has the ALB it names deleted
and stops its Aurora cluster; "finish-sleep" (18:30, dev) stops the NAT instance carrying its
tag once no node is left; "wake" (08:50 in dev, 08:00 in staging) brings all of it back. The
inputs here are the real plans (``stage_plan``), changed where a test says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from openmarket_cdk.config import stage_config
from openmarket_cdk.stage_sleep.plan import stage_plan
from openmarket_cdk.stage_sleep.runtime.contract import SleepEvent, StagePlan, ZoneNodes
from tests.tools.cost.helpers import PRICES, H, p, res, zone_nodegroups
from tools.assembly import StackTemplate
from tools.cost import LineItem, StageEstimate, estimate_stage
from tools.cost.report import stage_table

NAT_ADDRESS = "dev/Network/NatInstance"
ALB_NAME = "openmarket-dev-alb"
FUNCTION_ARN = {"Fn::GetAtt": ["StageSleep", "Arn"]}
SLEEP_AT = "cron(0 18 ? * MON-FRI *)"
FINISH_AT = "cron(30 18 ? * MON-FRI *)"
WAKE_AT = "cron(50 8 ? * MON-FRI *)"
DEV_PLAN = stage_plan(stage_config("dev"))

NAT_HOURS = 730 * 5 * (9 + 40 / 60) / 168  # weekdays 08:50 (wake) - 18:30 (finish-sleep)
AWAKE_HOURS = 730 * 5 * (9 + 10 / 60) / 168  # weekdays 08:50 (wake) - 18:00 (sleep)
T3_MEDIUM = p("ec2.instance_hour", "t3.medium")


def schedule(
    expression: str, arn: Any, target_input: Any, state: str = "ENABLED"
) -> dict[str, Any]:
    """A Scheduler schedule as the CDK writes it."""
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


def sleep_schedule(
    action: str, expression: str, plan: StagePlan = DEV_PLAN, state: str = "ENABLED"
) -> dict[str, Any]:
    """A schedule of the stage-sleep function: its input is ``SleepEvent.to_json()``."""
    event = SleepEvent(action, plan)  # type: ignore[arg-type]
    return schedule(expression, FUNCTION_ARN, json.dumps(event.to_json()), state)


def stage_sleep(plan: StagePlan = DEV_PLAN, /, **changes: dict[str, Any] | None) -> dict[str, Any]:
    """The stage-sleep part of dev's cluster stack: the function, the cluster function and
    the three schedules; ``changes`` replaces a resource by logical id (None drops it)."""
    resources: dict[str, Any] = {
        "StageSleep": res(
            "AWS::Lambda::Function", FunctionName="openmarket-dev-stage-sleep", MemorySize=256
        ),
        "StageSleepCluster": res(
            "AWS::Lambda::Function",
            FunctionName="openmarket-dev-stage-sleep-cluster",
            MemorySize=128,
        ),
        "Sleep": sleep_schedule("sleep", SLEEP_AT, plan),
        "FinishSleep": sleep_schedule("finish-sleep", FINISH_AT, plan),
        "Wake": sleep_schedule("wake", WAKE_AT, plan),
    }
    for logical_id, resource in changes.items():
        if resource is None:
            resources.pop(logical_id)
        else:
            resources[logical_id] = resource
    return resources


def nat_instance(shape: str = "network interface") -> dict[str, Any]:
    """The NAT instance, tagged for stage sleep, its public IPv4 from a public subnet
    (``SubnetId``) or from its network interface (``NetworkInterfaces``)."""
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
        ImageId="ami-0123456789abcdef0",
        SourceDestCheck=False,
        Tags=[
            {"Key": "Name", "Value": "openmarket-dev-network/NatInstance"},
            {"Key": "openmarket:sleeps", "Value": "dev"},
        ],
        **placement,
    )


def ingress() -> dict[str, Any]:
    manifest = {
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
    return res("Custom::AWSCDK-EKS-KubernetesResource", Manifest=json.dumps([manifest]))


def dev(
    sleep: Mapping[str, Any] | None = None,
    shape: str = "network interface",
    extra: Mapping[str, Any] | None = None,
) -> StageEstimate:
    """dev's network stack (the NAT instance) and cluster stack (node groups, Ingress and
    the stage-sleep resources, dev's as synthesized unless ``sleep`` is given)."""
    cluster = {
        **zone_nodegroups("dev"),
        "Ingress": ingress(),
        **(stage_sleep() if sleep is None else sleep),
        **(extra or {}),
    }
    stacks = [
        StackTemplate("dev/Network", {"Resources": {"NatInstance": nat_instance(shape)}}),
        StackTemplate("dev/Cluster", {"Resources": cluster}),
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


def nat_instance_usd(result: StageEstimate) -> float:
    return nat_items(result)["NAT instance t4g.nano"].monthly_usd


def instance_usd(hours: float) -> float:
    return p("ec2.instance_hour", "t4g.nano") * hours


def alb(result: StageEstimate) -> LineItem:
    (found,) = [i for i in result.items if i.category == "ALB"]
    return found


def alb_per_hour() -> float:
    """dev's ALB: hours, 1 average LCU (dev's alb_average_lcu), two public IPv4 (two AZs)."""
    return p("elb.alb_hour") + 1 * p("elb.alb_lcu_hour") + 2 * p("vpc.public_ipv4_hour")


def node_groups(result: StageEstimate) -> dict[str, LineItem]:
    """The node group line items (not their volumes), by logical id."""
    return {
        i.resource.rsplit("/", 1)[-1]: i
        for i in result.items
        if i.category == "nodes" and i.description.startswith("node group")
    }


def warnings_with(result: StageEstimate, text: str) -> list[str]:
    return [w for w in result.warnings if text in w]


# --- dev as synthesized --------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["network interface", "subnet"])
def test_the_nat_instance_runs_from_the_wake_to_the_finish_sleep(shape: str) -> None:
    result = dev(shape=shape)
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
    assert "by dev/Cluster/FinishSleep, started by dev/Cluster/Wake" in note
    assert "function dev/Cluster/StageSleep" in note
    assert address.notes == instance.notes
    assert all(i.floor_usd == 0 for i in found.values())  # NAT is not a floor item
    assert result.facts["instances_stopped_by_schedule"] == [NAT_ADDRESS]
    assert f"instance {NAT_ADDRESS}" in stage_table(result)
    assert not result.warnings


def test_both_node_groups_run_from_the_wake_to_the_sleep_at_their_zones_minimum() -> None:
    config = stage_config("dev")
    result = dev()
    groups = node_groups(result)
    assert set(groups) == {"NodesA", "NodesC"}
    for logical_id, zone in (("NodesA", "ap-northeast-2a"), ("NodesC", "ap-northeast-2c")):
        item = groups[logical_id]
        minimum, maximum = config.node_group_sizes[zone]
        assert item.description == f"node group {logical_id} ({zone}): {minimum} x t3.medium"
        assert item.quantity == f"{minimum} x {AWAKE_HOURS:.1f} h (min {minimum}, max {maximum})"
        assert item.monthly_usd == pytest.approx(minimum * T3_MEDIUM * AWAKE_HOURS)
        assert item.ceiling_usd == pytest.approx(maximum * T3_MEDIUM * AWAKE_HOURS)
        (note,) = item.notes
        assert "scaled to 0 outside MON-FRI 08:50-18:00 Asia/Seoul (45.83 h/week" in note
        assert "by dev/Cluster/Sleep, scaled back by dev/Cluster/Wake" in note
    # The two groups together are the stage's node bounds.
    nodes = sum(i.monthly_usd for i in groups.values())
    assert nodes == pytest.approx(config.kubernetes.node_min_size * T3_MEDIUM * AWAKE_HOURS)
    ceiling = sum(i.ceiling_usd for i in groups.values())
    assert ceiling == pytest.approx(config.kubernetes.node_max_size * T3_MEDIUM * AWAKE_HOURS)
    assert result.facts["nodegroups_scaled_to_zero_by_schedule"] == ["NodesA", "NodesC"]
    assert "node groups scaled to 0 by a schedule: NodesA, NodesC" in stage_table(result)
    # Their root volumes (the launch template's; none here: EKS's 20 GB) follow the nodes.
    volumes = [i for i in result.items if i.description.startswith("node root volumes")]
    assert sum(i.monthly_usd for i in volumes) == pytest.approx(
        2 * 20 * p("ebs.gb_month", "gp3") * AWAKE_HOURS / H
    )


def test_the_alb_exists_from_the_wake_to_the_sleep() -> None:
    result = dev()
    item = alb(result)
    assert item.monthly_usd == pytest.approx(alb_per_hour() * AWAKE_HOURS)
    assert item.quantity.startswith(f"{AWAKE_HOURS:.1f} h")
    # The floor (what no setting removes) is the ALB for the hours its schedules leave it.
    assert item.floor_usd == pytest.approx(item.monthly_usd)
    (note,) = item.notes
    assert "deleted outside MON-FRI 08:50-18:00 Asia/Seoul (45.83 h/week" in note
    assert "by dev/Cluster/Sleep (its Ingress leaves class alb" in note
    assert "dev/Cluster/Wake puts the Ingress back" in note
    assert result.facts["albs_deleted_by_schedule"] == [ALB_NAME]
    assert not result.warnings


def test_the_stage_sleep_functions_are_priced_by_their_runs() -> None:
    result = dev()
    by_name = {i.description.split(" (")[0]: i for i in result.items if i.category == "Lambda"}
    weekdays = 730 / 24 * 5 / 7  # runs of a weekday schedule in a month
    orchestrator = by_name["function openmarket-dev-stage-sleep"]
    # sleep, finish-sleep and wake, and the check-wake it schedules after each wake.
    assert orchestrator.quantity.startswith(f"{4 * weekdays:,.0f} invocations")
    assert "a check-wake after each run of" in orchestrator.notes[0]
    cluster = by_name["function openmarket-dev-stage-sleep-cluster"]
    # autoscaler + Ingress at sleep; autoscaler + Ingress at wake, autoscaler at check-wake.
    assert cluster.quantity.startswith(f"{5 * weekdays:,.0f} invocations")
    assert "calls from openmarket-dev-stage-sleep" in cluster.notes[0]
    # The node groups' scaling function only serves its custom resources: free.
    assert "dev/Cluster/ScalingFunction" in {f.resource for f in result.free}


def test_sleeping_lowers_the_total_and_the_floor_by_what_it_saves() -> None:
    awake = dev(sleep={})
    asleep = dev()
    saved = (p("ec2.instance_hour", "t4g.nano") + p("vpc.public_ipv4_hour")) * (H - NAT_HOURS)
    saved += alb_per_hour() * (H - AWAKE_HOURS)
    nodes = stage_config("dev").kubernetes.node_min_size
    node_hour = T3_MEDIUM + 20 * p("ebs.gb_month", "gp3") / H
    saved += nodes * node_hour * (H - AWAKE_HOURS)
    # What the sleep costs itself: the functions and the schedules' invocations.
    added = {f"dev/Cluster/{logical_id}" for logical_id in stage_sleep()}
    overhead = sum(i.monthly_usd for i in asleep.items if i.resource in added)
    assert overhead > 0
    assert asleep.total_usd == pytest.approx(awake.total_usd - saved + overhead)
    floor_saved = (alb_per_hour() + nodes * node_hour) * (H - AWAKE_HOURS)
    assert asleep.floor_usd == pytest.approx(awake.floor_usd - floor_saved)
    # Without the schedules config still says dev sleeps: each node group warns.
    assert len(warnings_with(awake, "stage sleep is enabled in config")) == 2


# --- what the plan leaves out --------------------------------------------------------------


def test_a_plan_without_the_nat_tag_leaves_the_instance_running_all_month() -> None:
    result = dev(sleep=stage_sleep(replace(DEV_PLAN, nat_instance_tag=None), FinishSleep=None))
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    assert not nat_items(result)["NAT instance t4g.nano"].notes
    assert result.facts["instances_stopped_by_schedule"] == []
    assert not result.warnings


def test_a_plan_without_the_load_balancer_leaves_the_alb_all_month() -> None:
    plan = replace(DEV_PLAN, load_balancer_name=None, ingress_class=None)
    result = dev(sleep=stage_sleep(plan))
    assert alb(result).monthly_usd == pytest.approx(alb_per_hour() * H)
    assert result.facts["albs_deleted_by_schedule"] == []
    assert not result.warnings


def test_the_sleep_schedule_alone_does_not_stop_the_nat_instance() -> None:
    # Only finish-sleep stops it (once the nodes are gone); the wake starts it.
    result = dev(sleep=stage_sleep(FinishSleep=None))
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    (warning,) = warnings_with(result, f"instance {NAT_ADDRESS}")
    assert "is woken by dev/Cluster/Wake but no enabled schedule puts it to sleep" in warning
    assert "730 h/month" in warning
    # The rest still sleeps.
    assert result.facts["albs_deleted_by_schedule"] == [ALB_NAME]


def test_without_the_wake_nothing_is_modelled_as_asleep() -> None:
    result = dev(sleep=stage_sleep(Wake=None))
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    assert alb(result).monthly_usd == pytest.approx(alb_per_hour() * H)
    assert all(f"{H:.1f} h" in i.quantity for i in node_groups(result).values())
    assert result.facts["instances_stopped_by_schedule"] == []
    assert result.facts["albs_deleted_by_schedule"] == []
    assert result.facts["nodegroups_scaled_to_zero_by_schedule"] == []
    for subject in (f"instance {NAT_ADDRESS} is stopped by", f"ALB '{ALB_NAME}' is deleted by"):
        (warning,) = warnings_with(result, subject)
        assert "but no enabled schedule wakes it" in warning
    assert len(warnings_with(result, "is scaled to 0 by dev/Cluster/Sleep")) == 2


@pytest.mark.parametrize("logical_id", ["Wake", "Sleep", "FinishSleep"])
def test_a_disabled_schedule_does_not_count(logical_id: str) -> None:
    disabled = {
        "Wake": sleep_schedule("wake", WAKE_AT, state="DISABLED"),
        "Sleep": sleep_schedule("sleep", SLEEP_AT, state="DISABLED"),
        "FinishSleep": sleep_schedule("finish-sleep", FINISH_AT, state="DISABLED"),
    }[logical_id]
    result = dev(sleep=stage_sleep(**{logical_id: disabled}))
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    alb_sleeps = logical_id == "FinishSleep"  # the ALB needs the sleep and the wake only
    assert result.facts["albs_deleted_by_schedule"] == ([ALB_NAME] if alb_sleeps else [])
    assert result.warnings


@pytest.mark.parametrize(
    "tag", ["openmarket:sleeps=staging", "openmarket:stops=dev"], ids=["value", "key"]
)
def test_a_nat_tag_the_instance_lacks_does_not_count(tag: str) -> None:
    result = dev(sleep=stage_sleep(replace(DEV_PLAN, nat_instance_tag=tag)))
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    assert result.facts["instances_stopped_by_schedule"] == []
    (warning,) = warnings_with(result, "stop or start the instances tagged")
    assert warning.startswith(
        f"dev/Cluster/FinishSleep, dev/Cluster/Wake stop or start the instances tagged {tag}, "
        "but no instance in the stage carries that tag"
    )


def test_a_finish_sleep_and_a_wake_for_different_tags_do_not_pair_up() -> None:
    other = replace(DEV_PLAN, nat_instance_tag="openmarket:sleeps=staging")
    result = dev(sleep=stage_sleep(Wake=sleep_schedule("wake", WAKE_AT, other)))
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    assert warnings_with(result, "but no enabled schedule wakes it")


def test_a_finish_sleep_before_the_nodes_sleep_stops_nothing() -> None:
    # At 17:30 the nodes still run: the function keeps the NAT instance.
    early = sleep_schedule("finish-sleep", "cron(30 17 ? * MON-FRI *)")
    result = dev(sleep=stage_sleep(FinishSleep=early))
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    (warning,) = warnings_with(result, f"instance {NAT_ADDRESS}:")
    assert "only once no node is left" in warning and "not modelled" in warning


@pytest.mark.parametrize(
    ("logical_id", "expression", "expected"),
    [
        ("FinishSleep", "cron(30 7 ? * MON-FRI *)", "not after the start"),
        ("Wake", "cron(50 8 ? * MON-SAT *)", "different weekdays"),
        ("Wake", "cron(50 8,12 ? * MON-FRI *)", "more than once a day"),
    ],
    ids=["finish before wake", "other weekdays", "twice a day"],
)
def test_nat_windows_that_are_not_modelled_run_all_month_and_warn(
    logical_id: str, expression: str, expected: str
) -> None:
    action = {"FinishSleep": "finish-sleep", "Wake": "wake"}[logical_id]
    result = dev(sleep=stage_sleep(**{logical_id: sleep_schedule(action, expression)}))
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    assert result.facts["instances_stopped_by_schedule"] == []
    (warning,) = warnings_with(result, f"instance {NAT_ADDRESS}:")
    assert expected in warning and "730 h/month" in warning


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "stop", "attempt": 0, "plan": DEV_PLAN.to_json()},
        {"action": "sleep", "attempt": 0},
        {"action": "sleep", "plan": {**DEV_PLAN.to_json(), "zones": []}},
        {"action": "sleep", "plan": {**DEV_PLAN.to_json(), "ingress_class": None}},
        {"action": "sleep", "plan": {**DEV_PLAN.to_json(), "nodegroupName": "apps"}},
        {"action": "sleep", "plan": {**DEV_PLAN.to_json(), "nat_instance_tag": "dev"}},
        {"action": "sleep", "attempt": -1, "plan": DEV_PLAN.to_json()},
        {"action": "sleep", "plan": ["not", "an", "object"]},
    ],
    ids=[
        "unknown action",
        "no plan",
        "no zones",
        "ALB without its class",
        "unknown field",
        "tag not key=value",
        "negative attempt",
        "plan not an object",
    ],
)
def test_an_input_the_function_would_refuse_is_not_modelled(payload: dict[str, Any]) -> None:
    malformed = schedule(SLEEP_AT, FUNCTION_ARN, json.dumps(payload))
    result = dev(sleep=stage_sleep(Sleep=malformed))
    (warning,) = warnings_with(result, "with a stage-sleep input it cannot read")
    assert warning.startswith("dev/Cluster/Sleep invokes dev/Cluster/StageSleep")
    # Without its sleep neither the nodes nor the ALB sleep, nor the NAT instance: the
    # finish-sleep stops it only once a sleep has taken the nodes away.
    assert alb(result).monthly_usd == pytest.approx(alb_per_hour() * H)
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    assert result.facts["nodegroups_scaled_to_zero_by_schedule"] == []


def test_a_stage_sleep_input_to_a_universal_target_is_not_the_function() -> None:
    # Only schedules that invoke a Lambda function count: another target's input is not its.
    event = json.dumps(SleepEvent("sleep", DEV_PLAN).to_json())
    universal = schedule(SLEEP_AT, "arn:aws:scheduler:::aws-sdk:eks:updateNodegroupConfig", event)
    result = dev(sleep=stage_sleep(Sleep=universal))
    assert result.facts["nodegroups_scaled_to_zero_by_schedule"] == []
    assert result.facts["albs_deleted_by_schedule"] == []
    assert not warnings_with(result, "cannot read")


def test_an_alb_no_ingress_creates_is_not_counted() -> None:
    plan = replace(DEV_PLAN, load_balancer_name="openmarket-staging-alb")
    result = dev(sleep=stage_sleep(plan))
    item = alb(result)
    assert item.monthly_usd == pytest.approx(alb_per_hour() * H)
    assert not item.notes
    assert result.facts["albs_deleted_by_schedule"] == []
    (warning,) = warnings_with(result, "'openmarket-staging-alb'")
    assert "which no Ingress creates" in warning


# --- node groups ---------------------------------------------------------------------------


def test_a_plan_naming_a_zone_without_a_node_group_scales_none() -> None:
    # The function finds no group for 2b and fails before it scales any.
    zones = (*DEV_PLAN.zones, ZoneNodes("ap-northeast-2b", 1, 3))
    result = dev(sleep=stage_sleep(replace(DEV_PLAN, zones=zones)))
    assert all(f"{H:.1f} h" in i.quantity for i in node_groups(result).values())
    assert len(warnings_with(result, "names zone(s) ap-northeast-2b of cluster")) == 3
    assert len(warnings_with(result, "stage sleep is enabled in config")) == 2
    # finish-sleep looks for the node groups first: the NAT instance keeps running.
    assert nat_instance_usd(result) == pytest.approx(instance_usd(H))
    # The ALB's part does not depend on the node groups'.
    assert result.facts["albs_deleted_by_schedule"] == [ALB_NAME]


def test_a_plan_of_another_cluster_scales_none_of_these_node_groups() -> None:
    other = replace(DEV_PLAN, cluster_name="openmarket-staging")
    result = dev(sleep=stage_sleep(other))
    assert result.facts["nodegroups_scaled_to_zero_by_schedule"] == []
    assert len(warnings_with(result, "of cluster openmarket-staging, but no node group")) == 3
    assert len(warnings_with(result, "stage sleep is enabled in config")) == 2


def test_a_node_group_without_its_zone_tag_is_not_scaled() -> None:
    untagged = dict(zone_nodegroups("dev")["NodesC"])
    untagged["Properties"] = {**untagged["Properties"], "Tags": {"Stage": "dev"}}
    result = dev(extra={"NodesC": untagged})
    # The function finds no group for the plan's 2c and fails before it scales 2a's.
    assert all(f"{H:.1f} h" in i.quantity for i in node_groups(result).values())
    assert len(warnings_with(result, "names zone(s) ap-northeast-2c")) == 3
    assert len(warnings_with(result, "stage sleep is enabled in config")) == 2


def test_a_wake_with_other_bounds_than_the_node_group_warns() -> None:
    zones = tuple(replace(z, min_size=2) for z in DEV_PLAN.zones)
    wake = sleep_schedule("wake", WAKE_AT, replace(DEV_PLAN, zones=zones))
    result = dev(sleep=stage_sleep(Wake=wake))
    assert len(warnings_with(result, "bounds [(2, 3)]")) == 2
    # Priced at the Custom::NodegroupScaling's bounds.
    assert all(i.quantity.startswith("1 x") for i in node_groups(result).values())


def test_a_node_group_without_any_size_is_unpriced() -> None:
    resources = zone_nodegroups("dev")
    del resources["NodesCScaling"]
    stacks = [StackTemplate("dev/Cluster", {"Resources": resources})]
    result = estimate_stage(stage_config("dev"), stacks, PRICES)
    (unpriced,) = result.unpriced
    assert unpriced.resource == "dev/Cluster/NodesC"
    assert "no ScalingConfig and no Custom::NodegroupScaling" in unpriced.reason


def test_schedules_in_a_stage_whose_config_does_not_sleep_are_not_counted() -> None:
    # prod's config never sleeps: schedules found anyway are a mismatch, counted all month.
    plan = stage_plan(stage_config("prod"))
    resources = {
        **zone_nodegroups("prod"),
        "StageSleep": res("AWS::Lambda::Function", FunctionName="openmarket-prod-stage-sleep"),
        "Sleep": sleep_schedule("sleep", SLEEP_AT, plan),
        "Wake": sleep_schedule("wake", WAKE_AT, plan),
    }
    stacks = [StackTemplate("prod/Cluster", {"Resources": resources})]
    result = estimate_stage(stage_config("prod"), stacks, PRICES)
    assert all(f"{H:.1f} h" in i.quantity for i in node_groups(result).values())
    assert len(warnings_with(result, "but stage sleep is disabled in config")) == 2


# --- staging: Aurora -----------------------------------------------------------------------


def staging(plan: StagePlan | None = None) -> StageEstimate:
    """staging's data stack (Aurora writer and reader) and cluster stack (node groups and
    its sleep and wake at 18:00 and 08:00)."""
    config = stage_config("staging")
    plan = plan or stage_plan(config)
    instance = res(
        "AWS::RDS::DBInstance",
        Engine="aurora-mysql",
        DBInstanceClass="db.t4g.medium",
        DBClusterIdentifier={"Ref": "Aurora"},
    )
    data = {
        "Aurora": res(
            "AWS::RDS::DBCluster",
            Engine="aurora-mysql",
            DBClusterIdentifier=config.names.aurora_cluster_identifier,
        ),
        "Writer": instance,
        "Reader": instance,
    }
    cluster = {
        **zone_nodegroups("staging"),
        "StageSleep": res("AWS::Lambda::Function", FunctionName="openmarket-staging-stage-sleep"),
        "Sleep": sleep_schedule("sleep", SLEEP_AT, plan),
        "Wake": sleep_schedule("wake", "cron(0 8 ? * MON-FRI *)", plan),
    }
    stacks = [
        StackTemplate("staging/Data", {"Resources": data}),
        StackTemplate("staging/Cluster", {"Resources": cluster}),
    ]
    return estimate_stage(config, stacks, PRICES)


def test_staging_aurora_and_nodes_run_weekdays_08_to_18() -> None:
    result = staging()
    hours = 730 * 50 / 168
    db_hour = p("rds.aurora_mysql_instance_hour", "db.t4g.medium")
    aurora = [i for i in result.items if i.resource_type == "AWS::RDS::DBInstance"]
    assert len(aurora) == 2
    for item in aurora:
        assert item.monthly_usd == pytest.approx(db_hour * hours)
        (note,) = item.notes
        assert "stopped outside MON-FRI 08:00-18:00 Asia/Seoul (50 h/week" in note
        assert "by staging/Cluster/Sleep, started by staging/Cluster/Wake" in note
    nodes = sum(i.monthly_usd for i in node_groups(result).values())
    assert nodes == pytest.approx(3 * T3_MEDIUM * hours)  # node_min_size: 2 in 2a, 1 in 2c
    assert not result.warnings


def test_a_database_cluster_no_db_cluster_is_does_not_count() -> None:
    config = stage_config("staging")
    result = staging(replace(stage_plan(config), database_cluster="openmarket-other-aurora"))
    aurora = [i for i in result.items if i.resource_type == "AWS::RDS::DBInstance"]
    assert all(i.quantity == f"1 x {H:.1f} h" for i in aurora)
    (warning,) = warnings_with(result, "'openmarket-other-aurora'")
    assert "which no DB cluster of the stage is" in warning


def test_notes_name_the_schedule_resources() -> None:
    """Every sleeping line item's note names its two schedules by address."""
    result = dev()
    notes = [n for i in result.items for n in i.notes if "outside MON-FRI" in n]
    assert notes
    for note in notes:
        assert len(re.findall(r"dev/Cluster/(?:Sleep|FinishSleep|Wake)\b", note)) >= 2, note
