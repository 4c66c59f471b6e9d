"""Typed values of the monitoring charts: plain strings and numbers, no CDK import.

``MonitoringValues.for_stage`` derives every name from the stage the way the cluster stack
expects them (log group, Secrets Manager secret names, cluster name); tests and
``make manifests`` build the same values the cluster stack does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from charts.values import ContainerResources

# Image tags, pinned exactly (see docs/monitoring.md, "Versions"). Each is the newest
# release of a line that is supported on the day it was pinned:
# - Prometheus 3.13 is the current LTS line (3.5 LTS ended 2026-07-31).
# - Grafana 12.4 is the last minor of Grafana 12, patched until 2027-05-24 (11.6 ended
#   2026-06-25). Its dashboards are built with grafana-foundation-sdk's post-12 line.
# - kube-state-metrics 2.19 is the release built against the Kubernetes 1.35 client.
PROMETHEUS_IMAGE = "quay.io/prometheus/prometheus:v3.13.3"
ALERTMANAGER_IMAGE = "quay.io/prometheus/alertmanager:v0.34.1"
GRAFANA_IMAGE = "docker.io/grafana/grafana:12.4.11"
NODE_EXPORTER_IMAGE = "quay.io/prometheus/node-exporter:v1.12.1"
KUBE_STATE_METRICS_IMAGE = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.19.1"
FLUENT_BIT_IMAGE = "public.ecr.aws/aws-observability/aws-for-fluent-bit:3.4.17"

# The Slack receivers of Alertmanager; each reads its webhook URL from the key of the same
# name in the synced Secret (and the JSON property of the same name in Secrets Manager).
SLACK_RECEIVERS = ("critical", "warning", "info", "heartbeat", "app")

_DURATION = re.compile(r"\d+(ms|s|m|h|d|w|y)")
_BYTES = re.compile(r"\d+(B|KB|MB|GB|TB)")
_GIBIBYTES = re.compile(r"(\d+)Gi")


@dataclass(frozen=True)
class MonitoringImages:
    prometheus: str = PROMETHEUS_IMAGE
    alertmanager: str = ALERTMANAGER_IMAGE
    grafana: str = GRAFANA_IMAGE
    node_exporter: str = NODE_EXPORTER_IMAGE
    kube_state_metrics: str = KUBE_STATE_METRICS_IMAGE
    fluent_bit: str = FLUENT_BIT_IMAGE


def _resources(cpu: tuple[str, str], memory: tuple[str, str]) -> ContainerResources:
    return ContainerResources(
        cpu_request=cpu[0], cpu_limit=cpu[1], memory_request=memory[0], memory_limit=memory[1]
    )


# The original design's budget (SPEC): requests/limits per component. Frozen, so safe to
# share as dataclass defaults.
PROMETHEUS_RESOURCES = _resources(("500m", "2000m"), ("1Gi", "4Gi"))
GRAFANA_RESOURCES = _resources(("250m", "1000m"), ("512Mi", "2Gi"))
ALERTMANAGER_RESOURCES = _resources(("100m", "500m"), ("128Mi", "512Mi"))
NODE_EXPORTER_RESOURCES = _resources(("100m", "200m"), ("128Mi", "256Mi"))
KUBE_STATE_METRICS_RESOURCES = _resources(("100m", "500m"), ("128Mi", "512Mi"))
FLUENT_BIT_RESOURCES = _resources(("100m", "500m"), ("128Mi", "512Mi"))


@dataclass(frozen=True)
class MonitoringResources:
    """Requests/limits per component."""

    prometheus: ContainerResources = PROMETHEUS_RESOURCES
    grafana: ContainerResources = GRAFANA_RESOURCES
    alertmanager: ContainerResources = ALERTMANAGER_RESOURCES
    node_exporter: ContainerResources = NODE_EXPORTER_RESOURCES
    kube_state_metrics: ContainerResources = KUBE_STATE_METRICS_RESOURCES
    fluent_bit: ContainerResources = FLUENT_BIT_RESOURCES


@dataclass(frozen=True)
class BackendTarget:
    """The backend as Prometheus scrapes it, and the metric contract its alerts rely on.

    The backend exposes a Prometheus histogram of request durations (prom-client's
    convention): ``<request_duration_metric>_bucket/_count`` with the HTTP status code in
    ``status_label``.
    """

    service_name: str = "backend"
    port_name: str = "http"  # the Service port's name (charts/workload.py)
    port: int = 3001
    metrics_path: str = "/metrics"
    request_duration_metric: str = "http_request_duration_seconds"
    status_label: str = "status_code"
    # The SPEC targets: error rate < 1 %, p95 < 500 ms.
    error_ratio_threshold: float = 0.01
    p95_latency_threshold_seconds: float = 0.5


@dataclass(frozen=True)
class MonitoringSecrets:
    """Secrets Manager -> Kubernetes Secret, synced by External Secrets in the monitoring
    namespace. The values never appear in a manifest."""

    secret_store_name: str
    # Remote secret (JSON) with keys "admin-user" and "admin-password".
    grafana_admin_remote_name: str
    # Remote secret (JSON) with one key per receiver in SLACK_RECEIVERS (webhook URLs).
    slack_remote_name: str
    grafana_admin_secret_name: str = "grafana-admin"
    slack_secret_name: str = "alertmanager-slack"
    refresh_interval: str = "1h"


@dataclass(frozen=True)
class MonitoringValues:
    """Everything the monitoring charts of one stage need."""

    stage: str
    region: str
    cluster_name: str
    vpc_cidr: str
    app_namespace: str
    # CloudWatch Logs group of the container logs; the CDK stack creates it (retention).
    log_group_name: str
    secrets: MonitoringSecrets
    # Prometheus, Alertmanager, Grafana, kube-state-metrics: Pod Security "restricted".
    namespace: str = "monitoring"
    # node-exporter and Fluent Bit need host access: Pod Security "privileged", nothing else.
    agents_namespace: str = "monitoring-agents"
    # ClusterIPs (kubernetes.default) are matched before kube-proxy's DNAT by the VPC CNI
    # policy agent: the API server is reached through this range and the VPC's.
    service_cidr: str = "172.20.0.0/16"
    backend: BackendTarget = field(default_factory=BackendTarget)
    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"
    retention_time: str = "30d"
    # Below the volume size, so the TSDB (plus WAL and compaction headroom) never fills it.
    retention_size: str = "90GB"
    storage_size: str = "100Gi"
    storage_class: str = "gp3"
    alertmanager_storage_size: str = "1Gi"
    images: MonitoringImages = field(default_factory=MonitoringImages)
    resources: MonitoringResources = field(default_factory=MonitoringResources)
    fluent_bit_service_account: str = "fluent-bit"
    # Where the OpenMarket alerts' runbooks live (docs/monitoring.md in this repository).
    runbook_base_url: str = (
        "https://github.com/openmarket/openmarket-cdk/blob/main/docs/monitoring.md"
    )

    @classmethod
    def for_stage(
        cls,
        stage: str,
        *,
        region: str,
        vpc_cidr: str,
        secret_store_name: str = "aws-secrets-manager",
        **overrides: object,
    ) -> MonitoringValues:
        """The values of stage ``stage`` with every name derived the standard way."""
        prefix = f"openmarket-{stage}"
        values = cls(
            stage=stage,
            region=region,
            cluster_name=prefix,
            vpc_cidr=vpc_cidr,
            app_namespace=prefix,
            log_group_name=application_log_group_name(stage),
            secrets=MonitoringSecrets(
                secret_store_name=secret_store_name,
                grafana_admin_remote_name=f"{prefix}/grafana/admin",
                slack_remote_name=f"{prefix}/alertmanager/slack",
            ),
        )
        return replace(values, **overrides)  # type: ignore[arg-type]

    def validate(self) -> None:
        """Refuse values the charts could not render into a working stack."""
        problems: list[str] = []
        for name in ("scrape_interval", "evaluation_interval", "retention_time"):
            if not _DURATION.fullmatch(getattr(self, name)):
                problems.append(f"{name}={getattr(self, name)!r} is not a Prometheus duration")
        if not _BYTES.fullmatch(self.retention_size):
            problems.append(f"retention_size={self.retention_size!r}: expected e.g. 90GB")
        volume = _GIBIBYTES.fullmatch(self.storage_size)
        if not volume:
            problems.append(f"storage_size={self.storage_size!r}: expected e.g. 100Gi")
        elif _BYTES.fullmatch(self.retention_size) and (
            _bytes(self.retention_size) >= int(volume.group(1)) * 2**30
        ):
            problems.append("retention_size must stay below storage_size")
        if self.namespace == self.agents_namespace:
            problems.append("namespace and agents_namespace must differ (Pod Security levels)")
        if not self.log_group_name.startswith("/"):
            problems.append(f"log_group_name={self.log_group_name!r} must start with /")
        if not self.backend.metrics_path.startswith("/"):
            problems.append("backend.metrics_path must start with /")
        if problems:
            raise ValueError(f"stage {self.stage}: monitoring values: " + "; ".join(problems))


def application_log_group_name(stage: str) -> str:
    """The CloudWatch Logs group Fluent Bit ships container logs to."""
    return f"/aws/eks/openmarket-{stage}/application"


_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def _bytes(size: str) -> int:
    match = re.fullmatch(r"(\d+)([KMGT]?B)", size)
    assert match, size
    return int(match.group(1)) * _UNITS[match.group(2)]
