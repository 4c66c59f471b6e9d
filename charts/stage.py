"""All charts of one stage: the apps, then monitoring, in the order the cluster applies them.

The cluster stack, ``make manifests`` and the chart tests all render through here, from the
same ``StageChartValues`` (built by ``openmarket_cdk.chart_values``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cdk8s

from charts import CHART_KINDS, add_app_charts
from charts.monitoring import MONITORING_CHART_KINDS, add_monitoring_charts
from charts.monitoring.values import MonitoringValues
from charts.values import AppChartValues

# Monitoring comes after the apps: it binds roles and policies in the app namespace.
STAGE_CHART_KINDS: tuple[str, ...] = (*CHART_KINDS, *MONITORING_CHART_KINDS)

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
    return charts


def render_stage(values: StageChartValues) -> dict[str, list[Manifest]]:
    """kind -> the Kubernetes objects that chart renders, in apply order."""
    charts = add_stage_charts(cdk8s.App(), values)
    return {kind: list(chart.to_json()) for kind, chart in charts.items()}
