"""Small synthetic templates for the cost estimator's tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from openmarket_cdk.config import stage_config
from tools.assembly import StackTemplate
from tools.cost import LineItem, StageEstimate, estimate_stage, load_prices
from tools.cost.hours import HOURS_PER_MONTH

PRICES = load_prices()
H = HOURS_PER_MONTH


def res(resource_type: str, **properties: Any) -> dict[str, Any]:
    return {"Type": resource_type, "Properties": properties}


def dev_nodegroup() -> dict[str, Any]:
    """dev's managed node group as the cluster stack declares it: 2 t3.medium (max 4)."""
    return res(
        "AWS::EKS::Nodegroup",
        NodegroupName="openmarket-dev-apps",
        InstanceTypes=["t3.medium"],
        ScalingConfig={"MinSize": 2, "DesiredSize": 2, "MaxSize": 4},
    )


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
