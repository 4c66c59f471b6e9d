"""The Kubernetes part of a stage's config: the cluster, its nodes, controllers, workloads
and monitoring (one section of ``StageConfig``: ``kubernetes``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from openmarket_cdk.config import pins
from openmarket_cdk.config.facts import KUBERNETES_VERSION, SYSTEM_COMPONENTS, SystemComponent


class NodeCapacity(StrEnum):
    """How the node group buys its EC2 capacity."""

    ON_DEMAND = "ON_DEMAND"
    # dev: 60-70 % cheaper; a node can be reclaimed with 2 minutes' notice, which a stage
    # meant for trying changes can take (the PDBs and the autoscaler replace it).
    SPOT = "SPOT"


@dataclass(frozen=True)
class Resources:
    """Kubernetes requests/limits of one container (CPU ``250m``/``1``, memory ``512Mi``)."""

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str


# The original design: backend and frontend each 250m/1000m CPU, 512Mi/2Gi memory.
WEB_RESOURCES = Resources("250m", "1000m", "512Mi", "2Gi")


@dataclass(frozen=True)
class WorkloadConfig:
    """One web workload (backend or frontend) on EKS; the original design's sizes.

    ``name`` is the Deployment, Service, ServiceAccount and app label; ``image_repository``
    the last part of its ECR repository (``openmarket/<stage>/<image_repository>``).
    """

    name: str
    port: int
    health_path: str
    image_repository: str
    image_tag: str = "1.0.0"
    replicas: int = 2
    resources: Resources = WEB_RESOURCES
    hpa_min_replicas: int = 2
    hpa_max_replicas: int = 10
    hpa_cpu_utilization_percent: int = 70


@dataclass(frozen=True)
class MonitoringStackRelease:
    """kube-prometheus-stack (prometheus-community) and its CRDs, two Helm releases.

    The chart's versions, and what each ships, are in config/pins.py; prometheus-operator-crds
    holds the CRDs of the same operator version, as templates, so a chart upgrade upgrades
    them too. Both are bumped together (docs/monitoring.md, "Upgrading the stack"); the
    recorded value keys in charts/monitoring/chart_keys/ are regenerated with them.
    """

    repository: str = "https://prometheus-community.github.io/helm-charts"
    chart_version: str = pins.KUBE_PROMETHEUS_STACK_CHART
    crds_chart_version: str = pins.PROMETHEUS_OPERATOR_CRDS_CHART
    # The release name prefixes every object the chart names (kube-prometheus-stack-grafana,
    # ...) and the Prometheus and Alertmanager resources the operator runs.
    release_name: str = "kube-prometheus-stack"
    crds_release_name: str = "prometheus-operator-crds"


@dataclass(frozen=True)
class PrometheusConfig:
    """Prometheus: the original design's 15 s scrapes, 30 days in 100Gi, and its budget.
    Image pins: config/pins.py (docs/monitoring.md, "Versions")."""

    image: str = pins.PROMETHEUS_IMAGE
    resources: Resources = Resources("500m", "2000m", "1Gi", "4Gi")
    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"
    retention_time: str = "30d"
    # Below the volume size, so the TSDB (plus WAL and compaction headroom) never fills it.
    retention_size: str = "90GB"
    storage_size: str = "100Gi"


@dataclass(frozen=True)
class AlertmanagerConfig:
    """Alertmanager: its five Slack channels, its pod role's account, its volume."""

    image: str = pins.ALERTMANAGER_IMAGE
    resources: Resources = Resources("100m", "500m", "128Mi", "512Mi")
    storage_size: str = "1Gi"
    # Its ServiceAccount: the pod role may publish the heartbeat and the delivery-failure
    # notices to SNS (outside the cluster, so they outlive it).
    service_account: str = "alertmanager"
    # The Slack receivers: one channel each, one key each in the Slack secret (a webhook
    # URL), in routing order.
    slack_receivers: tuple[str, ...] = ("critical", "warning", "info", "heartbeat", "app")
    # What the Slack secret holds for a receiver until someone stores its webhook URL: not a
    # URL, so delivery fails visibly (the AlertDeliveryFailing e-mail) instead of silently.
    # Changing it (or the receivers) makes the next deploy reset the stored URLs.
    slack_url_placeholder: str = "unset: store this channel's Slack webhook URL here"
    # The Kubernetes Secret External Secrets writes the URLs into (Alertmanager mounts it).
    slack_webhooks_k8s_secret: str = "alertmanager-slack"


@dataclass(frozen=True)
class GrafanaConfig:
    image: str = pins.GRAFANA_IMAGE
    resources: Resources = Resources("250m", "1000m", "512Mi", "2Gi")
    # Each of the dashboard and datasource sidecars (k8s-sidecar, a small Python watcher).
    sidecar_resources: Resources = Resources("10m", "100m", "48Mi", "128Mi")


