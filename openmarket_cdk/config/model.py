"""The stage model: typed, frozen dataclasses with the original design's numbers as defaults
(docs/requirements.md).

A ``StageConfig`` is everything that differs between dev, staging and prod; the three stage
definitions are in ``stages.py``, the checks in ``validation.py``. Names that more than one
stack or chart must agree on (secrets, log groups, the cluster, services, ports, namespaces)
are fields or derived properties here, and flow down: config -> stage -> stacks -> charts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from openmarket_cdk.config.errors import StageConfigError as StageConfigError
from openmarket_cdk.stage_sleep.config import StageSleepConfig

REGION = "ap-northeast-2"
# The account Elastic Load Balancing writes ALB access logs from, in ap-northeast-2
# (regions older than 2022 deliver through this account, not a service principal).
ELB_LOG_DELIVERY_ACCOUNT = "600734575887"
# The GitHub repository whose workflows may deploy (OIDC trust) and whose docs the alerts'
# runbook links point at; override per fork.
GITHUB_REPOSITORY = "openmarket/openmarket-cdk"
AVAILABILITY_ZONES: tuple[str, str] = ("ap-northeast-2a", "ap-northeast-2c")
PLACEHOLDER_ACCOUNT = "000000000000"
# On a restricted ALB's security group (value: the stage): the deploy role may add and remove
# the one temporary rule `make smoke` needs there, on no other security group.
SMOKE_ACCESS_TAG = "openmarket:smoke-access"
# On the small instance operators reach a private cluster endpoint through (value: the stage):
# `make kubectl` finds it by this tag, and the platform admin role may open Session Manager
# sessions on instances carrying it, no other.
CLUSTER_ACCESS_TAG = "openmarket:cluster-access"
# The tag the AWS Load Balancer Controller puts on every load balancer it creates (value: the
# cluster): what `make destroy` looks for after the cluster is gone.
LBC_CLUSTER_TAG = "elbv2.k8s.aws/cluster"
# On an instance that sleeps with its stage (dev's NAT instance; value: the stage): the deploy
# role may start it (`make wake`), no other instance.
SLEEPS_TAG = "openmarket:sleeps"
ACCOUNT_ENV_VAR = "OPENMARKET_ACCOUNT"
# The roles GitHub Actions assumes (once per account, the deploy-access stack): deploys and
# pull-request diffs.
GITHUB_DEPLOY_ROLE_NAME = "openmarket-github-deploy"
GITHUB_DIFF_ROLE_NAME = "openmarket-github-diff"
# Stand-ins in the stage definitions until a fork sets its own: reserved names (RFC 2606
# ".example") and a zone id no account has, so a deploy with them is refused (preflight).
PLACEHOLDER_HOSTED_ZONE_ID = "Z0000000000000000000EXAMPLE"
PLACEHOLDER_IMAGE_ID = "ami-00000000000000000"
PLACEHOLDER_ZONE_NAME = "openmarket.example"
# Names no registry hands out (RFC 2606, RFC 6761): a domain under one is a placeholder.
RESERVED_DOMAINS: tuple[str, ...] = (
    "example",
    "example.com",
    "example.net",
    "example.org",
    "test",
    "invalid",
    "localhost",
)
# Address ranges reserved for documentation (RFC 5737): an office range inside one is a
# placeholder, which no real client ever comes from.
DOCUMENTATION_NETWORKS: tuple[str, ...] = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
# Image tags that move: a deploy of one is not repeatable (and ECR's tags are immutable).
MOVING_IMAGE_TAGS: frozenset[str] = frozenset({"latest", "stable", "main", "master"})
STAGE_NAMES: tuple[str, ...] = ("dev", "staging", "prod")
# The stacks of a stage, in deployment order (``openmarket-<stage>-<kind>``).
STACK_KINDS: tuple[str, ...] = (
    "network",
    "storage",
    "data",
    "functions",
    "cluster",
    "observability",
)
# One constant for the cluster version: in EKS standard support until early 2027 (1.28, the
# original's, is no longer offered). The kubectl layer package must match (tests check it).
KUBERNETES_VERSION = "1.35"

# CloudWatch Logs accepts only these retention values (days).
VALID_LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557}
    | {2922, 3288, 3653}
)


class NodeCapacity(StrEnum):
    """How the node group buys its EC2 capacity."""

    ON_DEMAND = "ON_DEMAND"
    # dev: 60-70 % cheaper; a node can be reclaimed with 2 minutes' notice, which a stage
    # meant for trying changes can take (the PDBs and the autoscaler replace it).
    SPOT = "SPOT"


class NatMode(StrEnum):
    """How private subnets reach the internet."""

    GATEWAY_PER_AZ = "gateway-per-az"  # one NAT gateway in each AZ: survives an AZ outage
    SINGLE_GATEWAY = "single-gateway"  # one NAT gateway for both AZs
    INSTANCE = "instance"  # one NAT instance: the cheapest option that still works


class AuroraCapacity(StrEnum):
    """How the Aurora cluster is sized."""

    PROVISIONED = "provisioned"  # fixed instance class, writer + readers
    SERVERLESS_V2 = "serverless-v2"  # ACU-based; can scale to zero and auto-pause


@dataclass(frozen=True)
class NetworkConfig:
    """The VPC of one stage: CIDRs as the original design lists them, NAT, flow logs."""

    vpc_cidr: str = "10.0.0.0/16"
    # One CIDR per AZ, in the order of AVAILABILITY_ZONES.
    public_subnet_cidrs: tuple[str, str] = ("10.0.1.0/24", "10.0.2.0/24")
    private_subnet_cidrs: tuple[str, str] = ("10.0.11.0/24", "10.0.12.0/24")
    database_subnet_cidrs: tuple[str, str] = ("10.0.21.0/24", "10.0.22.0/24")
    nat_mode: NatMode = NatMode.GATEWAY_PER_AZ
    nat_instance_type: str = "t4g.nano"
    # The NAT instance's image, pinned: an image change replaces the instance (egress down for
    # a few minutes, a new public address), so it happens only when this changes, in review.
    # Set it to the current Amazon Linux 2023 image of the instance's architecture (make
    # preflight prints it with credentials; docs/runbooks.md, "Updating the NAT instance
    # image"). The placeholder is refused by make preflight.
    nat_instance_image_id: str = PLACEHOLDER_IMAGE_ID
    flow_log_retention_days: int = 90
    # The cluster's Service range (pinned, so network policies can name it).
    service_cidr: str = "172.20.0.0/16"
    mysql_port: int = 3306
    redis_port: int = 6379
    # Who may reach the ALB (its security group's HTTP/HTTPS rules). The internet, behind the
    # WAF web ACL, by default; a stage without WAF (dev) lists its office/VPN ranges instead.
    alb_ingress_cidrs: tuple[str, ...] = ("0.0.0.0/0",)

    @property
    def nat_instance_count(self) -> int:
        """NAT instances in the VPC (one, in the first public subnet, with NatMode.INSTANCE)."""
        return 1 if self.nat_mode is NatMode.INSTANCE else 0


@dataclass(frozen=True)
class StorageConfig:
    """S3 buckets and ECR repositories."""

    infrequent_access_after_days: int = 30
    glacier_after_days: int = 90
    noncurrent_versions_expire_after_days: int = 30
    # Access logs: the original design keeps them 90 days. Transitions at or after this day
    # are left out, since S3 needs every transition to happen before expiry.
    logs_expire_after_days: int = 90
    ecr_keep_last_images: int = 30


@dataclass(frozen=True)
class AuroraConfig:
    """Aurora MySQL 3 (8.0 compatible)."""

    engine_version: str = "3.10.2"
    capacity: AuroraCapacity = AuroraCapacity.PROVISIONED
    instance_type: str = "t4g.medium"
    # Readers in the second AZ (the original design: writer 2a + 1 reader 2c). With
    # Application Auto Scaling this is the floor; readers are added up to max_reader_count
    # (the original: 0-15 replicas).
    reader_count: int = 1
    max_reader_count: int = 3
    # Target tracking on the readers' average CPU (the original design's target: RDS CPU < 70%).
    reader_target_cpu_percent: float = 70.0
    # A new reader takes about 10 minutes to come up: no second scale-out before it counts.
    reader_scale_out_cooldown_minutes: int = 10
    # Removing a reader drops its connections: scale in slowly, after a calm half hour.
    reader_scale_in_cooldown_minutes: int = 30
    serverless_min_acu: float = 0.0
    serverless_max_acu: float = 2.0
    # Serverless v2 at 0 ACU pauses after this many idle minutes.
    auto_pause_minutes: int = 10
    backup_retention_days: int = 7
    preferred_backup_window: str = "17:00-18:00"  # UTC = 02:00-03:00 KST, low traffic
    backtrack_hours: int = 0  # 0 disables backtrack
    log_retention_days: int = 30
    deletion_protection: bool = True
    snapshot_on_delete: bool = True
    database_name: str = "openmarket"
    admin_username: str = "openmarket_admin"


@dataclass(frozen=True)
class CacheConfig:
    """ElastiCache (Valkey, Redis 7 compatible)."""

    engine: str = "valkey"
    engine_version: str = "8.0"
    node_type: str = "cache.t4g.micro"
    # Nodes in the replication group: 1 = primary only, 2 = primary (2a) + replica (2c).
    node_count: int = 2
    snapshot_retention_days: int = 7
    snapshot_window: str = "18:00-19:00"  # UTC = 03:00-04:00 KST
    maintenance_window: str = "sun:19:00-sun:20:00"  # UTC, after the snapshot window
    snapshot_on_delete: bool = True
    log_retention_days: int = 30


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

    Chart 88.5.3 ships prometheus-operator v0.93.1, Grafana chart 12.11.1, kube-state-metrics
    chart 8.4.0 and prometheus-node-exporter chart 4.56.1; prometheus-operator-crds 31.0.1
    holds the CRDs of the same operator version, as templates, so a chart upgrade upgrades
    them too. Both are bumped together (docs/monitoring.md, "Upgrading the stack"); the
    recorded value keys in charts/monitoring/chart_keys/ are regenerated with them.
    """

    repository: str = "https://prometheus-community.github.io/helm-charts"
    chart_version: str = "88.5.3"
    crds_chart_version: str = "31.0.1"
    # The release name prefixes every object the chart names (kube-prometheus-stack-grafana,
    # ...) and the Prometheus and Alertmanager resources the operator runs.
    release_name: str = "kube-prometheus-stack"
    crds_release_name: str = "prometheus-operator-crds"


