"""Floor, expected and ceiling: what no setting removes, what the stage should cost, and
what it costs with the node autoscaler and Aurora's reader scaling at their maximum."""

from __future__ import annotations

import pytest

from tests.tools.cost.helpers import PRICES, H, estimate, items, res
from tools.cost.model import FLOOR_CATEGORIES, LineItem

T3_MEDIUM = PRICES.get("ec2.instance_hour", "t3.medium").usd
T4G_MEDIUM_DB = PRICES.get("rds.aurora_mysql_instance_hour", "db.t4g.medium").usd


def nodes(**scaling: int) -> dict[str, object]:
    return res(
        "AWS::EKS::Nodegroup",
        NodegroupName="apps",
        InstanceTypes=["t3.medium"],
        ScalingConfig=scaling,
    )


def test_a_node_group_costs_its_minimum_at_the_floor_and_its_maximum_at_the_ceiling() -> None:
    result = estimate({"Nodes": nodes(MinSize=2, DesiredSize=3, MaxSize=6)})
    compute, volumes = items(result, "Nodes")
    assert compute.monthly_usd == pytest.approx(3 * T3_MEDIUM * H)
    assert compute.floor_usd == pytest.approx(2 * T3_MEDIUM * H)
    assert compute.ceiling_usd == pytest.approx(6 * T3_MEDIUM * H)
    assert volumes.floor_usd == pytest.approx(volumes.monthly_usd * 2 / 3)
    assert volumes.ceiling_usd == pytest.approx(volumes.monthly_usd * 2)


def test_spot_nodes_cost_less_than_on_demand_by_the_stated_discount() -> None:
    on_demand = items(estimate({"Nodes": nodes(MinSize=2, DesiredSize=2, MaxSize=2)}), "Nodes")
    spot_nodes = nodes(MinSize=2, DesiredSize=2, MaxSize=2)
    spot_nodes["Properties"]["CapacityType"] = "SPOT"  # type: ignore[index]
    spot = items(estimate({"Nodes": spot_nodes}), "Nodes")
    assert spot[0].monthly_usd == pytest.approx(on_demand[0].monthly_usd * (1 - 0.6))
    assert "ec2_spot_discount" in spot[0].assumptions and spot[0].approximate
    assert spot[1].monthly_usd == pytest.approx(on_demand[1].monthly_usd)  # volumes


def test_aurora_reader_scaling_adds_only_to_the_ceiling() -> None:
    cluster = res(
        "AWS::RDS::DBCluster", Engine="aurora-mysql", DBClusterIdentifier="openmarket-prod-aurora"
    )
    instance = res(
        "AWS::RDS::DBInstance",
        Engine="aurora-mysql",
        DBInstanceClass="db.t4g.medium",
        DBClusterIdentifier={"Ref": "Cluster"},
    )
    target = res(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        ScalableDimension="rds:cluster:ReadReplicaCount",
        ResourceId="cluster:openmarket-prod-aurora",
        MinCapacity=1,
        MaxCapacity=4,
    )
    result = estimate(
        {"Cluster": cluster, "Writer": instance, "Reader": instance, "Readers": target}
    )
    (scaled,) = items(result, "Readers")
    assert scaled.monthly_usd == 0
    assert scaled.ceiling_usd == pytest.approx(3 * T4G_MEDIUM_DB * H)
    assert result.ceiling_usd == pytest.approx(result.total_usd + 3 * T4G_MEDIUM_DB * H)


def test_the_floor_keeps_only_what_no_setting_removes() -> None:
    result = estimate(
        {
            "Cluster": res("AWS::EKS::Cluster", Name="c"),
            "Nodes": nodes(MinSize=2, DesiredSize=2, MaxSize=4),
            "Table": res("AWS::DynamoDB::Table", BillingMode="PAY_PER_REQUEST"),
        }
    )
    assert result.floor_usd == pytest.approx(
        sum(i.monthly_usd for i in result.items if i.category in FLOOR_CATEGORIES)
    )
    assert 0 < result.floor_usd < result.total_usd  # the table is usage, not floor
    assert result.floor_usd <= result.total_usd <= result.ceiling_usd


def test_an_item_refuses_a_floor_above_its_expected_cost() -> None:
    with pytest.raises(ValueError, match="floor <= expected <= ceiling"):
        LineItem("nodes", "n", "1", 10.0, "r", "t", minimum_usd=11.0)
    with pytest.raises(ValueError, match="floor <= expected <= ceiling"):
        LineItem("nodes", "n", "1", 10.0, "r", "t", maximum_usd=9.0)