@dataclass(frozen=True)
class ExporterConfig:
    """node-exporter or kube-state-metrics: its image and budget."""

    image: str
    resources: Resources


@dataclass(frozen=True)
class MonitoringConfig:
    """The in-cluster monitoring (kube-prometheus-stack), settings grouped per component;
    the original design's budget for Prometheus, Grafana, Alertmanager, node-exporter and
    kube-state-metrics; the operator, the config reloader (beside Prometheus and
    Alertmanager each) and the log agent small, since dev's two nodes leave little room."""

    stack: MonitoringStackRelease = field(default_factory=MonitoringStackRelease)
    # The operator, Prometheus, Alertmanager, Grafana, kube-state-metrics: Pod Security
    # "restricted".
    namespace: str = "monitoring"
    # node-exporter needs the host's network, PIDs and paths: Pod Security "privileged",
    # nothing else runs there.
    agents_namespace: str = "monitoring-agents"
    storage_class: str = "gp3"
    # How often External Secrets re-reads Secrets Manager.
    secret_refresh_interval: str = "1h"
    prometheus: PrometheusConfig = field(default_factory=PrometheusConfig)
    alertmanager: AlertmanagerConfig = field(default_factory=AlertmanagerConfig)
    grafana: GrafanaConfig = field(default_factory=GrafanaConfig)
    node_exporter: ExporterConfig = ExporterConfig(
        pins.NODE_EXPORTER_IMAGE, Resources("100m", "200m", "128Mi", "256Mi")
    )
    kube_state_metrics: ExporterConfig = ExporterConfig(
        pins.KUBE_STATE_METRICS_IMAGE, Resources("100m", "500m", "128Mi", "512Mi")
    )
    operator: Resources = Resources("25m", "200m", "64Mi", "256Mi")
    config_reloader: Resources = Resources("10m", "100m", "25Mi", "64Mi")
    # Fluent Bit of the amazon-cloudwatch-observability add-on (its own default request).
    log_agent: Resources = Resources("50m", "500m", "64Mi", "250Mi")


@dataclass(frozen=True)
class ControllerRelease:
    """A controller the cluster installs as a pinned Helm release: its chart version, its
    replicas and its requests/limits (the charts set none: without requests the scheduler
    packs them anywhere and the kubelet evicts them first)."""

    chart_version: str
    replicas: int
    resources: Resources


def _pods(deployment: str, *, with_domain_only: bool = False) -> dict[str, object]:
    """A ControllersConfig field's metadata: the Deployment its value sizes, and whether it
    runs only on a stage with a domain. The capacity model counts every field through it."""
    return {"deployment": deployment, "with_domain_only": with_domain_only}


@dataclass(frozen=True)
class ControllersConfig:
    """The Helm-installed controllers besides the autoscaler: the AWS Load Balancer
    Controller, External Secrets (controller, webhook, cert controller) and, with a domain,
    ExternalDNS. Sized from their observed use on a small cluster, with limits a few times
    the request; dev's two nodes leave about 160m CPU, so the requests stay small. Each field
    names the Deployment it sizes (``_pods``), so the capacity model counts every one."""

    # Two replicas: the controller serves the pod readiness-gate webhook.
    alb_controller: ControllerRelease = field(
        default=ControllerRelease(
            pins.ALB_CONTROLLER_CHART, 2, Resources("25m", "200m", "64Mi", "256Mi")
        ),
        metadata=_pods("aws-load-balancer-controller"),
    )
    external_secrets: ControllerRelease = field(
        default=ControllerRelease(
            pins.EXTERNAL_SECRETS_CHART, 1, Resources("25m", "200m", "64Mi", "256Mi")
        ),
        metadata=_pods("external-secrets"),
    )
    external_secrets_webhook: Resources = field(
        default=Resources("10m", "100m", "32Mi", "128Mi"),
        metadata=_pods("external-secrets-webhook"),
    )
    external_secrets_cert_controller: Resources = field(
        default=Resources("10m", "100m", "32Mi", "128Mi"),
        metadata=_pods("external-secrets-cert-controller"),
    )
    # kubernetes-sigs/external-dns (its chart and app in config/pins.py; AWS SDK v2, so Pod
    # Identity works). One pod, small and bounded (it lists one zone once a minute).
    external_dns: ControllerRelease = field(
        default=ControllerRelease(
            pins.EXTERNAL_DNS_CHART, 1, Resources("50m", "200m", "64Mi", "128Mi")
        ),
        metadata=_pods("external-dns", with_domain_only=True),
    )


