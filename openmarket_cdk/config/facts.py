"""Platform facts: what is true of AWS, the region and the tools whatever a stage chooses
(the region, its zones, reserved names and placeholders, tag keys, instance shapes, the
pods EKS add-ons run). Stage choices are in the section modules and stages.py, versions
in pins.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from openmarket_cdk.config import pins

REGION = "ap-northeast-2"
# The account Elastic Load Balancing writes ALB access logs from, in ap-northeast-2
# (regions older than 2022 deliver through this account, not a service principal).
ELB_LOG_DELIVERY_ACCOUNT = "600734575887"
# The GitHub repository whose workflows may deploy (OIDC trust) and whose docs the alerts'
# runbook links point at; override per fork.
GITHUB_REPOSITORY = "openmarket/openmarket-cdk"
AVAILABILITY_ZONES: tuple[str, str] = ("ap-northeast-2a", "ap-northeast-2c")
PLACEHOLDER_ACCOUNT = "000000000000"
# On every resource of a stage (value: the stage's name); the budget filters on it (activate
# it once per account as a cost allocation tag), snapshots carry it too.
STAGE_TAG = "Stage"
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
KUBERNETES_VERSION = pins.KUBERNETES_VERSION

# The CloudWatch namespace of the functions' own metrics: every function gets it as
# POWERTOOLS_METRICS_NAMESPACE (constructs/function.py) and reads it from there (no function
# spells it: tests/functions/test_metrics_namespace.py); the alarms on those metrics use it.
METRICS_NAMESPACE = "OpenMarket"

# CloudWatch Logs accepts only these retention periods: days -> the name of CDK's
# `logs.RetentionDays` member for it (the names carry no day count; tests synthesize each).
LOG_RETENTION_PERIODS: Mapping[int, str] = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}
VALID_LOG_RETENTION_DAYS = frozenset(LOG_RETENTION_PERIODS)


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


# Every EKS add-on pod the cluster runs, with the requests its own defaults set. EKS add-ons
# run at EKS's default version for the cluster's Kubernetes (fixed at creation), so they carry no
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
    # (manager) 100m/64Mi; its Fluent Bit is sized by MonitoringConfig.log_agent;
    # dcgm-exporter and neuron-monitor only on GPU/Inferentia nodes, the OTel
    # scraper/KSM/node-exporter only with otelContainerInsights (off).
    SystemComponent("cloudwatch-agent", None, "250m", "128Mi", "cloudwatch-observability values"),
    SystemComponent(
        "cloudwatch-operator", 1, "100m", "64Mi", "cloudwatch-observability values (manager)"
    ),
)
