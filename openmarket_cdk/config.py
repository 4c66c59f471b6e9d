"""Stage model: every size, count, version, CIDR, retention and schedule of OpenMarket.

Each stage (dev, staging, prod) is one frozen, typed ``StageConfig``. Nothing else in the
project holds a number that differs between stages: stacks and charts read them from here.
``validate()`` runs when a config is built, so a bad value fails ``cdk synth`` with a message
that names the field (``StageConfigError``).

The account is a placeholder unless overridden (context ``-c account=...`` or the environment
variable ``OPENMARKET_ACCOUNT``); the region and the availability zones are fixed, so synth never
has to ask AWS anything.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from enum import StrEnum
from typing import Any

REGION = "ap-northeast-2"
# The account Elastic Load Balancing writes ALB access logs from, in ap-northeast-2
# (regions older than 2022 deliver through this account, not a service principal).
ELB_LOG_DELIVERY_ACCOUNT = "600734575887"
# The GitHub repository whose workflows may deploy (OIDC trust); override per fork.
GITHUB_REPOSITORY = "openmarket/openmarket-cdk"
AVAILABILITY_ZONES: tuple[str, str] = ("ap-northeast-2a", "ap-northeast-2c")
PLACEHOLDER_ACCOUNT = "000000000000"
ACCOUNT_ENV_VAR = "OPENMARKET_ACCOUNT"
STAGE_NAMES: tuple[str, ...] = ("dev", "staging", "prod")
# One constant for the cluster version: in EKS standard support until early 2027 (1.28, the
# original's, is no longer offered). The kubectl layer package must match (tests check it).
KUBERNETES_VERSION = "1.35"

# CloudWatch Logs accepts only these retention values (days).
VALID_LOG_RETENTION_DAYS = frozenset(
    {
        1,
        3,
        5,
        7,
        14,
        30,
        60,
        90,
        120,
        150,
        180,
        365,
        400,
        545,
        731,
        1096,
        1827,
        2192,
        2557,
        2922,
        3288,
        3653,
    }
)


class StageConfigError(ValueError):
    """A stage configuration value is wrong; the message names the field."""


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
    """The VPC of one stage: CIDRs as SPEC lists them, NAT, flow logs."""

    vpc_cidr: str = "10.0.0.0/16"
    # One CIDR per AZ, in the order of AVAILABILITY_ZONES.
    public_subnet_cidrs: tuple[str, str] = ("10.0.1.0/24", "10.0.2.0/24")
    private_subnet_cidrs: tuple[str, str] = ("10.0.11.0/24", "10.0.12.0/24")
    database_subnet_cidrs: tuple[str, str] = ("10.0.21.0/24", "10.0.22.0/24")
    nat_mode: NatMode = NatMode.GATEWAY_PER_AZ
    nat_instance_type: str = "t4g.nano"
    flow_log_retention_days: int = 90
    # Ports the ALB forwards to pods (SPEC: frontend 3000, backend 3001).
    # The cluster's Service range (pinned, so network policies can name it).
    service_cidr: str = "172.20.0.0/16"
    frontend_port: int = 3000
    backend_port: int = 3001
    mysql_port: int = 3306
    redis_port: int = 6379


@dataclass(frozen=True)
class StorageConfig:
    """S3 buckets and ECR repositories."""

    infrequent_access_after_days: int = 30
    glacier_after_days: int = 90
    noncurrent_versions_expire_after_days: int = 30
    # Access logs: SPEC keeps them 90 days. Transitions at or after this day are left out,
    # since S3 needs every transition to happen before expiry.
    logs_expire_after_days: int = 90
    ecr_keep_last_images: int = 30
    # dev is disposable; staging and prod keep buckets and repositories on stack deletion.
    retain_on_delete: bool = True


@dataclass(frozen=True)
class AuroraConfig:
    """Aurora MySQL 3 (8.0 compatible)."""

    engine_version: str = "3.10.2"
    capacity: AuroraCapacity = AuroraCapacity.PROVISIONED
    instance_type: str = "t4g.medium"
    # Readers in the second AZ (SPEC: writer 2a + 1 reader 2c).
    reader_count: int = 1
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
class WorkloadConfig:
    """One web workload (backend or frontend) on EKS; SPEC's sizes."""

    health_path: str
    image_tag: str = "1.0.0"
    replicas: int = 2
    cpu_request: str = "250m"
    cpu_limit: str = "1000m"
    memory_request: str = "512Mi"
    memory_limit: str = "2Gi"
    hpa_min_replicas: int = 2
    hpa_max_replicas: int = 10
    hpa_cpu_utilization_percent: int = 70


