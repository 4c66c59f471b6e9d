"""The walk: unpriced and free listings, categories, schedules, budgets."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from openmarket_cdk.config import stage_config
from openmarket_cdk.stage_sleep.plan import stage_plan
from openmarket_cdk.stage_sleep.runtime.contract import SleepEvent, StagePlan
from tests.tools.cost.helpers import PRICES, estimate, items, res, usd, zone_nodegroups
from tools.assembly import StackTemplate
from tools.cost import CATEGORIES, LineItem, StageEstimate
from tools.cost.report import ORIGINAL_DEV_BEFORE, report_document, stage_table


def test_categories_are_the_original_line_items_plus_the_ones_it_does_not_list() -> None:
    assert list(ORIGINAL_DEV_BEFORE) == list(CATEGORIES[:11])
    assert CATEGORIES[11:] == ("WAF", "KMS/Secrets", "other")
    # The original design's dev total before optimisation.
    assert sum(ORIGINAL_DEV_BEFORE.values()) == 418


def test_an_unknown_type_is_listed_unpriced_and_not_counted() -> None:
    known = estimate({"Key": res("AWS::KMS::Key")})
    with_unknown = estimate(
        {"Key": res("AWS::KMS::Key"), "Mystery": res("AWS::Bedrock::Agent", Name="x")}
    )
    assert with_unknown.total_usd == pytest.approx(known.total_usd)
    assert [(u.resource, u.resource_type) for u in with_unknown.unpriced] == [
        ("prod/Test/Mystery", "AWS::Bedrock::Agent")
    ]
    assert with_unknown.unpriced_types() == ["AWS::Bedrock::Agent"]
    assert "lower bound" in stage_table(with_unknown)
    assert "UNPRICED (1)" in stage_table(with_unknown)
    document = with_unknown.to_json()
    assert document["total_is_lower_bound"] is True
    assert document["unpriced"][0]["resource_type"] == "AWS::Bedrock::Agent"


def test_free_types_are_listed_with_their_reason_and_cost_nothing() -> None:
    result = estimate(
        {
            "Role": res("AWS::IAM::Role"),
            "Sg": res("AWS::EC2::SecurityGroup"),
            "Meta": res("AWS::CDK::Metadata"),
        }
    )
    assert not result.unpriced
    assert [i.category for i in result.items] == ["data transfer"]  # the stage-level item only
    free = result.free_by_type()
    assert set(free) == {"AWS::IAM::Role", "AWS::EC2::SecurityGroup", "AWS::CDK::Metadata"}
    assert all(reason for _count, reason in free.values())


def test_a_price_missing_from_the_table_makes_the_resource_unpriced() -> None:
    result = estimate(
        {"Cache": res("AWS::ElastiCache::ReplicationGroup", CacheNodeType="cache.x9.huge")}
    )
    assert not items(result, "Cache")
    assert "cache.x9.huge" in result.unpriced[0].reason


def _sleep_schedule(action: str, hour: int, plan: StagePlan) -> dict[str, object]:
    """A stage-sleep schedule: the function's input is ``SleepEvent.to_json()``."""
    return res(
        "AWS::Scheduler::Schedule",
        ScheduleExpression=f"cron(0 {hour} ? * MON-FRI *)",
        ScheduleExpressionTimezone="Asia/Seoul",
        State="ENABLED",
        Target={
            "Arn": {"Fn::GetAtt": ["StageSleep", "Arn"]},
            "Input": json.dumps(SleepEvent(action, plan).to_json()),  # type: ignore[arg-type]
        },
    )


def _nodes_only(plan: StagePlan) -> StagePlan:
    return replace(plan, nat_instance_tag=None, load_balancer_name=None, ingress_class=None)


def _dev_nodes(with_schedule: bool, plan: StagePlan | None = None) -> list[StackTemplate]:
    """dev's cluster stack: its two node groups and, ``with_schedule``, a sleep at 18:00 and
    a wake at 09:00 of the stage-sleep function (nodes only: no ALB, no NAT instance here)."""
    plan = plan or _nodes_only(stage_plan(stage_config("dev")))
    resources: dict[str, object] = dict(zone_nodegroups("dev"))
    if with_schedule:
        resources |= {
            "StageSleep": res("AWS::Lambda::Function", FunctionName="openmarket-dev-stage-sleep"),
            "Sleep": _sleep_schedule("sleep", 18, plan),
            "Wake": _sleep_schedule("wake", 9, plan),
        }
    return [StackTemplate("dev/Cluster", {"Resources": resources})]


