"""The provisioned Grafana dashboards, built with grafana-foundation-sdk."""

from __future__ import annotations

import warnings
from typing import Any

with warnings.catch_warnings():
    # The SDK's post-12 line flags the classic dashboard model as deprecated (in favour of
    # the v2 resource) when its modules are imported. Grafana 12.4's file provisioning reads
    # the classic model, which is what these dashboards are: import it once, quietly.
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import dashboard as _dashboard  # noqa: F401
    from grafana_foundation_sdk.builders import stat as _stat  # noqa: F401
    from grafana_foundation_sdk.builders import timeseries as _timeseries  # noqa: F401

from charts.monitoring.dashboards.application import application_dashboard
from charts.monitoring.dashboards.cluster import cluster_dashboard
from charts.monitoring.dashboards.node_exporter import node_exporter_dashboard
from charts.monitoring.values import MonitoringValues


def dashboards(values: MonitoringValues) -> dict[str, dict[str, Any]]:
    """Every dashboard, keyed by its uid."""
    built = [cluster_dashboard(), application_dashboard(values), node_exporter_dashboard()]
    return {dashboard["uid"]: dashboard for dashboard in built}