@dataclass(frozen=True)
class KubernetesConfig:
    """The EKS cluster and what runs on it."""

    version: str = KUBERNETES_VERSION
    node_instance_type: str = "t3.medium"
    node_min_size: int = 2
    node_max_size: int = 4
    node_desired_size: int = 2
    # All five control-plane log types (api, audit, authenticator, controllerManager,
    # scheduler); dev keeps only api/audit/authenticator to save ingestion cost.
    all_control_plane_logs: bool = True
    control_plane_log_retention_days: int = 90
    # Empty: private API endpoint only. Non-empty (dev): public endpoint limited to these.
    public_endpoint_cidrs: tuple[str, ...] = ()
    admin_role_name: str = "OpenMarketPlatformAdmin"
    backend: WorkloadConfig = field(
        default_factory=lambda: WorkloadConfig(health_path="/api/health")
    )
    frontend: WorkloadConfig = field(default_factory=lambda: WorkloadConfig(health_path="/"))
    # WAF rate-based rule: requests per 5 minutes from one IP before it is blocked.
    waf_rate_limit_per_5min: int = 2000
    # HTTPS with an HTTP->HTTPS redirect whenever a certificate is configured.
    certificate_arn: str | None = None
    domain_name: str | None = None
    application_log_retention_days: int = 90


@dataclass(frozen=True)
class FunctionsConfig:
    """The four Lambda functions (SPEC: memory, timeout, trigger) and their plumbing."""

    image_processor_memory_mb: int = 512
    image_processor_timeout_s: int = 60
    order_notification_memory_mb: int = 256
    order_notification_timeout_s: int = 30
    report_generator_memory_mb: int = 1024
    report_generator_timeout_s: int = 300
    data_sync_memory_mb: int = 512
    data_sync_timeout_s: int = 120
    # name=box size in pixels, largest first: thumbnails/<name>/<path>/<name>.jpg
    thumbnail_sizes: str = "medium=800,thumb=200"
    jpeg_quality: int = 80
    sender_email: str = "no-reply@openmarket.example"
    idempotency_ttl_hours: int = 24
    report_top_products: int = 10
    report_currency: str = "KRW"
    # EventBridge Scheduler cron fields, Asia/Seoul: daily at 00:00 KST.
    report_schedule_hour: str = "0"
    report_schedule_minute: str = "0"
    schedule_time_zone: str = "Asia/Seoul"
    data_sync_every_minutes: int = 60
    # Async invocations: Lambda retries twice, then the event goes to the dead-letter queue.
    async_retry_attempts: int = 2
    max_event_age_minutes: int = 60
    dead_letter_retention_days: int = 14
    log_retention_days: int = 30


@dataclass(frozen=True)
class WorkingHoursConfig:
    """Dev only: nodes (and a provisioned Aurora) run weekdays 09:00-18:00 Asia/Seoul."""

    enabled: bool = False
    time_zone: str = "Asia/Seoul"
    start_hour: int = 9
    stop_hour: int = 18
    weekdays: str = "MON-FRI"

    @property
    def hours_per_week(self) -> int:
        return (self.stop_hour - self.start_hour) * 5 if self.enabled else 7 * 24