def _node_groups(result: StageEstimate) -> list[LineItem]:
    return [i for i in result.items if i.description.startswith("node group")]


def test_dev_node_groups_count_only_working_hours_when_the_schedules_exist() -> None:
    from tools.cost import estimate_stage

    result = estimate_stage(stage_config("dev"), _dev_nodes(with_schedule=True), PRICES)
    groups = _node_groups(result)
    assert len(groups) == 2
    for group in groups:  # one node each (dev's minimum of 2, one per zone)
        assert group.monthly_usd == pytest.approx(0.052 * 730 * 45 / 168)
        assert "scaled to 0" in group.notes[0]
    assert not result.warnings
    assert result.facts["nodegroups_scaled_to_zero_by_schedule"] == ["NodesA", "NodesC"]


def test_dev_node_groups_without_the_schedules_run_all_month_and_warn() -> None:
    from tools.cost import estimate_stage

    result = estimate_stage(stage_config("dev"), _dev_nodes(with_schedule=False), PRICES)
    groups = _node_groups(result)
    assert [g.monthly_usd for g in groups] == pytest.approx([0.052 * 730] * 2)
    assert len([w for w in result.warnings if "no enabled stage-sleep schedule" in w]) == 2
    assert result.facts["nodegroups_scaled_to_zero_by_schedule"] == []


def _dev_aurora() -> dict[str, Any]:
    """dev's provisioned Aurora cluster and its writer."""
    return {
        "Cluster": res(
            "AWS::RDS::DBCluster",
            Engine="aurora-mysql",
            DBClusterIdentifier="openmarket-dev-aurora",
        ),
        "Writer": res(
            "AWS::RDS::DBInstance",
            Engine="aurora-mysql",
            DBInstanceClass="db.t4g.medium",
            DBClusterIdentifier={"Ref": "Cluster"},
        ),
    }


def test_provisioned_aurora_stopped_by_the_stage_sleep_counts_working_hours() -> None:
    plan = replace(
        _nodes_only(stage_plan(stage_config("dev"))), database_cluster="openmarket-dev-aurora"
    )
    result = estimate(
        {
            **_dev_aurora(),
            "StageSleep": res("AWS::Lambda::Function"),
            "Sleep": _sleep_schedule("sleep", 18, plan),
            "Wake": _sleep_schedule("wake", 9, plan),
        },
        stage="dev",
        extra=_dev_nodes(with_schedule=False),
    )
    hourly = PRICES.usd("rds.aurora_mysql_instance_hour", "db.t4g.medium")
    assert usd(result, "Writer", "dev") == pytest.approx(hourly * 730 * 45 / 168)
    (note,) = items(result, "Writer", "dev")[0].notes
    assert "by dev/Test/Sleep, started by dev/Test/Wake" in note
    # Without the database in the plan it runs all month.
    awake = estimate(_dev_aurora(), stage="dev")
    assert usd(awake, "Writer", "dev") == pytest.approx(hourly * 730)


def test_budget_comes_from_config_and_decides_over_budget() -> None:
    for stage in ("dev", "staging", "prod"):
        result = estimate({}, stage=stage)
        assert result.budget_usd == stage_config(stage).observability.budget_usd_per_month
    cheap = estimate({}, stage="dev")
    assert not cheap.over_budget
    pricey = estimate({"Big": res("AWS::EC2::Instance", InstanceType="r6g.large")}, stage="dev")
    pricey.budget_usd = 50.0
    assert pricey.over_budget
    assert "OVER by" in stage_table(pricey)


def test_report_document_is_json_with_totals_and_assumptions() -> None:
    result = estimate({"Key": res("AWS::KMS::Key")}, stage="dev")
    document = report_document([result], PRICES)
    text = json.dumps(document)
    assert json.loads(text)["totals_usd"]["dev"] == pytest.approx(result.total_usd, abs=0.01)
    assert document["stages"]["dev"]["original_design"]["before_usd"] == 418
    assert document["stages"]["dev"]["original_design"]["after_usd"] == 249
    assert "kms_requests_thousand_per_key" in document["assumptions"]
    assumption = document["assumptions"]["data_transfer_out_gb"]
    assert assumption["values"]["dev"] == 50 and "original design" in assumption["source"]


def test_details_list_every_line_item_and_free_type() -> None:
    result = estimate({"Key": res("AWS::KMS::Key"), "Role": res("AWS::IAM::Role")})
    table = stage_table(result, details=True)
    assert "KMS key" in table
    assert "AWS::IAM::Role: IAM has no charge" in table