@dataclass(frozen=True)
class NodeAutoscalerConfig:
    """Cluster Autoscaler on the managed node group (kubernetes/autoscaler Helm chart).

    Chart and image in config/pins.py: the image is the newest patch of the cluster's minor,
    since the autoscaler's minor must match the cluster's (its scheduler simulation is that
    minor's; tested).
    """

    chart_version: str = pins.CLUSTER_AUTOSCALER_CHART
    image_tag: str = pins.CLUSTER_AUTOSCALER_IMAGE_TAG
    replicas: int = 1
    # The chart's own suggestion (values.yaml: 100m / 300Mi), as requests and limit.
    resources: Resources = Resources("100m", "500m", "300Mi", "600Mi")
    # least-waste: of the node groups that fit the pending pods, the one left with the least
    # idle CPU/memory (one group today; it matters once a second instance type is added).
    expander: str = "least-waste"
    # A node is removed after it has been under the utilisation threshold this long, and not
    # sooner than this after a scale-up (no flapping while an HPA settles).
    scale_down_unneeded_minutes: int = 10
    scale_down_delay_after_add_minutes: int = 10
    scale_down_utilization_threshold: float = 0.5


@dataclass(frozen=True)
class KubernetesConfig:
    """The EKS cluster and what runs on it."""

    version: str = KUBERNETES_VERSION
    node_instance_type: str = "t3.medium"
    node_capacity: NodeCapacity = NodeCapacity.ON_DEMAND
    # Spot only: more instance types of the same shape (more Spot pools, fewer interruptions;
    # the capacity model holds because the shape is the same).
    spot_alternative_instance_types: tuple[str, ...] = ()
    # The node group's bounds: the minimum runs everything at minimum replicas with room for
    # one rolling update; the Cluster Autoscaler adds nodes up to the maximum, which holds
    # every HPA at its maximum (tests/test_capacity.py, docs/capacity.md). The original's 2 nodes do
    # not hold its own requests plus the EKS add-ons: 3.90 vCPU requested at minimum
    # replicas against 3.86 allocatable on two t3.medium, before any rolling update; so 3.
    # The maximum is the original's 10,000-DAU figure, 6, which also holds every HPA at 10.
    node_min_size: int = 3
    node_max_size: int = 6
    node_desired_size: int = 3
    # VPC CNI prefix delegation: each ENI slot carries a /28 (16 addresses), so a t3.medium is
    # no longer capped at 17 pods (3 ENIs x 5 + 2). The kubelet's max pods is then set here
    # (nodeadm ``maxPodsExpression``), and kube-reserved memory follows it: 255Mi + 11Mi per
    # pod. EKS's 110 for a t3.medium would reserve 1,465Mi of its ~3,860Mi and the stage no
    # longer fits at its maximum; 24 reserves 519Mi and leaves pod slots to spare.
    prefix_delegation: bool = True
    max_pods_per_node: int = 24
    node_autoscaler: NodeAutoscalerConfig = field(default_factory=NodeAutoscalerConfig)
    controllers: ControllersConfig = field(default_factory=ControllersConfig)
    system_components: tuple[SystemComponent, ...] = SYSTEM_COMPONENTS
    # All five control-plane log types (api, audit, authenticator, controllerManager,
    # scheduler); dev keeps only audit (who did what) and authenticator (IAM mapping
    # failures) to save ingestion cost.
    all_control_plane_logs: bool = True
    control_plane_log_retention_days: int = 90
    # Empty: private API endpoint only. Non-empty (dev): public endpoint limited to these.
    public_endpoint_cidrs: tuple[str, ...] = ()
    admin_role_name: str = "OpenMarketPlatformAdmin"
    # A private API endpoint is reached through Session Manager port forwarding via one small
    # instance in a private subnet (no inbound rule, no SSH key): `make kubectl STAGE=<stage>`.
    cluster_access_instance_type: str = "t4g.nano"
    # The original design: the NestJS backend on 3001 with a health endpoint, the Next.js
    # frontend on 3000.
    backend: WorkloadConfig = field(
        default_factory=lambda: WorkloadConfig(
            name="backend", port=3001, health_path="/api/health", image_repository="backend"
        )
    )
    frontend: WorkloadConfig = field(
        default_factory=lambda: WorkloadConfig(
            name="frontend", port=3000, health_path="/", image_repository="frontend-web"
        )
    )
    # The External Secrets SecretStore every synced Secret reads through (one per namespace).
    secret_store_name: str = "aws-secrets-manager"
    # A WAF web ACL on the ALB (managed rule groups + a rate limit). A stage without one must
    # restrict network.alb_ingress_cidrs instead (dev: $9.60 a month saved).
    waf_enabled: bool = True
    # WAF rate-based rule: requests per 5 minutes from one IP before it is blocked.
    waf_rate_limit_per_5min: int = 2000
    application_log_retention_days: int = 90
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)

    @property
    def workloads(self) -> tuple[WorkloadConfig, WorkloadConfig]:
        return (self.backend, self.frontend)