@dataclass(frozen=True)
class ObservabilityConfig:
    """CloudWatch dashboard and alarms (thresholds from SPEC's targets), budget, schedule."""

    alarm_email: str = "platform-alerts@openmarket.example"
    aurora_cpu_percent: float = 70.0
    aurora_connections: int = 100
    redis_memory_percent: float = 80.0
    redis_hit_rate_percent: float = 80.0
    alb_5xx_percent: float = 1.0
    alb_p95_latency_seconds: float = 0.5
    lambda_errors: int = 1
    lambda_throttles: int = 1
    budget_usd_per_month: float = 950.0
    working_hours: WorkingHoursConfig = field(default_factory=WorkingHoursConfig)


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
    # Multi-AZ data tier: an Aurora reader and a cache replica in the second AZ.
    multi_az: bool = True
    termination_protection: bool = True
    region: str = REGION
    availability_zones: tuple[str, str] = AVAILABILITY_ZONES

    @property
    def namespace(self) -> str:
        """The Kubernetes namespace of the apps, ``openmarket-<stage>``."""
        return f"openmarket-{self.name}"

    @property
    def admin_role_arn(self) -> str:
        """The IAM role that gets cluster-admin through an EKS access entry."""
        return f"arn:aws:iam::{self.account}:role/{self.kubernetes.admin_role_name}"

    @property
    def prefix(self) -> str:
        """Name prefix for resources of this stage, e.g. ``openmarket-dev``."""
        return f"openmarket-{self.name}"

    # Fixed names that more than one stack (or a chart) must agree on: defined once, here.
    @property
    def cluster_name(self) -> str:
        return self.prefix

    @property
    def nodegroup_name(self) -> str:
        return f"{self.prefix}-apps"

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
    def aurora_secret_name(self) -> str:
        return f"{self.prefix}/aurora/admin"

    @property
    def cache_secret_name(self) -> str:
        return f"{self.prefix}/cache/auth"

    @property
    def application_log_group_name(self) -> str:
        """Container logs of the cluster (Fluent Bit); SPEC's name."""
        return f"/aws/eks/{self.cluster_name}/application"

    @property
    def load_balancer_name(self) -> str:
        """The ALB the ingress controller creates for the apps."""
        return f"{self.prefix}-alb"

    @property
    def image_registry(self) -> str:
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com"

    def ecr_repository_name(self, image: str) -> str:
        """``openmarket/<stage>/<image>``: SPEC's names, stage-qualified."""
        return f"openmarket/{self.name}/{image}"

    def validate(self) -> StageConfig:
        """Check every field; raise ``StageConfigError`` naming the first bad one."""
        _validate_stage(self)
        return self


def _fail(field_path: str, message: str) -> None:
    raise StageConfigError(f"stage config field '{field_path}': {message}")


def _validate_stage(cfg: StageConfig) -> None:
    if cfg.name not in STAGE_NAMES:
        _fail("name", f"unknown stage {cfg.name!r}; expected one of {', '.join(STAGE_NAMES)}")
    if not re.fullmatch(r"\d{12}", cfg.account):
        _fail("account", f"{cfg.account!r} is not a 12-digit AWS account id")
    if cfg.region != REGION:
        _fail("region", f"{cfg.region!r}: OpenMarket runs in {REGION}")
    if len(set(cfg.availability_zones)) != 2 or not all(
        az.startswith(cfg.region) for az in cfg.availability_zones
    ):
        _fail("availability_zones", "need two distinct AZs of the stage's region")
    _validate_network(cfg.network)
    _validate_storage(cfg.storage)
    _validate_aurora(cfg.aurora, cfg.name)
    _validate_cache(cfg.cache)
    _validate_kubernetes(cfg.kubernetes, cfg.name)
    _validate_functions(cfg.functions)
    _validate_observability(cfg.observability, cfg.name)
    # Both data services follow the stage's AZ layout: a standby in the second AZ exists
    # exactly when the stage is Multi-AZ.
    if not cfg.multi_az:
        if cfg.aurora.reader_count:
            _fail("aurora.reader_count", "a reader is requested but the stage is single-AZ")
        if cfg.cache.node_count > 1:
            _fail("cache.node_count", "a cache replica is requested but the stage is single-AZ")
    else:
        if cfg.aurora.reader_count < 1:
            _fail("aurora.reader_count", "a Multi-AZ stage needs at least one reader in 2c")
        if cfg.cache.node_count < 2:
            _fail("cache.node_count", "a Multi-AZ stage needs a primary and a replica")