@dataclass(frozen=True)
class MonitoringImages:
    """Image tags of the stack's servers, pinned exactly (docs/monitoring.md, "Versions").
    Each is the newest release of a line that is supported on the day it was pinned:
    Prometheus 3.13 is the current LTS line; Grafana 12.4 is the last minor of 12, patched
    until 2027-05-24; kube-state-metrics 2.19 is built against the Kubernetes 1.35 client.
    The operator, its config reloader and Grafana's sidecar run the chart's own tags (pinned
    by the chart version)."""

    prometheus: str = "quay.io/prometheus/prometheus:v3.13.3"
    alertmanager: str = "quay.io/prometheus/alertmanager:v0.34.1"
    grafana: str = "docker.io/grafana/grafana:12.4.11"
    node_exporter: str = "quay.io/prometheus/node-exporter:v1.12.1"
    kube_state_metrics: str = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.19.1"


@dataclass(frozen=True)
class MonitoringResources:
    """Requests/limits per container: the original design's budget for Prometheus, Grafana,
    Alertmanager, node-exporter and kube-state-metrics; the operator, the config reloader
    (beside Prometheus and Alertmanager each), Grafana's two sidecars and the log agent (one
    per node) small, since dev's two nodes leave little room."""

    prometheus: Resources = Resources("500m", "2000m", "1Gi", "4Gi")
    grafana: Resources = Resources("250m", "1000m", "512Mi", "2Gi")
    alertmanager: Resources = Resources("100m", "500m", "128Mi", "512Mi")
    node_exporter: Resources = Resources("100m", "200m", "128Mi", "256Mi")
    kube_state_metrics: Resources = Resources("100m", "500m", "128Mi", "512Mi")
    operator: Resources = Resources("25m", "200m", "64Mi", "256Mi")
    config_reloader: Resources = Resources("10m", "100m", "25Mi", "64Mi")
    # Each of the dashboard and datasource sidecars (k8s-sidecar, a small Python watcher).
    grafana_sidecar: Resources = Resources("10m", "100m", "48Mi", "128Mi")
    # Fluent Bit of the amazon-cloudwatch-observability add-on (its own default request).
    log_agent: Resources = Resources("50m", "500m", "64Mi", "250Mi")


