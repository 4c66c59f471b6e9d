"""The in-cluster monitoring stack of one stage: cdk8s charts, pure Python, no CDK import.

``add_monitoring_charts`` builds every chart, keyed by kind, in the order the cluster
stack applies them (after the app charts): namespaces first, then the secret sync the
workloads mount, the workloads, and the NetworkPolicies that fence them in.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

import cdk8s

from charts.monitoring.alertmanager import AlertmanagerChart
from charts.monitoring.dashboards import application, cluster, node_exporter
from charts.monitoring.exporters import KubeStateMetricsChart, NodeExporterChart
from charts.monitoring.fluent_bit import FluentBitChart
from charts.monitoring.grafana import GrafanaChart, GrafanaDashboardChart
from charts.monitoring.namespaces import MonitoringNamespaceChart, MonitoringSecretsChart
from charts.monitoring.network_policy import MonitoringNetworkPolicyChart
from charts.monitoring.prometheus import PrometheusChart
from charts.monitoring.values import MonitoringValues

# kind -> dashboard uid; the kinds are fixed so the cluster stack's logical ids are too.
DASHBOARD_CHART_UIDS = {
    "grafana-dashboard-cluster": cluster.UID,
    "grafana-dashboard-application": application.UID,
    "grafana-dashboard-node-exporter": node_exporter.UID,
}
DASHBOARD_CHART_KINDS = tuple(DASHBOARD_CHART_UIDS)

MONITORING_CHART_KINDS = (
    "monitoring-namespaces",
    "monitoring-secrets",
    "prometheus",
    "alertmanager",
    # Grafana's dashboards, one chart each (payload size: see GrafanaDashboardChart), before
    # the Grafana that mounts them.
    *DASHBOARD_CHART_KINDS,
    "grafana",
    "kube-state-metrics",
    "node-exporter",
    "fluent-bit",
    "monitoring-network-policy",
)

# A chart is one Custom::AWSCDK-EKS-KubernetesResource. On an update CloudFormation sends
# the old and the new properties in one asynchronous Lambda event, at most 256 KB: each
# chart's manifest stays under 120 KB as the template carries it (JSON inside a JSON string).
MAX_CHART_BYTES = 120_000

__all__ = [
    "MAX_CHART_BYTES",
    "MONITORING_CHART_KINDS",
    "MonitoringValues",
    "add_monitoring_charts",
    "chart_bytes",
]


def chart_bytes(chart: cdk8s.Chart) -> int:
    """Size of the chart's manifest as the template carries it: compact JSON, itself a JSON
    string (every quote and newline of an embedded config file escaped once more)."""
    return len(json.dumps(json.dumps(chart.to_json(), separators=(",", ":"))).encode())


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
        **{
            kind: partial(GrafanaDashboardChart, uid=uid)
            for kind, uid in DASHBOARD_CHART_UIDS.items()
        },
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
            raise ValueError(
                f"chart {kind}: {size} bytes in the template, over {MAX_CHART_BYTES}: an update"
                " event (old and new manifest) would not fit the kubectl handler's 256 KB; split it"
            )
    return charts