def _network(cidr: str, field_path: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as err:
        _fail(field_path, f"{cidr!r} is not a valid IPv4 network ({err})")
        raise  # unreachable, keeps type checkers happy


def _validate_network(net: NetworkConfig) -> None:
    vpc = _network(net.vpc_cidr, "network.vpc_cidr")
    if not 16 <= vpc.prefixlen <= 28:
        _fail("network.vpc_cidr", "a VPC CIDR must be between /16 and /28")
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for group in ("public_subnet_cidrs", "private_subnet_cidrs", "database_subnet_cidrs"):
        cidrs = getattr(net, group)
        if len(cidrs) != len(AVAILABILITY_ZONES):
            _fail(f"network.{group}", f"need one CIDR per AZ ({len(AVAILABILITY_ZONES)})")
        for index, cidr in enumerate(cidrs):
            path = f"network.{group}[{index}]"
            subnet = _network(cidr, path)
            if not subnet.subnet_of(vpc):
                _fail(path, f"{cidr} is outside the VPC {net.vpc_cidr}")
            for other_path, other in seen:
                if subnet.overlaps(other):
                    _fail(path, f"{cidr} overlaps {other_path} ({other})")
            seen.append((path, subnet))
    _check_retention(net.flow_log_retention_days, "network.flow_log_retention_days")
    ports = {
        "frontend_port": net.frontend_port,
        "backend_port": net.backend_port,
        "mysql_port": net.mysql_port,
        "redis_port": net.redis_port,
    }
    for name, port in ports.items():
        if not 1 <= port <= 65535:
            _fail(f"network.{name}", f"{port} is not a TCP port")


def _validate_storage(storage: StorageConfig) -> None:
    if storage.infrequent_access_after_days < 30:
        _fail("storage.infrequent_access_after_days", "S3 allows Standard-IA from day 30")
    if storage.glacier_after_days <= storage.infrequent_access_after_days:
        _fail("storage.glacier_after_days", "must come after the Standard-IA transition")
    if storage.noncurrent_versions_expire_after_days < 1:
        _fail("storage.noncurrent_versions_expire_after_days", "must be at least 1 day")
    if storage.logs_expire_after_days <= storage.infrequent_access_after_days:
        _fail("storage.logs_expire_after_days", "must come after the Standard-IA transition")
    if not 1 <= storage.ecr_keep_last_images <= 1000:
        _fail("storage.ecr_keep_last_images", "must be between 1 and 1000")


def _validate_aurora(aurora: AuroraConfig, stage: str) -> None:
    if not re.fullmatch(r"3\.\d{2}\.\d+", aurora.engine_version):
        _fail(
            "aurora.engine_version", f"{aurora.engine_version!r} is not an Aurora MySQL 3 version"
        )
    if aurora.capacity is AuroraCapacity.SERVERLESS_V2:
        if aurora.reader_count:
            _fail("aurora.reader_count", "this project runs Serverless v2 as a single writer")
        if not 0 <= aurora.serverless_min_acu <= aurora.serverless_max_acu <= 256:
            _fail("aurora.serverless_min_acu", "need 0 <= min ACU <= max ACU <= 256")
        if aurora.serverless_min_acu == 0 and not 5 <= aurora.auto_pause_minutes <= 1440:
            _fail("aurora.auto_pause_minutes", "auto-pause must be 5..1440 minutes")
    elif not re.fullmatch(r"[a-z0-9]+\.[a-z0-9]+", aurora.instance_type):
        _fail("aurora.instance_type", f"{aurora.instance_type!r} is not an instance type")
    if not 0 <= aurora.reader_count <= 15:
        _fail("aurora.reader_count", "Aurora allows 0..15 readers")
    if not 7 <= aurora.backup_retention_days <= 35:
        _fail("aurora.backup_retention_days", "keep backups 7..35 days (SPEC: 7 or more)")
    if not 0 <= aurora.backtrack_hours <= 72:
        _fail("aurora.backtrack_hours", "backtrack window is 0..72 hours")
    if aurora.backtrack_hours and aurora.capacity is AuroraCapacity.SERVERLESS_V2:
        _fail("aurora.backtrack_hours", "backtrack is for provisioned clusters here")
    _check_retention(aurora.log_retention_days, "aurora.log_retention_days")
    if stage != "dev" and not (aurora.deletion_protection and aurora.snapshot_on_delete):
        _fail("aurora.deletion_protection", f"{stage} must protect and snapshot its database")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,15}", aurora.admin_username):
        _fail("aurora.admin_username", "1-16 letters, digits or '_', starting with a letter")


