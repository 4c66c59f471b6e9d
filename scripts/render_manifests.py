"""Renders every stage's charts to dist/<stage>/<kind>.k8s.yaml (``make manifests``).

The same charts and the same config-to-values mapping the cluster stack applies; the values
that only exist after deploy (security group id, WAF ARN, cache endpoint) are readable
placeholders. No AWS account is asked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from charts.stage import render_stage
from openmarket_cdk.chart_values import placeholder_chart_values
from openmarket_cdk.config import STAGE_NAMES, resolve_account, stage_config

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--stage", action="append", choices=STAGE_NAMES)
    args = parser.parse_args()
    account = resolve_account({})
    for stage in args.stage or STAGE_NAMES:
        target = args.out / stage
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob("*.k8s.yaml"):
            old.unlink()
        for index, (kind, objects) in enumerate(
            render_stage(placeholder_chart_values(stage_config(stage, account))).items()
        ):
            path = target / f"{index:02d}-{kind}.k8s.yaml"
            path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
            print(f"{path}: {len(objects)} objects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