@dataclass(frozen=True)
class MonitoringConfig:
    """The in-cluster monitoring stack (the original design: 15 s scrapes, 30 days, 100Gi)."""

    stack: MonitoringStackRelease = field(default_factory=MonitoringStackRelease)
    # Prometheus, Alertmanager, Grafana, kube-state-metrics, the operator: Pod Security
    # "restricted".
    namespace: str = "monitoring"
    # node-exporter needs the host's network, PIDs and paths: Pod Security "privileged",
    # nothing else runs there.
    agents_namespace: str = "monitoring-agents"
    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"
    retention_time: str = "30d"
    # Below the volume size, so the TSDB (plus WAL and compaction headroom) never fills it.
    retention_size: str = "90GB"
    storage_size: str = "100Gi"
    storage_class: str = "gp3"
    alertmanager_storage_size: str = "1Gi"
    # Alertmanager's ServiceAccount: its pod role may publish the heartbeat and the
    # delivery-failure notices to SNS (outside the cluster, so they outlive it).
    alertmanager_service_account: str = "alertmanager"
    # How often External Secrets re-reads Secrets Manager.
    secret_refresh_interval: str = "1h"
    # Alertmanager's Slack receivers: one channel each, one key each in the Slack secret
    # (a webhook URL), in routing order.
    slack_receivers: tuple[str, ...] = ("critical", "warning", "info", "heartbeat", "app")
    # What the Slack secret holds for a receiver until someone stores its webhook URL: not a
    # URL, so delivery fails visibly (the AlertDeliveryFailing e-mail) instead of silently.
    # Changing it (or the receivers) makes the next deploy reset the stored URLs.
    slack_url_placeholder: str = "unset: store this channel's Slack webhook URL here"
    # The Kubernetes Secret External Secrets writes the URLs into (Alertmanager mounts it).
    slack_webhooks_k8s_secret: str = "alertmanager-slack"
    images: MonitoringImages = field(default_factory=MonitoringImages)
    resources: MonitoringResources = field(default_factory=MonitoringResources)