def _validate_cache(cache: CacheConfig) -> None:
    if cache.engine not in ("valkey", "redis"):
        _fail("cache.engine", f"{cache.engine!r}: expected 'valkey' or 'redis'")
    major = cache.engine_version.split(".")[0]
    if not major.isdigit() or int(major) < 7:
        _fail("cache.engine_version", "must be Redis 7 compatible (7.x or newer)")
    if not cache.node_type.startswith("cache."):
        _fail("cache.node_type", f"{cache.node_type!r} is not an ElastiCache node type")
    if not 1 <= cache.node_count <= 6:
        _fail("cache.node_count", "a replication group has 1..6 nodes")
    if not 0 <= cache.snapshot_retention_days <= 35:
        _fail("cache.snapshot_retention_days", "must be 0..35 days")
    _check_retention(cache.log_retention_days, "cache.log_retention_days")


def _validate_kubernetes(k8s: KubernetesConfig, stage: str) -> None:
    if k8s.version != KUBERNETES_VERSION:
        _fail("kubernetes.version", f"{k8s.version!r}: the project pins {KUBERNETES_VERSION}")
    if not 1 <= k8s.node_min_size <= k8s.node_desired_size <= k8s.node_max_size:
        _fail("kubernetes.node_desired_size", "need 1 <= min <= desired <= max nodes")
    if stage == "prod" and k8s.public_endpoint_cidrs:
        _fail("kubernetes.public_endpoint_cidrs", "prod's API endpoint must stay private")
    for index, cidr in enumerate(k8s.public_endpoint_cidrs):
        net = _network(cidr, f"kubernetes.public_endpoint_cidrs[{index}]")
        if net.prefixlen == 0:
            _fail(f"kubernetes.public_endpoint_cidrs[{index}]", "0.0.0.0/0 is not a restriction")
    if stage != "dev" and not k8s.all_control_plane_logs:
        _fail("kubernetes.all_control_plane_logs", f"{stage} must log all five log types")
    _check_retention(
        k8s.control_plane_log_retention_days, "kubernetes.control_plane_log_retention_days"
    )
    _check_retention(
        k8s.application_log_retention_days, "kubernetes.application_log_retention_days"
    )
    if not re.fullmatch(r"[\w+=,.@-]{1,64}", k8s.admin_role_name):
        _fail("kubernetes.admin_role_name", f"{k8s.admin_role_name!r} is not an IAM role name")
    if k8s.waf_rate_limit_per_5min < 10:
        _fail("kubernetes.waf_rate_limit_per_5min", "WAF rate limits start at 10")
    if k8s.certificate_arn is not None and not k8s.certificate_arn.startswith("arn:aws:acm:"):
        _fail("kubernetes.certificate_arn", f"{k8s.certificate_arn!r} is not an ACM ARN")
    for name in ("backend", "frontend"):
        workload: WorkloadConfig = getattr(k8s, name)
        path = f"kubernetes.{name}"
        if not workload.health_path.startswith("/"):
            _fail(f"{path}.health_path", "must start with '/'")
        if not 1 <= workload.hpa_min_replicas <= workload.hpa_max_replicas:
            _fail(f"{path}.hpa_min_replicas", "need 1 <= min <= max replicas")
        if not workload.hpa_min_replicas <= workload.replicas <= workload.hpa_max_replicas:
            _fail(f"{path}.replicas", "must lie within the HPA range")
        if not 1 <= workload.hpa_cpu_utilization_percent <= 100:
            _fail(f"{path}.hpa_cpu_utilization_percent", "must be 1..100")
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", workload.image_tag):
            _fail(f"{path}.image_tag", f"{workload.image_tag!r} is not an image tag")
        for quantity in ("cpu_request", "cpu_limit"):
            if not re.fullmatch(r"\d+m?", getattr(workload, quantity)):
                _fail(f"{path}.{quantity}", "CPU as millicores ('250m') or cores ('1')")
        for quantity in ("memory_request", "memory_limit"):
            if not re.fullmatch(r"\d+(Mi|Gi)", getattr(workload, quantity)):
                _fail(f"{path}.{quantity}", "memory in Mi or Gi ('512Mi')")


