"""cdk8s charts of the OpenMarket apps: pure Python, no CDK import.

``add_app_charts`` builds all of a stage's charts, in the order the cluster applies them.
"""

from __future__ import annotations

import cdk8s

from charts.backend import BackendChart
from charts.frontend import FrontendChart
from charts.ingress import IngressChart
from charts.namespace import NamespaceChart
from charts.network_policy import NetworkPolicyChart
from charts.platform import PlatformChart
from charts.values import AppChartValues

# Apply order: the namespace first, then what the apps need (StorageClass, secret sync),
# the apps, the ALB in front of them, and the policies that fence them in.
CHART_KINDS = ("namespace", "platform", "backend", "frontend", "ingress", "network-policy")

__all__ = [
    "CHART_KINDS",
    "BackendChart",
    "FrontendChart",
    "IngressChart",
    "NamespaceChart",
    "NetworkPolicyChart",
    "PlatformChart",
    "add_app_charts",
]


def add_app_charts(app: cdk8s.App, values: AppChartValues) -> dict[str, cdk8s.Chart]:
    """Add one stage's charts to ``app``; keyed by kind (``CHART_KINDS``), in apply order.

    Chart ids are ``<stage>-<kind>``. Every chart renders on its own (``chart.to_json()``):
    the cluster stack passes each to ``add_cdk8s_chart`` and orders them with dependencies.
    """
    stage = values.stage
    charts: dict[str, cdk8s.Chart] = {
        "namespace": NamespaceChart(app, f"{stage}-namespace", values.namespace),
        "platform": PlatformChart(app, f"{stage}-platform", values.platform),
        "backend": BackendChart(app, f"{stage}-backend", values.backend),
        "frontend": FrontendChart(app, f"{stage}-frontend", values.frontend),
        "ingress": IngressChart(app, f"{stage}-ingress", values.ingress),
        "network-policy": NetworkPolicyChart(app, f"{stage}-network-policy", values.network_policy),
    }
    assert tuple(charts) == CHART_KINDS
    return charts
