"""Estimate one stage: walk every resource of every template and price it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from openmarket_cdk.config import StageConfig, stage_config
from tools.assembly import StackTemplate, load_stage
from tools.cost.context import StageContext, nodegroup_name
from tools.cost.hours import HOURS_PER_MONTH
from tools.cost.model import Free, LineItem, StageEstimate, Unpriced
from tools.cost.prices import MissingPrice, PriceTable, load_prices
from tools.cost.rules import FREE_TYPES, RULES, stage_level_items


def estimate_stage(
    config: StageConfig, stacks: Iterable[StackTemplate], prices: PriceTable
) -> StageEstimate:
    """The monthly estimate of ``config``'s stage from its stack templates."""
    ctx = StageContext(config, prices, stacks)
    estimate = StageEstimate(
        stage=config.name,
        budget_usd=config.observability.budget_usd_per_month,
        stacks=[stack.name for stack in ctx.stacks],
        resource_count=len(ctx.resources),
    )
    for resource in ctx.resources:
        rule = RULES.get(resource.type)
        if rule is None:
            reason = FREE_TYPES.get(resource.type)
            if reason is not None:
                estimate.free.append(Free(resource.address, resource.type, reason))
            else:
                estimate.unpriced.append(
                    Unpriced(resource.address, resource.type, "no price rule for this type")
                )
            continue
        try:
            outcomes = rule(resource, ctx)
        except MissingPrice as missing:
            estimate.unpriced.append(Unpriced(resource.address, resource.type, str(missing)))
            continue
        for outcome in outcomes:
            if isinstance(outcome, LineItem):
                estimate.items.append(outcome)
            elif isinstance(outcome, Unpriced):
                estimate.unpriced.append(outcome)
            else:
                estimate.free.append(outcome)
    try:
        estimate.items.extend(stage_level_items(ctx))
    except MissingPrice as missing:
        estimate.unpriced.append(Unpriced("(stage)", "(usage)", str(missing)))
    estimate.warnings.extend(dict.fromkeys(ctx.warnings))  # de-duplicated, in order
    working = config.sleep
    estimate.facts = {
        "hours_per_month": HOURS_PER_MONTH,
        "working_hours_enabled": working.enabled,
        "working_hours_per_week": working.hours_per_week,
        "working_hours_per_month": round(ctx.working_hours_per_month, 2),
        "working_hours": (
            f"{working.weekdays} {working.start_hour:02d}:00-{working.stop_hour:02d}:00 "
            f"{working.time_zone}"
            if working.enabled
            else "always on"
        ),
        "nodegroups_scaled_to_zero_by_schedule": sorted(
            nodegroup_name(r)
            for r in ctx.of_type("AWS::EKS::Nodegroup")
            if r.address in ctx.nodegroup_sleeps
        ),
        "instances_stopped_by_schedule": sorted(ctx.instance_sleeps),
        "albs_deleted_by_schedule": sorted(ctx.alb_sleeps),
        "price_table": str(prices.path.name),
        "price_table_assembled_on": prices.assembled_on,
    }
    return estimate


def estimate_from_cdk_out(
    cdk_out: Path, stage: str, prices: PriceTable | None = None, account: str | None = None
) -> StageEstimate:
    """Estimate ``stage`` from the synthesized cloud assembly in ``cdk_out``."""
    config = stage_config(stage) if account is None else stage_config(stage, account)
    return estimate_stage(config, load_stage(cdk_out, stage).stacks, prices or load_prices())