def _validate_functions(fn: FunctionsConfig) -> None:
    for name in ("image_processor", "order_notification", "report_generator", "data_sync"):
        memory = getattr(fn, f"{name}_memory_mb")
        timeout = getattr(fn, f"{name}_timeout_s")
        if not 128 <= memory <= 10240:
            _fail(f"functions.{name}_memory_mb", "Lambda memory is 128..10240 MB")
        if not 1 <= timeout <= 900:
            _fail(f"functions.{name}_timeout_s", "Lambda timeout is 1..900 s")
    if not re.fullmatch(r"[a-z]+=\d+(,[a-z]+=\d+)*", fn.thumbnail_sizes):
        _fail("functions.thumbnail_sizes", "expected 'name=pixels,...', e.g. 'medium=800'")
    if not 1 <= fn.jpeg_quality <= 95:
        _fail("functions.jpeg_quality", "must be 1..95")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", fn.sender_email):
        _fail("functions.sender_email", f"{fn.sender_email!r} is not an e-mail address")
    if not 0 <= fn.async_retry_attempts <= 2:
        _fail("functions.async_retry_attempts", "Lambda allows 0..2 async retries")
    if not 1 <= fn.max_event_age_minutes <= 360:
        _fail("functions.max_event_age_minutes", "Lambda allows 1..360 minutes")
    if not 1 <= fn.dead_letter_retention_days <= 14:
        _fail("functions.dead_letter_retention_days", "SQS keeps messages 1..14 days")
    if fn.data_sync_every_minutes not in (5, 10, 15, 20, 30, 60, 120, 180, 360, 720):
        _fail("functions.data_sync_every_minutes", "pick a divisor-friendly interval, e.g. 60")
    _check_retention(fn.log_retention_days, "functions.log_retention_days")


def _validate_observability(obs: ObservabilityConfig, stage: str) -> None:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", obs.alarm_email):
        _fail("observability.alarm_email", f"{obs.alarm_email!r} is not an e-mail address")
    for name in (
        "aurora_cpu_percent",
        "redis_memory_percent",
        "redis_hit_rate_percent",
        "alb_5xx_percent",
    ):
        if not 0 < getattr(obs, name) <= 100:
            _fail(f"observability.{name}", "a percentage in (0, 100]")
    if obs.budget_usd_per_month <= 0:
        _fail("observability.budget_usd_per_month", "must be positive")
    hours = obs.working_hours
    if hours.enabled and stage != "dev":
        _fail("observability.working_hours.enabled", "only dev sleeps outside working hours")
    if not 0 <= hours.start_hour < hours.stop_hour <= 23:
        _fail("observability.working_hours.start_hour", "need 0 <= start < stop <= 23")


def _check_retention(days: int, field_path: str) -> None:
    if days not in VALID_LOG_RETENTION_DAYS:
        _fail(field_path, f"{days} is not a CloudWatch Logs retention value")


def _base(name: str, account: str) -> StageConfig:
    return StageConfig(name=name, account=account)


