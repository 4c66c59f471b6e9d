"""What an estimate is made of: priced line items, unpriced resources, free resources."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The original design's cost estimate, in its order, plus the items it does not list.
CATEGORIES: tuple[str, ...] = (
    "EKS control plane",
    "nodes",
    "Aurora",
    "ElastiCache",
    "NAT",
    "ALB",
    "S3",
    "CloudWatch",
    "Lambda",
    "data transfer",
    "ECR",
    "WAF",
    "KMS/Secrets",
    "other",
)

# What no setting removes (issue 14): the EKS control plane, one ALB, the minimum nodes, the
# database and the cache. A line item of these categories counts at its ``floor_usd`` (the
# item at its minimum: nodes at the node group's minimum, Serverless v2 at its minimum ACU),
# every other item at zero.
FLOOR_CATEGORIES = frozenset({"EKS control plane", "nodes", "Aurora", "ElastiCache", "ALB"})

STAGE_LEVEL = "(stage)"  # the resource of a line item that belongs to no single resource


@dataclass(frozen=True)
class LineItem:
    """One priced cost of one resource (a resource may have several: instances, volumes)."""

    category: str
    description: str
    quantity: str
    monthly_usd: float
    resource: str
    resource_type: str
    prices: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    approximate: bool = False
    # The item at its minimum / with every autoscaler at its maximum; None: as expected.
    minimum_usd: float | None = None
    maximum_usd: float | None = None

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown cost category {self.category!r}")
        if min(self.monthly_usd, self.floor_usd, self.ceiling_usd) < 0:
            raise ValueError(f"negative cost for {self.resource}")
        if not self.floor_usd <= self.monthly_usd <= self.ceiling_usd:
            raise ValueError(f"{self.resource}: floor <= expected <= ceiling is violated")

    @property
    def floor_usd(self) -> float:
        """What this item costs at the stage's floor (0 outside ``FLOOR_CATEGORIES``)."""
        if self.category not in FLOOR_CATEGORIES:
            return 0.0
        return self.monthly_usd if self.minimum_usd is None else self.minimum_usd

    @property
    def ceiling_usd(self) -> float:
        """What this item costs with every autoscaler at its maximum."""
        return self.monthly_usd if self.maximum_usd is None else self.maximum_usd

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "description": self.description,
            "quantity": self.quantity,
            "monthly_usd": round(self.monthly_usd, 4),
            "floor_usd": round(self.floor_usd, 4),
            "ceiling_usd": round(self.ceiling_usd, 4),
            "resource": self.resource,
            "resource_type": self.resource_type,
            "prices": list(self.prices),
            "assumptions": list(self.assumptions),
            "notes": list(self.notes),
            "approximate": self.approximate,
        }


@dataclass(frozen=True)
class Unpriced:
    """A resource (or part of one) the estimator has no price for: never counted as zero."""

    resource: str
    resource_type: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {
            "resource": self.resource,
            "resource_type": self.resource_type,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Free:
    """A resource that costs nothing by itself, with the reason."""

    resource: str
    resource_type: str
    reason: str


Outcome = LineItem | Unpriced | Free


@dataclass
class StageEstimate:
    """The monthly estimate of one stage."""

    stage: str
    budget_usd: float
    items: list[LineItem] = field(default_factory=list)
    unpriced: list[Unpriced] = field(default_factory=list)
    free: list[Free] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    stacks: list[str] = field(default_factory=list)
    resource_count: int = 0

    @property
    def total_usd(self) -> float:
        return sum(item.monthly_usd for item in self.items)

    @property
    def floor_usd(self) -> float:
        """What no setting removes: control plane, one ALB, minimum nodes, database, cache."""
        return sum(item.floor_usd for item in self.items)

    @property
    def ceiling_usd(self) -> float:
        """The estimate with the node autoscaler and Aurora's reader scaling at their maximum."""
        return sum(item.ceiling_usd for item in self.items)

    @property
    def over_budget(self) -> bool:
        return self.total_usd > self.budget_usd

    def by_category(self) -> dict[str, float]:
        totals = dict.fromkeys(CATEGORIES, 0.0)
        for item in self.items:
            totals[item.category] += item.monthly_usd
        return totals

    def free_by_type(self) -> dict[str, tuple[int, str]]:
        """resource type -> (count, reason of the first one), sorted by type."""
        grouped: dict[str, tuple[int, str]] = {}
        for entry in self.free:
            count, reason = grouped.get(entry.resource_type, (0, entry.reason))
            grouped[entry.resource_type] = (count + 1, reason)
        return dict(sorted(grouped.items()))

    def unpriced_types(self) -> list[str]:
        return sorted({entry.resource_type for entry in self.unpriced})

    def to_json(self, original_design: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "total_usd": round(self.total_usd, 2),
            "floor_usd": round(self.floor_usd, 2),
            "ceiling_usd": round(self.ceiling_usd, 2),
            "budget_usd": self.budget_usd,
            "within_budget": not self.over_budget,
            "total_is_lower_bound": bool(self.unpriced),
            "original_design": dict(original_design or {}),
            "categories": {name: round(usd, 2) for name, usd in self.by_category().items()},
            "line_items": [item.to_json() for item in self.items],
            "unpriced": [entry.to_json() for entry in self.unpriced],
            "free": [
                {"resource_type": kind, "count": count, "reason": reason}
                for kind, (count, reason) in self.free_by_type().items()
            ],
            "warnings": list(self.warnings),
            "facts": dict(self.facts),
            "stacks": list(self.stacks),
            "resource_count": self.resource_count,
        }
