"""The walk: unpriced and free listings, categories, schedules, budgets."""

from __future__ import annotations

import json

import pytest

from openmarket_cdk.config import stage_config
from tests.tools.cost.helpers import PRICES, dev_nodegroup, estimate, items, res, usd
from tools.assembly import StackTemplate
from tools.cost import CATEGORIES
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


def _dev_nodes(with_schedule: bool) -> list[StackTemplate]:
    cluster = StackTemplate(
        "dev/Cluster",
        {"Resources": {"Nodes": dev_nodegroup()}},
    )
    if not with_schedule:
        return [cluster]
    target = {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":scheduler:::aws-sdk:eks:updateNodegroupConfig"],
        ]
    }

    def schedule(desired: int) -> dict[str, object]:
        payload = {
            "ClusterName": "openmarket-dev",
            "NodegroupName": "openmarket-dev-apps",
            "ScalingConfig": {"MinSize": desired, "DesiredSize": desired, "MaxSize": 4},
        }
        return res(
            "AWS::Scheduler::Schedule",
            ScheduleExpression=f"cron(0 {9 if desired else 18} ? * MON-FRI *)",
            State="ENABLED",
            Target={"Arn": target, "Input": json.dumps(payload)},
        )

    observability = StackTemplate(
        "dev/Observability", {"Resources": {"Start": schedule(2), "Stop": schedule(0)}}
    )
    return [cluster, observability]


def test_dev_node_group_counts_only_working_hours_when_the_schedule_exists() -> None:
    from tools.cost import estimate_stage

    result = estimate_stage(stage_config("dev"), _dev_nodes(with_schedule=True), PRICES)
    (compute,) = [i for i in result.items if i.description.startswith("node group")]
    assert compute.monthly_usd == pytest.approx(2 * 0.052 * 730 * 45 / 168)
    assert "scaled to 0" in compute.notes[0]
    assert not result.warnings
    assert result.facts["nodegroups_scaled_to_zero_by_schedule"] == ["openmarket-dev-apps"]


def test_dev_node_group_without_a_schedule_runs_all_month_and_warns() -> None:
    from tools.cost import estimate_stage

    result = estimate_stage(stage_config("dev"), _dev_nodes(with_schedule=False), PRICES)
    (compute,) = [i for i in result.items if i.description.startswith("node group")]
    assert compute.monthly_usd == pytest.approx(2 * 0.052 * 730)
    assert any("no enabled Scheduler schedule" in w for w in result.warnings)


def test_provisioned_aurora_stopped_by_a_schedule_counts_working_hours_in_dev() -> None:
    def schedule(action: str) -> dict[str, object]:
        return res(
            "AWS::Scheduler::Schedule",
            ScheduleExpression="cron(0 9 ? * MON-FRI *)",
            Target={
                "Arn": f"arn:aws:scheduler:::aws-sdk:rds:{action}DBCluster",
                "Input": json.dumps({"DbClusterIdentifier": "openmarket-dev-aurora"}),
            },
        )

    result = estimate(
        {
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
            "Stop": schedule("stop"),
            "Start": schedule("start"),
        },
        stage="dev",
    )
    hourly = PRICES.usd("rds.aurora_mysql_instance_hour", "db.t4g.medium")
    assert usd(result, "Writer", "dev") == pytest.approx(hourly * 730 * 45 / 168)


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
