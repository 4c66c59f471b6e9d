"""docs/cost.md keeps up with the estimator: every assumption and category is documented."""

from __future__ import annotations

from tests.conftest import ROOT
from tools.cost import CATEGORIES
from tools.cost.assumptions import ASSUMPTIONS

DOC = (ROOT / "docs" / "cost.md").read_text()


def test_every_assumption_is_documented() -> None:
    missing = [key for key in ASSUMPTIONS if f"`{key}`" not in DOC]
    assert not missing, f"add these to docs/cost.md's assumption table: {missing}"


def test_every_line_item_is_documented() -> None:
    assert all(category in DOC for category in CATEGORIES)


def test_the_budget_exit_code_is_documented() -> None:
    assert "exits 1 when a stage's estimate exceeds its budget" in DOC.replace("**", "")