@dataclass(frozen=True)
class InstanceShape:
    """What the capacity model and the node settings need to know of an EC2 instance type.

    ``memory_mib`` is the memory the kubelet reports as capacity (MemTotal), a little below
    the nominal size: the kernel and firmware keep the rest. ``enis``/``ipv4_per_eni`` are the
    default network card's limits (amazon-eks-ami nodeadm ``instance-info.jsonl``).
    """

    vcpus: int
    memory_mib: int
    enis: int
    ipv4_per_eni: int
    nitro: bool = True


# t3.medium: 2 vCPU, 4 GiB nominal; an AL2023 node reports about 3,860 MiB of capacity.
# ENI limits: nodeadm's instance-info.jsonl, e.g. t3.medium defaultMaxENIs 3,
# ipv4AddressesPerInterface 6.
INSTANCE_SHAPES: dict[str, InstanceShape] = {
    "t3.medium": InstanceShape(vcpus=2, memory_mib=3860, enis=3, ipv4_per_eni=6),
    # AMD twin of t3.medium, same limits: a second Spot pool with the same capacity.
    "t3a.medium": InstanceShape(vcpus=2, memory_mib=3860, enis=3, ipv4_per_eni=6),
    "t3.large": InstanceShape(vcpus=2, memory_mib=7820, enis=3, ipv4_per_eni=12),
    "t3.xlarge": InstanceShape(vcpus=4, memory_mib=15800, enis=4, ipv4_per_eni=15),
}


@dataclass(frozen=True)
class SystemComponent:
    """A pod the cluster runs besides the rendered charts: an EKS add-on, a Helm release.

    ``replicas`` is ``None`` for a DaemonSet (one pod on every node). Requests are the sum over
    the pod's containers, as the component's own defaults set them (``0`` where it sets none:
    the pod still takes a pod slot). ``source`` says where the numbers come from.
    """

    name: str
    replicas: int | None
    cpu_request: str
    memory_request: str
    source: str
    version: str | None = None

    @property
    def per_node(self) -> bool:
        return self.replicas is None


@dataclass(frozen=True)
class ControllerRelease:
    """A controller the cluster installs as a pinned Helm release: its chart version, its
    replicas and its requests/limits (the charts set none: without requests the scheduler
    packs them anywhere and the kubelet evicts them first)."""

    chart_version: str
    replicas: int
    resources: Resources


@dataclass(frozen=True)
class ControllersConfig:
    """The Helm-installed controllers besides the autoscaler: the AWS Load Balancer
    Controller, External Secrets (controller, webhook, cert controller) and, with a domain,
    ExternalDNS. Sized from their observed use on a small cluster, with limits a few times
    the request; dev's two nodes leave about 160m CPU, so the requests stay small."""

    # Two replicas: the controller serves the pod readiness-gate webhook.
    alb_controller: ControllerRelease = ControllerRelease(
        "3.2.2", 2, Resources("25m", "200m", "64Mi", "256Mi")
    )
    external_secrets: ControllerRelease = ControllerRelease(
        "2.0.1", 1, Resources("25m", "200m", "64Mi", "256Mi")
    )
    external_secrets_webhook: Resources = Resources("10m", "100m", "32Mi", "128Mi")
    external_secrets_cert_controller: Resources = Resources("10m", "100m", "32Mi", "128Mi")
    # kubernetes-sigs/external-dns chart 1.21.1 = ExternalDNS 0.21.0 (AWS SDK v2: Pod Identity).
    # One pod, small and bounded (it lists one zone once a minute).
    external_dns: ControllerRelease = ControllerRelease(
        "1.21.1", 1, Resources("50m", "200m", "64Mi", "128Mi")
    )


