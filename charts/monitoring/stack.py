"""kube-prometheus-stack: the release's values, and the names and labels its chart gives
the pods it runs (OpenMarket's network policies and dashboards refer to them).

The chart (prometheus-community) runs the Prometheus Operator, Prometheus, Alertmanager,
Grafana with its dashboard and datasource sidecars, kube-state-metrics and node-exporter,
with their RBAC, Services and ServiceMonitors, the upstream alert rules (kubernetes-mixin,
node-mixin, the operator's own, with their runbooks) and the upstream dashboards. The
values below only size, pin, place and connect them; every key exists in the chart's own
values.yaml at the pinned version (chart_keys/, checked by the tests).
"""

from __future__ import annotations

from typing import Any

from charts.labels import NAME_LABEL
from charts.monitoring import dashboard as application
from charts.monitoring.alertmanager import alertmanager_config
from charts.monitoring.dashboard import DATASOURCE_UID
from charts.monitoring.values import MonitoringValues
from openmarket_cdk.config import Resources

CHART_NAME = "kube-prometheus-stack"
INSTANCE_LABEL = "app.kubernetes.io/instance"

# Ports of the chart's pods (container ports; what Prometheus scrapes, what Grafana queries).
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
# The config reloader beside Prometheus and Alertmanager serves its metrics here.
RELOADER_PORT = 8080
GRAFANA_PORT = 3000
KUBE_STATE_METRICS_PORT = 8080
# The operator without TLS (no admission webhook, so nothing needs its certificate).
OPERATOR_PORT = 8080
# node-exporter listens on the node's own address (host network).
NODE_EXPORTER_PORT = 9100
KUBELET_PORT = 10250
COREDNS_METRICS_PORT = 9153

# Grafana's sidecar loads every ConfigMap with this label (the chart's default) as a
# dashboard; the upstream dashboards carry it too.
DASHBOARD_LABEL = ("grafana_dashboard", "1")
# Where the sidecar writes them in the Grafana pod (the chart's default folder).
DASHBOARDS_DIR = "/tmp/dashboards"

# Upstream rule groups that watch what EKS runs and hides (etcd, the scheduler, the
# controller manager: not scrapeable, their absent() alerts would fire for ever), kube-proxy
# (its add-on serves metrics on the node's loopback only) and Windows nodes (none).
DISABLED_RULE_GROUPS = (
    "etcd",
    "kubeControllerManager",
    "kubeSchedulerAlerting",
    "kubeSchedulerRecording",
    "kubeProxy",
    "windows",
)
# Upstream alerts that fire by design here: "the cluster cannot tolerate a node failure"
# whenever requests exceed all nodes but one, which an autoscaled node group at its minimum
# always does (the autoscaler adds the node; OpenMarketPodsUnschedulable says when it can't).
DISABLED_ALERTS = ("KubeCPUOvercommit", "KubeMemoryOvercommit")


def fullname(release: str) -> str:
    """The chart's ``kube-prometheus-stack.fullname`` (no override): the release name when it
    holds the chart's, else both; 26 characters at most."""
    name = release if CHART_NAME in release else f"{release}-{CHART_NAME}"
    return name[:26].rstrip("-")


class StackPods:
    """The labels that select each of the chart's pods, exactly as its Service does (the VPC
    CNI policy controller admits a ClusterIP only for a pod selector equal to the Service's)."""

    def __init__(self, release: str) -> None:
        self.release = release
        base = fullname(release)
        self.prometheus = {
            NAME_LABEL: "prometheus",
            "operator.prometheus.io/name": f"{base}-prometheus",
        }
        self.alertmanager = {NAME_LABEL: "alertmanager", "alertmanager": f"{base}-alertmanager"}
        self.grafana = {NAME_LABEL: "grafana", INSTANCE_LABEL: release}
        self.kube_state_metrics = {NAME_LABEL: "kube-state-metrics", INSTANCE_LABEL: release}
        self.operator = {"app": f"{CHART_NAME}-operator", "release": release}
        self.prometheus_service = f"{base}-prometheus"
        self.grafana_service = f"{release}-grafana" if "grafana" not in release else release


def _resources(spec: Resources) -> dict[str, dict[str, str]]:
    return {
        "requests": {"cpu": spec.cpu_request, "memory": spec.memory_request},
        "limits": {"cpu": spec.cpu_limit, "memory": spec.memory_limit},
    }


def _image(reference: str) -> dict[str, str]:
    """``registry/repository:tag`` as the charts' image values."""
    name, _, tag = reference.rpartition(":")
    registry, _, repository = name.partition("/")
    if not (registry and repository and tag):
        raise ValueError(f"image {reference!r}: expected registry/repository:tag")
    return {"registry": registry, "repository": repository, "tag": tag}


def _volume(storage_class: str, size: str) -> dict[str, Any]:
    return {
        "volumeClaimTemplate": {
            "spec": {
                "storageClassName": storage_class,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
            }
        }
    }


