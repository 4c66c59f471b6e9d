"""The ap-northeast-2 price table (``prices_ap_northeast_2.json``), loaded and typed.

Every entry carries its unit, its source (a Price List API service code, described in the
file's ``sources``), the product it stands for, the date it was assembled and whether it is
approximate. An entry is either one price (``usd``) or a table keyed by instance type, node
type, volume type, architecture ... (``by_key``). Asking for a price the table does not have
raises ``MissingPrice``: the estimator turns that into an *unpriced* line, never a zero.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PRICE_FILE = Path(__file__).with_name("prices_ap_northeast_2.json")


class MissingPrice(LookupError):
    """The price table has no price for this key (or this variant of it)."""


@dataclass(frozen=True)
class Price:
    """One price: ``usd`` per ``unit``."""

    key: str
    usd: float
    unit: str
    source: str
    product: str
    as_of: str
    approximate: bool
    variant: str | None = None

    @property
    def ref(self) -> str:
        """``key`` or ``key[variant]``, as line items cite it."""
        return f"{self.key}[{self.variant}]" if self.variant else self.key


@dataclass(frozen=True)
class PriceTable:
    """All prices of one region; see the module docstring."""

    region: str
    currency: str
    assembled_on: str
    method: str
    sources: Mapping[str, str]
    entries: Mapping[str, Mapping[str, Any]]
    path: Path

    def get(self, key: str, variant: str | None = None) -> Price:
        """The price ``key`` (``variant`` for tables keyed by type); ``MissingPrice`` if absent."""
        entry = self.entries.get(key)
        if entry is None:
            raise MissingPrice(f"no price '{key}' in {self.path.name}")
        by_key = entry.get("by_key")
        if by_key is not None:
            if variant is None:
                raise MissingPrice(f"price '{key}' needs a variant (one of {sorted(by_key)})")
            row = by_key.get(variant)
            if row is None:
                raise MissingPrice(f"no price '{key}' for '{variant}' in {self.path.name}")
            usd, approximate = row["usd"], row.get("approximate", False)
        else:
            if variant is not None:
                raise MissingPrice(f"price '{key}' has no variants (asked for '{variant}')")
            usd, approximate = entry["usd"], entry.get("approximate", False)
        return Price(
            key=key,
            usd=float(usd),
            unit=str(entry["unit"]),
            source=str(entry["source"]),
            product=str(entry["product"]),
            as_of=str(entry.get("as_of", self.assembled_on)),
            approximate=bool(approximate),
            variant=variant,
        )

    def usd(self, key: str, variant: str | None = None) -> float:
        return self.get(key, variant).usd

    def variants(self, key: str) -> list[str]:
        by_key = self.entries.get(key, {}).get("by_key", {})
        return sorted(by_key)


def load_prices(path: Path = DEFAULT_PRICE_FILE) -> PriceTable:
    """Load and check a price table: every entry has a unit, a known source and a date."""
    raw: dict[str, Any] = json.loads(path.read_text())
    sources: dict[str, str] = dict(raw["sources"])
    entries: dict[str, dict[str, Any]] = dict(raw["prices"])
    for key, entry in entries.items():
        for field in ("unit", "source", "product", "as_of"):
            if not entry.get(field):
                raise ValueError(f"{path.name}: price '{key}' has no '{field}'")
        if entry["source"] not in sources:
            raise ValueError(f"{path.name}: price '{key}' cites unknown source {entry['source']!r}")
        rows: dict[str, Any] = entry.get("by_key", {"": entry})
        for variant, row in rows.items():
            usd = row.get("usd")
            if not isinstance(usd, int | float) or isinstance(usd, bool) or usd < 0:
                raise ValueError(f"{path.name}: price '{key}' {variant} has no usd >= 0")
    return PriceTable(
        region=str(raw["region"]),
        currency=str(raw["currency"]),
        assembled_on=str(raw["assembled_on"]),
        method=str(raw["method"]),
        sources=sources,
        entries=entries,
        path=path,
    )