@dataclass(frozen=True)
class NodeAutoscalerConfig:
    """Cluster Autoscaler on the managed node group (kubernetes/autoscaler Helm chart).

    Chart 9.59.0 ships app 1.35.0; the image is pinned to the newest 1.35 patch, since the
    autoscaler's minor must match the cluster's (its scheduler simulation is 1.35's).
    """

    chart_version: str = "9.59.0"
    image_tag: str = "v1.35.2"
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


# Every EKS add-on pod the cluster runs, with the requests its own defaults set. EKS add-ons
# run at EKS's default version for Kubernetes 1.35 (fixed at creation), so they carry no
# version. The Helm-installed controllers are ControllersConfig and NodeAutoscalerConfig,
# which size them; the capacity model reads both. Numbers, per source:
SYSTEM_COMPONENTS: tuple[SystemComponent, ...] = (
    # EKS vpc-cni add-on: aws-node (25m, no memory request; amazon-vpc-cni-k8s
    # charts/aws-vpc-cni/values.yaml resources.requests.cpu) + network-policy agent ({}).
    SystemComponent("aws-node", None, "25m", "0Mi", "vpc-cni chart values.yaml"),
    # EKS kube-proxy add-on: 100m CPU, no memory request (EKS's kube-proxy DaemonSet).
    SystemComponent("kube-proxy", None, "100m", "0Mi", "EKS kube-proxy add-on manifest"),
    # eks-pod-identity-agent chart values.yaml: resources {}.
    SystemComponent("eks-pod-identity-agent", None, "0m", "0Mi", "eks-pod-identity-agent values"),
    # aws-ebs-csi-driver chart 2.64: node DaemonSet = ebs-plugin + node-driver-registrar +
    # liveness-probe, each 10m/40Mi (node.resources, inherited by the sidecars).
    SystemComponent("ebs-csi-node", None, "30m", "120Mi", "aws-ebs-csi-driver values.yaml"),
    # aws-ebs-csi-driver chart 2.64: controller replicaCount 2; ebs-plugin, provisioner,
    # attacher, snapshotter, resizer, volume-modifier, liveness-probe: 7 x 10m/40Mi.
    SystemComponent("ebs-csi-controller", 2, "70m", "280Mi", "aws-ebs-csi-driver values.yaml"),
    # EKS coredns add-on: 2 replicas, 100m / 70Mi each.
    SystemComponent("coredns", 2, "100m", "70Mi", "EKS coredns add-on defaults"),
    # EKS metrics-server add-on: 2 replicas (HA), upstream chart requests 100m / 200Mi.
    SystemComponent("metrics-server", 2, "100m", "200Mi", "metrics-server chart values.yaml"),
    # amazon-cloudwatch-observability chart: agent DaemonSet 250m/128Mi, operator
    # (manager) 100m/64Mi; its Fluent Bit is sized by MonitoringResources.log_agent;
    # dcgm-exporter and neuron-monitor only on GPU/Inferentia nodes, the OTel
    # scraper/KSM/node-exporter only with otelContainerInsights (off).
    SystemComponent("cloudwatch-agent", None, "250m", "128Mi", "cloudwatch-observability values"),
    SystemComponent(
        "cloudwatch-operator", 1, "100m", "64Mi", "cloudwatch-observability values (manager)"
    ),
)


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


@dataclass(frozen=True)
class FunctionSize:
    """Memory and timeout of one Lambda function (the original design's table)."""

    memory_mb: int
    timeout_s: int


