"""Writes docs/capacity.md: each stage's node headroom from the capacity model (``make capacity``).

The same model tests/test_capacity.py asserts with; the test fails when the page is stale.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from openmarket_cdk.capacity import capacity_report
from openmarket_cdk.config import all_stage_configs

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "capacity.md")
    args = parser.parse_args()
    args.out.write_text(capacity_report(all_stage_configs()))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
