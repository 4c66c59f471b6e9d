"""Monthly cost estimate of each stage from cdk.out (``make cost``, ``python -m tools.cost``).

Prints one table per stage shaped like the original design's cost estimate, next to its
numbers (docs/requirements.md), writes cost-report.json, and exits 1 when a stage's estimate
exceeds its budget from config (``observability.budget_usd_per_month``). Exit 2: cdk.out (or
a stage in it) is missing. Exit 3 with --fail-on-unpriced: some resource has no price. Run
``make synth`` first.

Paths default to the working directory (the repository root when run by ``make cost``), so
the command works the same from a checkout and from an installed package.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from openmarket_cdk.config import STAGE_NAMES, stage_config
from tools.assembly import AssemblyError, load_stage
from tools.cost import estimate_stage, load_prices
from tools.cost.prices import DEFAULT_PRICE_FILE
from tools.cost.report import report_document, stage_table, summary_table

EXIT_OVER_BUDGET = 1
EXIT_NO_ASSEMBLY = 2
EXIT_UNPRICED = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.cost", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--cdk-out", type=Path, default=Path("cdk.out"))
    parser.add_argument("--output", type=Path, default=Path("cost-report.json"))
    parser.add_argument("--prices", type=Path, default=DEFAULT_PRICE_FILE)
    parser.add_argument("--stage", action="append", choices=STAGE_NAMES, help="repeatable")
    parser.add_argument("--details", action="store_true", help="print every line item")
    parser.add_argument("--fail-on-unpriced", action="store_true")
    args = parser.parse_args(argv)

    prices = load_prices(args.prices)
    estimates = []
    for stage in args.stage or STAGE_NAMES:
        try:
            stacks = load_stage(args.cdk_out, stage).stacks
        except AssemblyError as error:
            print(f"cost: {error}", file=sys.stderr)
            return EXIT_NO_ASSEMBLY
        estimates.append(estimate_stage(stage_config(stage), stacks, prices))

    for estimate in estimates:
        print(stage_table(estimate, details=args.details))
        print()
    print(summary_table(estimates))
    document = report_document(estimates, prices)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {args.output}")

    over = [e.stage for e in estimates if e.over_budget]
    unpriced = sorted({t for e in estimates for t in e.unpriced_types()})
    if unpriced:
        print(f"unpriced resource types: {', '.join(unpriced)}", file=sys.stderr)
    if over:
        print(f"cost: over budget: {', '.join(over)}", file=sys.stderr)
        return EXIT_OVER_BUDGET
    if unpriced and args.fail_on_unpriced:
        return EXIT_UNPRICED
    return 0
