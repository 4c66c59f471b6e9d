"""Renders every stage's charts to dist/<stage>/<kind>.k8s.yaml (``make manifests``).

The same charts and the same config-to-values mapping the cluster stack applies; the values
that only exist after deploy (security group id, WAF ARN, cache endpoint) are readable
placeholders. No AWS account is asked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cdk8s
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from charts import add_app_charts  # noqa: E402
from charts.monitoring import add_monitoring_charts  # noqa: E402
from openmarket_cdk.chart_values import (  # noqa: E402
    app_chart_values,
    monitoring_chart_values,
    placeholder_deploy_values,
)
from openmarket_cdk.config import STAGE_NAMES, resolve_account, stage_config  # noqa: E402


def render_stage(stage: str, account: str) -> dict[str, list[dict[str, object]]]:
    """kind -> the Kubernetes objects of that chart, for one stage."""
    config = stage_config(stage, account)
    app = cdk8s.App()
    charts = add_app_charts(app, app_chart_values(config, placeholder_deploy_values(config)))
    charts |= add_monitoring_charts(app, monitoring_chart_values(config))
    return {kind: list(chart.to_json()) for kind, chart in charts.items()}


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
        for index, (kind, objects) in enumerate(render_stage(stage, account).items()):
            path = target / f"{index:02d}-{kind}.k8s.yaml"
            path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
            print(f"{path.relative_to(ROOT)}: {len(objects)} objects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
