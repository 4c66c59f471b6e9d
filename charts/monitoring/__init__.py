"""The in-cluster monitoring stack of one stage: cdk8s charts, pure Python, no CDK import.

``add_monitoring_charts`` builds every chart, keyed by kind, in the order the cluster
stack applies them (after the app charts): namespaces first, then the secret sync the
workloads mount, the workloads, and the NetworkPolicies that fence them in.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import cdk8s

from charts.monitoring.alertmanager import AlertmanagerChart
from charts.monitoring.exporters import KubeStateMetricsChart, NodeExporterChart
from charts.monitoring.fluent_bit import FluentBitChart
from charts.monitoring.grafana import GrafanaChart
from charts.monitoring.namespaces import MonitoringNamespaceChart, MonitoringSecretsChart
from charts.monitoring.network_policy import MonitoringNetworkPolicyChart
from charts.monitoring.prometheus import PrometheusChart
from charts.monitoring.values import MonitoringValues

MONITORING_CHART_KINDS = (
    "monitoring-namespaces",
    "monitoring-secrets",
    "prometheus",
    "alertmanager",
    "grafana",
    "kube-state-metrics",
    "node-exporter",
    "fluent-bit",
    "monitoring-network-policy",
)

# The kubectl handler of aws-eks-v2 gets each chart's manifest in one request payload.
MAX_CHART_BYTES = 262_144

__all__ = [
    "MAX_CHART_BYTES",
    "MONITORING_CHART_KINDS",
    "MonitoringValues",
    "add_monitoring_charts",
    "chart_bytes",
]


def chart_bytes(chart: cdk8s.Chart) -> int:
    """Size of the chart's manifest as the kubectl handler receives it (compact JSON)."""
    return len(json.dumps(chart.to_json(), separators=(",", ":")).encode())


def add_monitoring_charts(app: cdk8s.App, values: MonitoringValues) -> dict[str, cdk8s.Chart]:
    """Add one stage's monitoring charts to ``app``; keyed by kind, in apply order.

    Chart ids are ``<stage>-<kind>``; every chart renders on its own (``chart.to_json()``).
    """
    stage = values.stage
    classes: dict[str, Callable[[cdk8s.App, str, MonitoringValues], cdk8s.Chart]] = {
        "monitoring-namespaces": MonitoringNamespaceChart,
        "monitoring-secrets": MonitoringSecretsChart,
        "prometheus": PrometheusChart,
        "alertmanager": AlertmanagerChart,
        "grafana": GrafanaChart,
        "kube-state-metrics": KubeStateMetricsChart,
        "node-exporter": NodeExporterChart,
        "fluent-bit": FluentBitChart,
        "monitoring-network-policy": MonitoringNetworkPolicyChart,
    }
    charts = {kind: chart(app, f"{stage}-{kind}", values) for kind, chart in classes.items()}
    assert tuple(charts) == MONITORING_CHART_KINDS
    for kind, chart in charts.items():
        size = chart_bytes(chart)
        if size >= MAX_CHART_BYTES:
            raise ValueError(f"chart {kind}: {size} bytes, over the kubectl payload limit")
    return charts