def stack_values(values: MonitoringValues) -> dict[str, Any]:
    """The kube-prometheus-stack release's values for one stage."""
    return {
        # The CRDs are their own release (prometheus-operator-crds), installed first and
        # upgraded with it; this chart's copy would only be installed, never upgraded.
        "crds": {"enabled": False},
        "defaultRules": {
            "rules": {group: False for group in DISABLED_RULE_GROUPS},
            "disabled": {alert: True for alert in DISABLED_ALERTS},
        },
        "kubeEtcd": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "windowsMonitoring": {"enabled": False},
        "prometheusOperator": {
            # No admission webhook: nothing on the first deploy waits for its certificate or
            # fails closed on it. Our rules are checked by promtool before they ship.
            "admissionWebhooks": {"enabled": False},
            # Without the webhook nothing creates the TLS secret the operator would mount.
            "tls": {"enabled": False},
            "resources": _resources(values.operator),
            "prometheusConfigReloader": {"resources": _resources(values.config_reloader)},
        },
        "prometheus": {"prometheusSpec": _prometheus_spec(values)},
        "alertmanager": _alertmanager(values),
        "grafana": _grafana(values),
        "kube-state-metrics": {
            "image": _image(values.kube_state_metrics.image),
            "resources": _resources(values.kube_state_metrics.resources),
        },
        "prometheus-node-exporter": {
            # Host network, PIDs and paths: the one namespace where Pod Security allows them.
            "namespaceOverride": values.agents_namespace,
            # The pinned image as configured (the chart would append -distroless to the tag).
            "image": {**_image(values.node_exporter.image), "distroless": False},
            "resources": _resources(values.node_exporter.resources),
        },
    }


def _prometheus_spec(values: MonitoringValues) -> dict[str, Any]:
    return {
        "image": _image(values.prometheus.image),
        "scrapeInterval": values.prometheus.scrape_interval,
        "evaluationInterval": values.prometheus.evaluation_interval,
        "retention": values.prometheus.retention_time,
        # Below the volume, so the TSDB never fills it.
        "retentionSize": values.prometheus.retention_size,
        "externalLabels": {"cluster": values.cluster_name, "stage": values.stage},
        "resources": _resources(values.prometheus.resources),
        "storageSpec": _volume(values.storage_class, values.prometheus.storage_size),
        # The data outlives the StatefulSet (prod's 30 days); make destroy deletes the volume.
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        # Every ServiceMonitor, PodMonitor, Probe, ScrapeConfig and PrometheusRule in any
        # namespace, not only those labelled with this release (ours are not).
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "probeSelectorNilUsesHelmValues": False,
        "scrapeConfigSelectorNilUsesHelmValues": False,
        "ruleSelectorNilUsesHelmValues": False,
    }


def _alertmanager(values: MonitoringValues) -> dict[str, Any]:
    return {
        # The account Alertmanager's pod role (EKS Pod Identity, SNS publish) is bound to.
        "serviceAccount": {"create": True, "name": values.alertmanager.service_account},
        # The whole alertmanager.yml: every top-level key, so none of the chart's defaults
        # is merged in (Helm merges maps).
        "config": alertmanager_config(values),
        "alertmanagerSpec": {
            "image": _image(values.alertmanager.image),
            "resources": _resources(values.alertmanager.resources),
            "storage": _volume(values.storage_class, values.alertmanager.storage_size),
            # The Slack webhook URLs (External Secrets), one file per receiver
            # (alertmanager.slack_url_file): no URL is ever part of a value or manifest.
            "secrets": [values.secrets.slack_secret_name],
        },
    }


def _grafana(values: MonitoringValues) -> dict[str, Any]:
    return {
        "image": _image(values.grafana.image),
        "resources": _resources(values.grafana.resources),
        # The login synced by External Secrets; the chart makes no admin secret of its own.
        "admin": {
            "existingSecret": values.secrets.grafana_admin_secret_name,
            "userKey": "admin-user",
            "passwordKey": "admin-password",
        },
        # The chart's test pod would run on every `helm test` (never) and needs egress.
        "testFramework": {"enabled": False},
        # Dashboards and datasources come from ConfigMaps; Grafana keeps nothing else.
        "persistence": {"enabled": False},
        # The sidecars read ConfigMaps of the monitoring namespace only: a Role, no
        # ClusterRole.
        "rbac": {"namespaced": True},
        "sidecar": {
            "resources": _resources(values.grafana.sidecar_resources),
            "dashboards": {"searchNamespace": values.namespace},
            "datasources": {
                # The uid the dashboards (ours and upstream's) name.
                "uid": DATASOURCE_UID,
                # Alertmanager is read in its own UI; one path fewer through the policies.
                "alertmanager": {"enabled": False},
            },
        },
        "grafana.ini": {
            "analytics": {
                "reporting_enabled": False,
                "check_for_updates": False,
                "check_for_plugin_updates": False,
            },
            # Nothing leaves the cluster: no plugin downloads, news feed or avatars.
            "plugins": {"preinstall_disabled": True},
            "news": {"news_feed_enabled": False},
            "security": {"disable_gravatar": True, "cookie_samesite": "strict"},
            "auth.anonymous": {"enabled": False},
            "users": {"allow_sign_up": False, "allow_org_create": False},
            "dashboards": {
                "default_home_dashboard_path": f"{DASHBOARDS_DIR}/{application.FILE_NAME}"
            },
        },
    }