@dataclass(frozen=True)
class FunctionsConfig:
    """The four Lambda functions (the original design: memory, timeout, trigger) and their
    plumbing."""

    image_processor: FunctionSize = FunctionSize(memory_mb=512, timeout_s=60)
    order_notification: FunctionSize = FunctionSize(memory_mb=256, timeout_s=30)
    report_generator: FunctionSize = FunctionSize(memory_mb=1024, timeout_s=300)
    data_sync: FunctionSize = FunctionSize(memory_mb=512, timeout_s=120)
    # name=box size in pixels, largest first: thumbnails/<name>/<path>/<name>.jpg
    thumbnail_sizes: str = "medium=800,thumb=200"
    jpeg_quality: int = 80
    sender_email: str = "no-reply@openmarket.example"
    idempotency_ttl_hours: int = 24
    report_top_products: int = 10
    # The first day an order can exist (launch): an earlier report date is an input error.
    earliest_order_date: str = "2026-01-01"
    report_currency: str = "KRW"
    # EventBridge Scheduler cron fields, Asia/Seoul: daily at 00:00 KST (the day-of-week field:
    # None = every day).
    report_schedule_hour: str = "0"
    report_schedule_minute: str = "0"
    report_schedule_weekdays: str | None = None
    schedule_time_zone: str = "Asia/Seoul"
    data_sync_every_minutes: int = 60
    # dev: sync only during working hours, so Aurora Serverless (0 ACU) can pause at night.
    data_sync_working_hours_only: bool = False
    # Async invocations: Lambda retries twice, then the event goes to the dead-letter queue.
    async_retry_attempts: int = 2
    max_event_age_minutes: int = 60
    dead_letter_retention_days: int = 14
    log_retention_days: int = 30

    @property
    def sizes(self) -> dict[str, FunctionSize]:
        """Function name (its folder under functions/) -> size."""
        return {
            "image-processor": self.image_processor,
            "order-notification": self.order_notification,
            "report-generator": self.report_generator,
            "data-sync": self.data_sync,
        }


@dataclass(frozen=True)
class ObservabilityConfig:
    """CloudWatch dashboard and alarms (thresholds from the original design's targets),
    budget, schedule, the alerting dead man's switch."""

    alarm_email: str = "platform-alerts@openmarket.example"
    aurora_cpu_percent: float = 70.0
    aurora_connections: int = 100
    redis_memory_percent: float = 80.0
    redis_hit_rate_percent: float = 80.0
    # The original design's API targets; the ALB alarms and the backend's Prometheus alerts
    # both use them.
    alb_5xx_percent: float = 1.0
    alb_p95_latency_seconds: float = 0.5
    lambda_errors: int = 1
    lambda_throttles: int = 1
    # image-processor uploads it could not read (403/404) in 15 minutes before alarming.
    image_uploads_denied_per_15min: int = 5
    budget_usd_per_month: float = 950.0
    # Dead man's switch: Alertmanager publishes the always-firing Watchdog to an SNS topic
    # every heartbeat_interval_minutes; no publish for heartbeat_missing_minutes alarms by
    # e-mail. After a sleeping stage wakes, Prometheus and Alertmanager get
    # heartbeat_wake_grace_minutes to start before a missing heartbeat counts.
    heartbeat_interval_minutes: int = 5
    heartbeat_missing_minutes: int = 15
    heartbeat_wake_grace_minutes: int = 20


@dataclass(frozen=True)
class EdgeConfig:
    """The stage's public name: HTTPS on ``domain_name``, a record in a Route 53 zone.

    The hosted zone is given by id and name (no lookup at synth). The cluster stack asks ACM
    for a certificate validated by DNS in that zone, and ExternalDNS points ``domain_name`` at
    the ALB the ingress controller creates. The zone itself (and its NS delegation from the
    parent domain) exists before the first deploy (docs/deployment.md).
    """

    domain_name: str
    hosted_zone_id: str
    hosted_zone_name: str

    @property
    def url(self) -> str:
        return f"https://{self.domain_name}"

    @property
    def zone_arn(self) -> str:
        return f"arn:aws:route53:::hostedzone/{self.hosted_zone_id}"


@dataclass(frozen=True)
class AccountConfig:
    """What exists once per AWS account, outside every stage: the audit trail and its alarms.

    Stages may share an account, so none of them owns these; ``openmarket-audit`` does.
    """

    account: str
    region: str = REGION
    trail_name: str = "openmarket-audit"
    # CloudTrail log files (and digests) can be neither deleted nor overwritten for this
    # many days (S3 Object Lock, compliance mode), and expire when the lock ends.
    trail_retention_days: int = 365
    # Then Glacier Flexible Retrieval: audit logs are read rarely, and a restore is fine.
    trail_glacier_after_days: int = 90
    # The trail's CloudWatch Logs copy, which the CIS metric filters read: one year.
    trail_log_group_retention_days: int = 365
    # Server access logs of the trail bucket (CIS: access logging on the CloudTrail bucket).
    access_logs_expire_after_days: int = 365
    # Where the CIS alarms (root use, unauthorized calls, console sign-in without MFA, ...)
    # are sent.
    alarm_email: str = "security-alerts@openmarket.example"
    # The roles the platform's own automation acts as (IAM role names, * as wildcard): their
    # security-group, network-ACL and IAM-policy changes are routine (a deploy, `make smoke`)
    # and do not page; a person's or an unknown principal's still do. The CDK bootstrap's
    # CloudFormation execution role makes every stack change; the GitHub deploy role opens
    # dev's ALB to the smoke test.
    routine_role_names: tuple[str, ...] = (
        "cdk-*-cfn-exec-role-*",
        GITHUB_DEPLOY_ROLE_NAME,
    )

    @property
    def audit_stack_name(self) -> str:
        return "openmarket-audit"

    @property
    def trail_bucket_name(self) -> str:
        return f"openmarket-audit-trail-{self.account}"

    @property
    def access_logs_bucket_name(self) -> str:
        return f"openmarket-audit-access-logs-{self.account}"

    @property
    def trail_log_group_name(self) -> str:
        return f"/aws/cloudtrail/{self.trail_name}"

    @property
    def trail_arn(self) -> str:
        """Known before deploy, so the key and bucket policies can name the trail exactly."""
        return f"arn:aws:cloudtrail:{self.region}:{self.account}:trail/{self.trail_name}"


