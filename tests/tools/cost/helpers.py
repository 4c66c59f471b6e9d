"""Small synthetic templates for the cost estimator's tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from openmarket_cdk.config import stage_config
from openmarket_cdk.stage_sleep.runtime.contract import ZONE_TAG
from tools.assembly import StackTemplate
from tools.cost import LineItem, StageEstimate, estimate_stage, load_prices
from tools.cost.hours import HOURS_PER_MONTH

PRICES = load_prices()
H = HOURS_PER_MONTH


def res(resource_type: str, **properties: Any) -> dict[str, Any]:
    return {"Type": resource_type, "Properties": properties}


def zone_nodegroups(stage: str = "dev") -> dict[str, Any]:
    """A stage's node groups as its cluster stack declares them: the EKS cluster, one node
    group per zone (tagged ``openmarket:zone``, no ScalingConfig, CloudFormation-named) and
    the ``Custom::NodegroupScaling`` that sets each one's bounds (``node_group_sizes``),
    served by the deploy-time scaling function. Logical ids: ``NodesA``, ``NodesC``."""
    config = stage_config(stage)
    resources: dict[str, Any] = {
        "Cluster": res("AWS::EKS::Cluster", Name=config.names.cluster_name, Version="1.32"),
        "ScalingFunction": res(
            "AWS::Lambda::Function", FunctionName=f"{config.names.prefix}-nodegroup-scaling"
        ),
    }
    for zone, (minimum, maximum) in config.node_group_sizes.items():
        group = f"Nodes{zone[-1].upper()}"
        resources[group] = res(
            "AWS::EKS::Nodegroup",
            ClusterName={"Ref": "Cluster"},
            InstanceTypes=["t3.medium"],
            Tags={"Stage": stage, ZONE_TAG: zone},
        )
        resources[f"{group}Scaling"] = res(
            "Custom::NodegroupScaling",
            ServiceToken={"Fn::GetAtt": ["ScalingFunction", "Arn"]},
            ClusterName={"Ref": "Cluster"},
            NodegroupName={"Fn::GetAtt": [group, "NodegroupName"]},
            MinSize=minimum,
            MaxSize=maximum,
        )
    return resources


def stack(resources: Mapping[str, Any], name: str = "prod/Test") -> StackTemplate:
    return StackTemplate(name, {"Resources": dict(resources)})


def estimate(
    resources: Mapping[str, Any],
    stage: str = "prod",
    extra: Iterable[StackTemplate] = (),
) -> StageEstimate:
    """Estimate one synthetic stack (named ``<stage>/Test``) plus any extra stacks."""
    stacks = [stack(resources, f"{stage}/Test"), *extra]
    return estimate_stage(stage_config(stage), stacks, PRICES)


def items(result: StageEstimate, logical_id: str, stage: str = "prod") -> list[LineItem]:
    return [i for i in result.items if i.resource == f"{stage}/Test/{logical_id}"]


def usd(result: StageEstimate, logical_id: str, stage: str = "prod") -> float:
    found = items(result, logical_id, stage)
    assert found, f"no line item for {logical_id}: {result.unpriced}"
    return sum(i.monthly_usd for i in found)


def p(key: str, variant: str | None = None) -> float:
    return PRICES.usd(key, variant)
