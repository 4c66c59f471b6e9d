"""Typed values of the monitoring charts and of the kube-prometheus-stack release: plain
strings and numbers, no CDK import.

Every field is required and filled in one place, ``openmarket_cdk.chart_values``, from the
stage config: the charts derive no name (secret, log group, namespace, cluster) themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

# The monitoring section's per-component settings are the stage config's own types (plain
# frozen dataclasses, no CDK): no twin of them here.
from openmarket_cdk.config import (
    AlertmanagerConfig,
    ExporterConfig,
    GrafanaConfig,
    PrometheusConfig,
    Resources,
)


@dataclass(frozen=True)
class BackendTarget:
    """The backend as Prometheus scrapes it, and the metric contract its alerts rely on.

    The backend exposes a Prometheus histogram of request durations (prom-client's
    convention): ``<request_duration_metric>_bucket/_count`` with the HTTP status code in
    ``status_label``.
    """

    service_name: str
    port_name: str  # the Service port's name (charts/workload.py)
    port: int
    metrics_path: str
    request_duration_metric: str
    status_label: str
    # The original design's targets (docs/requirements.md): error rate < 1 %, p95 < 500 ms.
    error_ratio_threshold: float
    p95_latency_threshold_seconds: float


@dataclass(frozen=True)
class MonitoringSecrets:
    """Secrets Manager -> Kubernetes Secret, synced by External Secrets in the monitoring
    namespace. The values never appear in a manifest."""

    secret_store_name: str
    # Remote secret (JSON) with keys "admin-user" and "admin-password".
    grafana_admin_remote_name: str
    # Remote secret (JSON) with one key per Slack receiver (webhook URLs).
    slack_remote_name: str
    grafana_admin_secret_name: str
    slack_secret_name: str
    refresh_interval: str


@dataclass(frozen=True)
class AlertingValues:
    """Where Alertmanager sends: five Slack channels, and two SNS topics outside the cluster
    that CloudWatch watches (the Watchdog heartbeat, and notices of failed deliveries)."""

    heartbeat_topic_arn: str
    delivery_failures_topic_arn: str
    # How often the heartbeat is published (Alertmanager's repeat interval for Watchdog).
    heartbeat_interval: str


@dataclass(frozen=True)
class MonitoringValues:
    """Everything the monitoring charts of one stage need."""

    stage: str
    region: str
    cluster_name: str
    vpc_cidr: str
    app_namespace: str
    # The kube-prometheus-stack release: it names the objects the chart makes (and the
    # labels of its pods, which the network policies select).
    release_name: str
    secrets: MonitoringSecrets
    # Prometheus, Alertmanager, Grafana, kube-state-metrics, the operator: Pod Security
    # "restricted".
    namespace: str
    # node-exporter needs host access: Pod Security "privileged", nothing else.
    agents_namespace: str
    # ClusterIPs (kubernetes.default) are matched before kube-proxy's DNAT by the VPC CNI
    # policy agent: the API server is reached through this range and the VPC's.
    service_cidr: str
    backend: BackendTarget
    storage_class: str
    # Per component: image, requests/limits and its own settings (the stage config's).
    prometheus: PrometheusConfig
    # Slack receivers (each reads its webhook URL from the key of the same name in the
    # synced Secret), the ServiceAccount its pod role is bound to, its volume.
    alertmanager: AlertmanagerConfig
    grafana: GrafanaConfig
    node_exporter: ExporterConfig
    kube_state_metrics: ExporterConfig
    operator: Resources
    config_reloader: Resources
    # Where the OpenMarket alerts' runbooks live (docs/monitoring.md in this repository).
    runbook_base_url: str
    alerting: AlertingValues