@dataclass(frozen=True)
class StageConfig:
    """Everything that differs between dev, staging and prod."""

    name: str
    account: str
    network: NetworkConfig = field(default_factory=NetworkConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    aurora: AuroraConfig = field(default_factory=AuroraConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    kubernetes: KubernetesConfig = field(default_factory=KubernetesConfig)
    functions: FunctionsConfig = field(default_factory=FunctionsConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    # None: HTTP only on the ALB's own name (dev may run so; staging and prod may not).
    edge: EdgeConfig | None = None
    # Outside working hours (dev, staging): openmarket_cdk/stage_sleep.
    sleep: StageSleepConfig = field(default_factory=StageSleepConfig)
    # Stage-wide policies, read by every stack.
    # Multi-AZ data tier: an Aurora reader and a cache replica in the second AZ.
    multi_az: bool = True
    termination_protection: bool = True
    # Keep buckets, keys, secrets, log groups and data on stack deletion (dev: remove them).
    retain_on_delete: bool = True
    region: str = REGION
    availability_zones: tuple[str, str] = AVAILABILITY_ZONES

    @property
    def prefix(self) -> str:
        """Name prefix for resources of this stage, e.g. ``openmarket-dev``."""
        return f"openmarket-{self.name}"

    def stack_name(self, kind: str) -> str:
        """``openmarket-<stage>-<kind>``: one of STACK_KINDS."""
        if kind not in STACK_KINDS:
            raise ValueError(f"no stack kind {kind!r}")
        return f"{self.prefix}-{kind}"

    @property
    def stage_sleep_function_name(self) -> str:
        """The stage-sleep orchestrator (the schedules and `make wake` invoke it)."""
        return f"{self.prefix}-stage-sleep"

    @property
    def stage_sleep_cluster_function_name(self) -> str:
        """Stage sleep's function inside the VPC, for the Kubernetes API."""
        return f"{self.prefix}-stage-sleep-cluster"

    @property
    def namespace(self) -> str:
        """The Kubernetes namespace of the apps, ``openmarket-<stage>``."""
        return self.prefix

    @property
    def admin_role_arn(self) -> str:
        """The IAM role that gets cluster-admin through an EKS access entry."""
        return f"arn:aws:iam::{self.account}:role/{self.kubernetes.admin_role_name}"

    # Fixed names that more than one stack (or a chart) must agree on: defined once, here.
    @property
    def cluster_name(self) -> str:
        return self.prefix

    @property
    def node_group_sizes(self) -> dict[str, tuple[int, int]]:
        """Zone -> (min, max) nodes of its node group: the stage's totals shared out, the
        first zones taking the remainders (3 over two zones: 2 in 2a, 1 in 2c). One node group
        per zone, so the Cluster Autoscaler can add a node in the zone a pod needs."""
        zones = self.availability_zones
        k8s = self.kubernetes

        def share(total: int) -> list[int]:
            base, extra = divmod(total, len(zones))
            return [base + (1 if index < extra else 0) for index in range(len(zones))]

        return dict(
            zip(
                zones,
                zip(share(k8s.node_min_size), share(k8s.node_max_size), strict=True),
                strict=True,
            )
        )

    @property
    def uploads_bucket_name(self) -> str:
        return f"{self.prefix}-uploads-{self.account}"

    @property
    def logs_bucket_name(self) -> str:
        return f"{self.prefix}-logs-{self.account}"

    @property
    def reports_bucket_name(self) -> str:
        return f"{self.prefix}-reports-{self.account}"

    @property
    def aurora_cluster_identifier(self) -> str:
        """The Aurora cluster's fixed identifier (the data stack's; a test checks they agree):
        ``make snapshot`` snapshots this cluster before a deploy."""
        return f"{self.prefix}-aurora"

    @property
    def predeploy_snapshot_prefix(self) -> str:
        """Manual snapshots taken before a deploy: ``<prefix>-<short sha>-<UTC time>``."""
        return f"{self.prefix}-predeploy"

    def access_logs_prefix(self, bucket: str) -> str:
        """Where S3 server access logs of one bucket (``uploads``, ``reports``) land in the
        logs bucket; the source bucket and the logs bucket's policy both use it."""
        return f"s3-access/{bucket}/"

    @property
    def aurora_secret_name(self) -> str:
        return f"{self.prefix}/aurora/admin"

    @property
    def cache_secret_name(self) -> str:
        return f"{self.prefix}/cache/auth"

    @property
    def order_events_bus_name(self) -> str:
        """The EventBridge bus the backend publishes ``OrderCreated`` to."""
        return f"{self.prefix}-orders"

    @property
    def grafana_admin_secret_name(self) -> str:
        """Secrets Manager: JSON with ``admin-user`` and ``admin-password`` (generated)."""
        return f"{self.prefix}/grafana/admin"

    @property
    def slack_webhooks_secret_name(self) -> str:
        """Secrets Manager: JSON with one Slack webhook URL per Alertmanager receiver."""
        return f"{self.prefix}/alertmanager/slack"

    def sns_topic_arn(self, topic_name: str) -> str:
        """A topic of this stage by name: known before deploy, so the cluster's pod roles can
        name topics of a stack deployed after theirs."""
        return f"arn:aws:sns:{self.region}:{self.account}:{topic_name}"

    @property
    def alerting_heartbeat_topic_name(self) -> str:
        """SNS: Alertmanager's Watchdog heartbeat (the dead man's switch watches its rate)."""
        return f"{self.prefix}-alerting-heartbeat"

    @property
    def alert_delivery_failures_topic_name(self) -> str:
        """SNS: Alertmanager says here when a Slack channel is unset or fails to deliver."""
        return f"{self.prefix}-alert-delivery-failures"

    @property
    def application_log_group_name(self) -> str:
        """Container logs of the cluster: where the CloudWatch Observability add-on's Fluent
        Bit writes them (its fixed name; the original design's was /aws/eks/<cluster>/...)."""
        return self.container_insights_log_group_name("application")

    def container_insights_log_group_name(self, kind: str) -> str:
        """A log group of the CloudWatch Observability add-on: ``application`` (containers),
        ``dataplane`` (kubelet, containerd, aws-node, kube-proxy), ``host`` (the node's
        system logs), ``performance`` (Container Insights metrics as embedded metric
        format). The add-on creates a missing one without retention, so the cluster stack
        creates all four first."""
        return f"/aws/containerinsights/{self.cluster_name}/{kind}"

    @property
    def load_balancer_name(self) -> str:
        """The ALB the ingress controller creates for the apps."""
        return f"{self.prefix}-alb"

    @property
    def load_balancer_hostname_parameter(self) -> str:
        """SSM parameter with the ALB's DNS name (a stage whose ALB lives on): the cluster
        stack writes it, the observability stack's ALB lookup runs again when it changes."""
        return f"/{self.prefix}/cluster/load-balancer-hostname"

    @property
    def nat_instance_ids_parameter(self) -> str:
        """SSM parameter with the NAT instance ids (comma-separated) for the dashboard: an
        export would block the instance's replacement by a new image."""
        return f"/{self.prefix}/network/nat-instance-ids"

    @property
    def alb_security_group_name(self) -> str:
        """The ALB's security group (the network stack's; the Ingress names it)."""
        return f"{self.prefix}-alb"

    @property
    def alb_is_restricted(self) -> bool:
        """Whether the ALB answers listed ranges only (no 0.0.0.0/0 rule): `make smoke` then
        opens the caller's address for the length of its run."""
        return all(not cidr.endswith("/0") for cidr in self.network.alb_ingress_cidrs)

    @property
    def external_dns_owner_id(self) -> str:
        """ExternalDNS's TXT owner id: one per stage, so no stage touches another's records."""
        return self.prefix

    @property
    def runbook_base_url(self) -> str:
        """Where the alerts' runbooks live: docs/monitoring.md of this repository."""
        return f"https://github.com/{GITHUB_REPOSITORY}/blob/main/docs/monitoring.md"

    @property
    def image_registry(self) -> str:
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com"

    def ecr_repository_name(self, workload: WorkloadConfig) -> str:
        """``openmarket/<stage>/<repository>``: the original design's names, stage-qualified."""
        return f"openmarket/{self.name}/{workload.image_repository}"
