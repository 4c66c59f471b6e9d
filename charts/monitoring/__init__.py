"""The in-cluster monitoring of one stage: OpenMarket's cdk8s charts around the
kube-prometheus-stack release. Pure Python, no CDK import.

``add_monitoring_charts`` builds every chart, keyed by kind, in the order the cluster
stack applies them (after the app charts): the namespaces, the secret sync the release's
pods mount, then (after the release, which the cluster stack installs between the two)
OpenMarket's rules, scrape target and dashboard, and the NetworkPolicies that fence the
monitoring pods in. ``stack_values`` gives the release's values.
"""

from __future__ import annotations

from collections.abc import Callable

import cdk8s

from charts.monitoring.namespaces import MonitoringNamespaceChart, MonitoringSecretsChart
from charts.monitoring.network_policy import MonitoringNetworkPolicyChart
from charts.monitoring.openmarket import OpenMarketMonitoringChart
from charts.monitoring.stack import stack_values
from charts.monitoring.values import MonitoringValues

MONITORING_CHART_KINDS = (
    "monitoring-namespaces",
    "monitoring-secrets",
    # <- the kube-prometheus-stack release (CRDs first) is installed here.
    "openmarket-monitoring",
    "monitoring-network-policy",
)
# The chart the release waits for (its secrets), and the first that waits for the release
# (its objects need the operator's CRDs).
BEFORE_STACK_RELEASE = "monitoring-secrets"
AFTER_STACK_RELEASE = "openmarket-monitoring"

__all__ = [
    "AFTER_STACK_RELEASE",
    "BEFORE_STACK_RELEASE",
    "MONITORING_CHART_KINDS",
    "MonitoringValues",
    "add_monitoring_charts",
    "stack_values",
]


def add_monitoring_charts(app: cdk8s.App, values: MonitoringValues) -> dict[str, cdk8s.Chart]:
    """Add one stage's monitoring charts to ``app``; keyed by kind, in apply order.

    Chart ids are ``<stage>-<kind>``; every chart renders on its own (``chart.to_json()``).
    """
    classes: dict[str, Callable[[cdk8s.App, str, MonitoringValues], cdk8s.Chart]] = {
        "monitoring-namespaces": MonitoringNamespaceChart,
        "monitoring-secrets": MonitoringSecretsChart,
        "openmarket-monitoring": OpenMarketMonitoringChart,
        "monitoring-network-policy": MonitoringNetworkPolicyChart,
    }
    charts = {kind: chart(app, f"{values.stage}-{kind}", values) for kind, chart in classes.items()}
    assert tuple(charts) == MONITORING_CHART_KINDS
    return charts
