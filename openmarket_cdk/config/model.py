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

from openmarket_cdk.config import pins
from openmarket_cdk.config.errors import StageConfigError as StageConfigError
from openmarket_cdk.config.facts import (
    AVAILABILITY_ZONES,
    PLACEHOLDER_IMAGE_ID,
    REGION,
)
from openmarket_cdk.config.kubernetes import KubernetesConfig
from openmarket_cdk.config.names import StageNames
from openmarket_cdk.stage_sleep.config import StageSleepConfig


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
    """Aurora MySQL 3 (engine versions in config/pins.py)."""

    engine_version: str = pins.AURORA_MYSQL_VERSION
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
    engine_version: str = pins.VALKEY_VERSION
    node_type: str = "cache.t4g.micro"
    # Nodes in the replication group: 1 = primary only, 2 = primary (2a) + replica (2c).
    node_count: int = 2
    snapshot_retention_days: int = 7
    snapshot_window: str = "18:00-19:00"  # UTC = 03:00-04:00 KST
    maintenance_window: str = "sun:19:00-sun:20:00"  # UTC, after the snapshot window
    snapshot_on_delete: bool = True
    log_retention_days: int = 30


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
class StagePolicy:
    """What a stage's role demands of its config, set in the stage definitions (stages.py)
    and enforced by validation.py, so no rule names a stage. The defaults are the strict
    side; dev relaxes the first two, prod adds the third."""

    # Data outlives a stack deletion; Aurora is deletion-protected and snapshotted on delete.
    keeps_data: bool = True
    # Runs like production: on-demand nodes, a WAF in front of its ALB, HTTPS on its own
    # domain, every control-plane log type; deploys behind a GitHub environment's reviewers;
    # its Slack URLs must be stored before a deploy (make preflight).
    production_like: bool = True
    # Customers use it: it never sleeps, its API endpoint is private, Aurora may grow to at
    # least PROD_MIN_MAX_READERS readers, a manual snapshot precedes each deploy, and its SES
    # account must be out of the sandbox (make preflight).
    serves_customers: bool = False


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
    # What the stage's role demands (validation enforces it).
    policy: StagePolicy = field(default_factory=StagePolicy)
    # Stage-wide policies, read by every stack.
    # Multi-AZ data tier: an Aurora reader and a cache replica in the second AZ.
    multi_az: bool = True
    termination_protection: bool = True
    # Keep buckets, keys, secrets, log groups and data on stack deletion (dev: remove them).
    retain_on_delete: bool = True
    region: str = REGION
    availability_zones: tuple[str, str] = AVAILABILITY_ZONES

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
    def alb_is_restricted(self) -> bool:
        """Whether the ALB answers listed ranges only (no 0.0.0.0/0 rule): `make smoke` then
        opens the caller's address for the length of its run."""
        return all(not cidr.endswith("/0") for cidr in self.network.alb_ingress_cidrs)

    @property
    def names(self) -> StageNames:
        """Every name derived from the stage (resources, secrets, topics, log groups...)."""
        return StageNames(self.name, self.account, self.region, self.kubernetes.admin_role_name)
