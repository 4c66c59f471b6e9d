"""Text tables shaped like the original design's cost estimate; the cost-report.json document.

The original design's figures are restated in docs/requirements.md ("Cost estimate").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tools.cost.assumptions import ASSUMPTIONS
from tools.cost.model import CATEGORIES, StageEstimate
from tools.cost.prices import PriceTable

# The original design's cost estimate (USD per month): the per-item breakdown exists for dev
# before optimisation only; after optimisation and the other stages are totals.
ORIGINAL_DEV_BEFORE: Mapping[str, float] = {
    "EKS control plane": 72,
    "nodes": 60,
    "Aurora": 145,
    "ElastiCache": 15,
    "NAT": 64,
    "ALB": 23,
    "S3": 3,
    "CloudWatch": 25,
    "Lambda": 5,
    "data transfer": 5,
    "ECR": 1,
}
# The original design itemises its "before" estimate for dev only.
ORIGINAL_BEFORE_ITEMS: Mapping[str, Mapping[str, float]] = {"dev": ORIGINAL_DEV_BEFORE}
ORIGINAL_TOTALS: Mapping[str, tuple[float, float]] = {
    "dev": (418, 249),
    "staging": (520, 380),
    "prod": (1200, 950),
}
ORIGINAL_NOTE = (
    "The original design's estimate after optimisation gives no per-item figures; for NAT it "
    "considers a NAT instance instead of each NAT gateway ($32 -> $5 each)."
)
# Column headers (and widths) of the original design's totals before / after its optimisation.
BEFORE, BEFORE_WIDTH = "original before", 17
AFTER, AFTER_WIDTH = "original after", 16


def original_design_for(stage: str) -> dict[str, Any]:
    before, after = ORIGINAL_TOTALS.get(stage, (0.0, 0.0))
    items = dict(ORIGINAL_BEFORE_ITEMS.get(stage, {}))
    return {"before_usd": before, "after_usd": after, "before_items_usd": items}


def _usd(value: float | None, width: int = 10) -> str:
    return f"{'—' if value is None else f'{value:,.2f}':>{width}}"


def stage_table(estimate: StageEstimate, details: bool = False) -> str:
    """One stage: the original design's line items, this estimate and its numbers, budget,
    unpriced, warnings."""
    original = original_design_for(estimate.stage)
    total = estimate.total_usd
    status = (
        f"OVER by ${total - estimate.budget_usd:,.2f}"
        if estimate.over_budget
        else f"within, ${estimate.budget_usd - total:,.2f} to spare"
    )
    facts = estimate.facts
    lower = " (lower bound: unpriced resources)" if estimate.unpriced else ""
    lines = [
        f"== {estimate.stage}: ${total:,.2f}/month{lower} — budget ${estimate.budget_usd:,.2f}: "
        f"{status} ==",
        f"   {len(estimate.stacks)} stacks, {estimate.resource_count} resources; "
        f"prices {facts.get('price_table')} ({facts.get('price_table_assembled_on')})",
        f"   floor ${estimate.floor_usd:,.2f} (control plane, one ALB, minimum nodes, database, "
        f"cache) <= expected ${total:,.2f} <= ceiling ${estimate.ceiling_usd:,.2f} "
        "(node autoscaler and Aurora readers at their maximum)",
    ]
    if facts.get("working_hours_enabled"):
        scaled = ", ".join(facts.get("nodegroups_scaled_to_zero_by_schedule") or []) or "none"
        lines.append(
            f"   working hours {facts['working_hours']} = {facts['working_hours_per_week']} "
            f"h/week -> {facts['working_hours_per_month']:.1f} h/month "
            f"(node groups scaled to 0 by a schedule: {scaled})"
        )
    asleep = [
        *(f"instance {address}" for address in facts.get("instances_stopped_by_schedule") or []),
        *(f"ALB {name}" for name in facts.get("albs_deleted_by_schedule") or []),
    ]
    if asleep:
        lines.append(f"   also asleep off-hours by their schedules: {', '.join(asleep)}")
    lines += [
        "",
        f"   {'line item':<20}{'estimate':>10}{BEFORE:>{BEFORE_WIDTH}}{AFTER:>{AFTER_WIDTH}}",
    ]
    original_items: Mapping[str, float] = original["before_items_usd"]
    for category, usd in estimate.by_category().items():
        before = original_items.get(category) if original_items else None
        lines.append(
            f"   {category:<20}{_usd(usd)}{_usd(before, BEFORE_WIDTH)}{_usd(None, AFTER_WIDTH)}"
        )
    lines.append("   " + "-" * (30 + BEFORE_WIDTH + AFTER_WIDTH))
    lines.append(
        f"   {'total':<20}{_usd(total)}{_usd(original['before_usd'], BEFORE_WIDTH)}"
        f"{_usd(original['after_usd'], AFTER_WIDTH)}"
    )
    lines.append(f"   {'budget (config)':<20}{_usd(estimate.budget_usd)}")
    if estimate.stage in ORIGINAL_BEFORE_ITEMS:
        lines.append(f"   {ORIGINAL_NOTE}")
    if estimate.unpriced:
        lines.append("")
        lines.append(f"   UNPRICED ({len(estimate.unpriced)}): not in the total")
        for entry in estimate.unpriced:
            lines.append(f"     - {entry.resource_type} {entry.resource}: {entry.reason}")
    if estimate.warnings:
        lines.append("")
        lines.append("   warnings:")
        lines += [f"     - {warning}" for warning in estimate.warnings]
    if details:
        lines += ["", "   line items:"]
        for category in CATEGORIES:
            for item in (i for i in estimate.items if i.category == category):
                mark = "~" if item.approximate else " "
                lines.append(
                    f"    {mark}{item.monthly_usd:>9,.2f}  {category:<17} {item.description}"
                )
                lines.append(f"{'':>34}{item.quantity}  [{item.resource}]")
                if item.floor_usd != item.monthly_usd or item.ceiling_usd != item.monthly_usd:
                    lines.append(
                        f"{'':>34}floor {item.floor_usd:,.2f}, ceiling {item.ceiling_usd:,.2f}"
                    )
                lines += [f"{'':>34}note: {note}" for note in item.notes]
        lines.append("    (~ = uses an approximate price or assumption)")
        lines += ["", "   free resource types:"]
        for kind, (count, reason) in estimate.free_by_type().items():
            lines.append(f"     {count:>3} x {kind}: {reason}")
    return "\n".join(lines)


def summary_table(estimates: Sequence[StageEstimate]) -> str:
    lines = [
        f"{'stage':<9}{'floor':>10}{'estimate':>10}{'ceiling':>10}{'budget':>10}"
        f"{BEFORE:>{BEFORE_WIDTH}}{AFTER:>{AFTER_WIDTH}}  status",
    ]
    for estimate in estimates:
        before, after = ORIGINAL_TOTALS.get(estimate.stage, (0.0, 0.0))
        status = "OVER BUDGET" if estimate.over_budget else "ok"
        if estimate.unpriced:
            status += f", {len(estimate.unpriced)} unpriced"
        lines.append(
            f"{estimate.stage:<9}{_usd(estimate.floor_usd)}{_usd(estimate.total_usd)}"
            f"{_usd(estimate.ceiling_usd)}{_usd(estimate.budget_usd)}"
            f"{_usd(before, BEFORE_WIDTH)}{_usd(after, AFTER_WIDTH)}  {status}"
        )
    return "\n".join(lines)


def report_document(estimates: Sequence[StageEstimate], prices: PriceTable) -> dict[str, Any]:
    """The cost-report.json document: per-stage totals, line items, unpriced, assumptions."""
    used = sorted({key for e in estimates for item in e.items for key in item.assumptions})
    return {
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "region": prices.region,
        "currency": prices.currency,
        "price_table": {
            "file": f"tools/cost/{prices.path.name}",
            "assembled_on": prices.assembled_on,
            "method": prices.method,
        },
        "totals_usd": {e.stage: round(e.total_usd, 2) for e in estimates},
        "floors_usd": {e.stage: round(e.floor_usd, 2) for e in estimates},
        "ceilings_usd": {e.stage: round(e.ceiling_usd, 2) for e in estimates},
        "budgets_usd": {e.stage: e.budget_usd for e in estimates},
        "over_budget": [e.stage for e in estimates if e.over_budget],
        "unpriced_types": sorted({t for e in estimates for t in e.unpriced_types()}),
        "stages": {e.stage: e.to_json(original_design_for(e.stage)) for e in estimates},
        "assumptions": {
            key: {
                "unit": ASSUMPTIONS[key].unit,
                "values": {e.stage: ASSUMPTIONS[key].value(e.stage) for e in estimates},
                "source": ASSUMPTIONS[key].source,
                "approximate": ASSUMPTIONS[key].approximate,
            }
            for key in used
        },
    }