def _dev(account: str) -> StageConfig:
    base = _base("dev", account)
    return replace(
        base,
        termination_protection=False,
        multi_az=False,
        # Cheapest way out for private subnets: one NAT instance (~$3/month vs ~$45).
        network=replace(base.network, nat_mode=NatMode.INSTANCE, flow_log_retention_days=7),
        storage=replace(base.storage, retain_on_delete=False, ecr_keep_last_images=10),
        aurora=replace(
            base.aurora,
            capacity=AuroraCapacity.SERVERLESS_V2,
            reader_count=0,
            serverless_min_acu=0.0,
            serverless_max_acu=2.0,
            log_retention_days=7,
            deletion_protection=False,
            snapshot_on_delete=False,
        ),
        observability=replace(
            base.observability,
            budget_usd_per_month=150.0,
            working_hours=replace(base.observability.working_hours, enabled=True),
        ),
        kubernetes=replace(
            base.kubernetes,
            all_control_plane_logs=False,
            control_plane_log_retention_days=7,
            application_log_retention_days=7,
            # Documentation range (TEST-NET-3) as a placeholder: set the office/VPN CIDR.
            public_endpoint_cidrs=("203.0.113.0/24",),
        ),
        cache=replace(
            base.cache,
            node_count=1,
            snapshot_retention_days=1,
            snapshot_on_delete=False,
            log_retention_days=7,
        ),
        # SPEC's dev cost optimisation: every log group keeps 7 days (Lambda: 30 elsewhere).
        functions=replace(base.functions, log_retention_days=7),
    )


def _staging(account: str) -> StageConfig:
    base = _base("staging", account)
    return replace(
        base,
        network=replace(base.network, nat_mode=NatMode.SINGLE_GATEWAY, flow_log_retention_days=30),
        aurora=replace(base.aurora, backup_retention_days=7, backtrack_hours=24),
        cache=replace(base.cache, snapshot_retention_days=3),
        kubernetes=replace(base.kubernetes, application_log_retention_days=30),
        observability=replace(base.observability, budget_usd_per_month=300.0),
    )


def _prod(account: str) -> StageConfig:
    base = _base("prod", account)
    return replace(
        base,
        network=replace(base.network, nat_mode=NatMode.GATEWAY_PER_AZ, flow_log_retention_days=90),
        aurora=replace(
            base.aurora, backup_retention_days=14, backtrack_hours=24, log_retention_days=90
        ),
        cache=replace(base.cache, snapshot_retention_days=7, log_retention_days=90),
    )


_BUILDERS = {"dev": _dev, "staging": _staging, "prod": _prod}


def resolve_account(context: Mapping[str, Any] | None = None) -> str:
    """The AWS account: context ``account``, else ``$OPENMARKET_ACCOUNT``, else a placeholder."""
    from_context = (context or {}).get("account")
    account = str(from_context or os.environ.get(ACCOUNT_ENV_VAR) or PLACEHOLDER_ACCOUNT)
    if not re.fullmatch(r"\d{12}", account):
        _fail("account", f"{account!r} is not a 12-digit AWS account id")
    return account


def stage_config(name: str, account: str = PLACEHOLDER_ACCOUNT) -> StageConfig:
    """The validated config of one stage; an unknown name raises ``StageConfigError``."""
    builder = _BUILDERS.get(name)
    if builder is None:
        _fail("name", f"unknown stage {name!r}; expected one of {', '.join(STAGE_NAMES)}")
        raise AssertionError  # unreachable
    return builder(account).validate()


def all_stage_configs(account: str = PLACEHOLDER_ACCOUNT) -> list[StageConfig]:
    """dev, staging and prod, in deployment order."""
    return [stage_config(name, account) for name in STAGE_NAMES]


def as_dict(obj: Any) -> Any:
    """A plain, JSON-friendly view of a config (for docs, cost estimates and tests)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: as_dict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple):
        return [as_dict(v) for v in obj]
    if isinstance(obj, StrEnum):
        return obj.value
    return obj
