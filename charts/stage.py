"""All charts of one stage: the apps, then monitoring, in the order the cluster applies them.

The cluster stack, ``make manifests`` and the chart tests all render through here, from the
same ``StageChartValues`` (built by ``openmarket_cdk.chart_values``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import cdk8s

from charts import CHART_KINDS, add_app_charts
from charts.monitoring import MONITORING_CHART_KINDS, add_monitoring_charts
from charts.monitoring.values import MonitoringValues
from charts.values import AppChartValues

# Monitoring comes after the apps: it binds roles and policies in the app namespace.
STAGE_CHART_KINDS: tuple[str, ...] = (*CHART_KINDS, *MONITORING_CHART_KINDS)

# A chart is one Custom::AWSCDK-EKS-KubernetesResource. On an update CloudFormation sends
# the old and the new properties in one asynchronous Lambda event, at most 256 KB: each
# chart's manifest stays under 120 KB as the template carries it (JSON inside a JSON string).
MAX_CHART_BYTES = 120_000


def chart_bytes(chart: cdk8s.Chart) -> int:
    """Size of the chart's manifest as the template carries it: compact JSON, itself a JSON
    string (every quote and newline of an embedded config file escaped once more)."""
    return len(json.dumps(json.dumps(chart.to_json(), separators=(",", ":"))).encode())


Manifest = dict[str, Any]


@dataclass(frozen=True)
class StageChartValues:
    """The values of every chart of one stage."""

    app: AppChartValues
    monitoring: MonitoringValues


def add_stage_charts(app: cdk8s.App, values: StageChartValues) -> dict[str, cdk8s.Chart]:
    """Every chart of the stage in ``app``, keyed by kind, in apply order."""
    charts = add_app_charts(app, values.app) | add_monitoring_charts(app, values.monitoring)
    assert tuple(charts) == STAGE_CHART_KINDS
    for kind, chart in charts.items():
        size = chart_bytes(chart)
        if size >= MAX_CHART_BYTES:
            raise ValueError(
                f"chart {kind}: {size} bytes in the template, over {MAX_CHART_BYTES}: an update"
                " event (old and new manifest) would not fit the kubectl handler's 256 KB; split it"
            )
    return charts


def render_stage(values: StageChartValues) -> dict[str, list[Manifest]]:
    """kind -> the Kubernetes objects that chart renders, in apply order."""
    charts = add_stage_charts(cdk8s.App(), values)
    return {kind: list(chart.to_json()) for kind, chart in charts.items()}
