"""What OpenMarket adds to the kube-prometheus-stack release: its rules, its scrape target
and its dashboard, as the objects the chart's operator and Grafana sidecar pick up."""

from __future__ import annotations

import json

import cdk8s
import cdk8s_plus_28 as kplus
from constructs import Construct

from charts.labels import monitoring_labels, selector_labels
from charts.monitoring import dashboard as application
from charts.monitoring.rules import rules_document
from charts.monitoring.stack import DASHBOARD_LABEL
from charts.monitoring.values import MonitoringValues

# The operator's API for rules and scrape targets (CRDs of the prometheus-operator-crds
# release).
MONITORING_API_VERSION = "monitoring.coreos.com/v1"
RULES_NAME = "openmarket"


def _custom_object(
    scope: Construct, id: str, kind: str, name: str, spec: dict[str, object]
) -> cdk8s.ApiObject:
    obj = cdk8s.ApiObject(
        scope,
        id,
        api_version=MONITORING_API_VERSION,
        kind=kind,
        metadata=cdk8s.ApiObjectMetadata(name=name),
    )
    obj.add_json_patch(cdk8s.JsonPatch.add("/spec", spec))
    return obj


class OpenMarketMonitoringChart(cdk8s.Chart):
    """Deploys OpenMarket's part of the monitoring, for whoever is on call and the app team.

    - ``PrometheusRule`` ``openmarket``: the backend's recording rules and alerts, the
      capacity alert and the delivery-failure alert (rules.py), promtool-tested;
    - ``ServiceMonitor`` for the backend's ``/metrics`` in the app namespace (its job label
      is the Service's name, which the rules select);
    - the OpenMarket Application dashboard as a ConfigMap labelled for Grafana's sidecar,
      which also loads the chart's own (cluster and node) dashboards.

    Prometheus selects every PrometheusRule and ServiceMonitor of the cluster (stack.py), so
    these need no release label.
    """

    def __init__(self, scope: Construct, id: str, values: MonitoringValues) -> None:
        super().__init__(
            scope,
            id,
            namespace=values.namespace,
            labels=monitoring_labels("openmarket"),
            disable_resource_name_hashes=True,
        )
        backend = values.backend
        self.rules = _custom_object(
            self, "rules", "PrometheusRule", RULES_NAME, dict(rules_document(values))
        )
        self.backend_monitor = _custom_object(
            self,
            "backend-monitor",
            "ServiceMonitor",
            backend.service_name,
            {
                "namespaceSelector": {"matchNames": [values.app_namespace]},
                "selector": {"matchLabels": selector_labels(backend.service_name)},
                # Every scrape_interval (Prometheus' global), like every other target.
                "endpoints": [{"port": backend.port_name, "path": backend.metrics_path}],
            },
        )
        label, label_value = DASHBOARD_LABEL
        self.dashboard = kplus.ConfigMap(
            self,
            "application-dashboard",
            metadata=cdk8s.ApiObjectMetadata(
                name=f"dashboard-{application.UID}", labels={label: label_value}
            ),
            data={
                application.FILE_NAME: json.dumps(
                    application.application_dashboard(values), indent=1, sort_keys=True
                )
            },
        )
