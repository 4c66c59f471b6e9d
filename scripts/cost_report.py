"""Monthly cost estimate of each stage from cdk.out (``make cost``).

Prints one table per stage shaped like SPEC's cost section, next to SPEC's numbers, writes
cost-report.json, and exits 1 when a stage's estimate exceeds its budget from config
(``observability.budget_usd_per_month``). Exit 2: cdk.out (or a stage in it) is missing.
Exit 3 with --fail-on-unpriced: some resource has no price. Run ``make synth`` first.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from openmarket_cdk.config import STAGE_NAMES, stage_config  # noqa: E402
from openmarket_cdk.cost import AssemblyError, estimate_stage, load_prices  # noqa: E402
from openmarket_cdk.cost.prices import DEFAULT_PRICE_FILE  # noqa: E402
from openmarket_cdk.cost.report import report_document, stage_table, summary_table  # noqa: E402
from openmarket_cdk.cost.templates import load_stage_templates  # noqa: E402

EXIT_OVER_BUDGET = 1
EXIT_NO_ASSEMBLY = 2
EXIT_UNPRICED = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cdk-out", type=Path, default=ROOT / "cdk.out")
    parser.add_argument("--output", type=Path, default=ROOT / "cost-report.json")
    parser.add_argument("--prices", type=Path, default=DEFAULT_PRICE_FILE)
    parser.add_argument("--stage", action="append", choices=STAGE_NAMES, help="repeatable")
    parser.add_argument("--details", action="store_true", help="print every line item")
    parser.add_argument("--fail-on-unpriced", action="store_true")
    args = parser.parse_args(argv)

    prices = load_prices(args.prices)
    estimates = []
    for stage in args.stage or STAGE_NAMES:
        try:
            stacks = load_stage_templates(args.cdk_out, stage)
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


if __name__ == "__main__":
    sys.exit(main())
