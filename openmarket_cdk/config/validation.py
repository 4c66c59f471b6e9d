"""Checks of a ``StageConfig``: the first bad value raises ``StageConfigError`` naming its
field (``kubernetes.backend.hpa_min_replicas``), so a wrong stage config fails ``cdk synth``
before any template is written. Every check of the config lives here, workloads included:
the charts trust the values they are given.
"""

from __future__ import annotations

import datetime
import ipaddress
import re

from openmarket_cdk.config.account import AccountConfig
from openmarket_cdk.config.checks import DNS_LABEL, check_port, check_retention, network
from openmarket_cdk.config.errors import StageConfigError, fail
from openmarket_cdk.config.facts import (
    AVAILABILITY_ZONES,
    DOCUMENTATION_NETWORKS,
    MOVING_IMAGE_TAGS,
    PLACEHOLDER_ACCOUNT,
    PLACEHOLDER_HOSTED_ZONE_ID,
    PLACEHOLDER_IMAGE_ID,
    REGION,
    RESERVED_DOMAINS,
    STAGE_NAMES,
)
from openmarket_cdk.config.kubernetes_validation import validate_kubernetes
from openmarket_cdk.config.model import (
    AuroraCapacity,
    AuroraConfig,
    CacheConfig,
    EdgeConfig,
    FunctionsConfig,
    NatMode,
    NetworkConfig,
    ObservabilityConfig,
    StageConfig,
    StagePolicy,
    StorageConfig,
)
from openmarket_cdk.stage_sleep.config import validate_stage_sleep

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Route 53 hosted zone ids: "Z" and upper-case letters/digits (e.g. Z0123456789ABCDEFGHIJ).
_HOSTED_ZONE_ID = re.compile(r"Z[A-Z0-9]{1,31}")
# ExternalDNS's ownership TXT record of an AAAA alias is "aaaa-<first label>.<rest>".
_TXT_RECORD_TYPE_PREFIX = len("aaaa-")


def validate_stage(cfg: StageConfig) -> StageConfig:
    """Check every field of ``cfg``; return it unchanged, or raise naming the first bad one."""
    if cfg.name not in STAGE_NAMES:
        fail("name", f"unknown stage {cfg.name!r}; expected one of {', '.join(STAGE_NAMES)}")
    validate_account(cfg.account)
    if cfg.region != REGION:
        fail("region", f"{cfg.region!r}: OpenMarket runs in {REGION}")
    if len(set(cfg.availability_zones)) != 2 or not all(
        az.startswith(cfg.region) for az in cfg.availability_zones
    ):
        fail("availability_zones", "need two distinct AZs of the stage's region")
    policy = cfg.policy
    if policy.keeps_data and not cfg.retain_on_delete:
        fail("retain_on_delete", f"{cfg.name} must keep its data when a stack is deleted")
    _validate_network(cfg.network)
    _validate_storage(cfg.storage)
    _validate_aurora(cfg.aurora, cfg.name, policy)
    _validate_cache(cfg.cache)
    validate_kubernetes(cfg.kubernetes, cfg.name, policy)
    _validate_functions(cfg.functions)
    _validate_observability(cfg.observability, cfg.name)
    _validate_edge(cfg.edge, cfg.name, policy)
    _validate_alb_exposure(cfg)
    _validate_sleep(cfg)
    # Both data services follow the stage's AZ layout: a standby in the second AZ exists
    # exactly when the stage is Multi-AZ.
    if not cfg.multi_az:
        if cfg.aurora.reader_count:
            fail("aurora.reader_count", "a reader is requested but the stage is single-AZ")
        if cfg.cache.node_count > 1:
            fail("cache.node_count", "a cache replica is requested but the stage is single-AZ")
    else:
        if cfg.aurora.reader_count < 1:
            fail("aurora.reader_count", "a Multi-AZ stage needs at least one reader in 2c")
        if cfg.cache.node_count < 2:
            fail("cache.node_count", "a Multi-AZ stage needs a primary and a replica")
    # After the AZ checks: they name the reader count, the root of most scaling errors.
    _validate_reader_scaling(cfg.aurora, cfg.name, policy)
    return cfg


def _validate_alb_exposure(cfg: StageConfig) -> None:
    """An ALB open to the internet has a WAF in front; only dev may trade it for a
    restriction to known ranges."""
    if cfg.kubernetes.waf_enabled:
        return
    if cfg.policy.production_like:
        fail("kubernetes.waf_enabled", f"{cfg.name} is internet-facing: it keeps its WAF")
    for index, cidr in enumerate(cfg.network.alb_ingress_cidrs):
        if ipaddress.IPv4Network(cidr).prefixlen == 0:
            fail(
                f"network.alb_ingress_cidrs[{index}]",
                "without a WAF (kubernetes.waf_enabled false) the ALB must not be open to "
                "0.0.0.0/0: list the office/VPN ranges",
            )


def _validate_sleep(cfg: StageConfig) -> None:
    sleep = cfg.sleep
    validate_stage_sleep(sleep, stage=cfg.name, never_sleeps=cfg.policy.serves_customers)
    if sleep.nat_instance_sleeps and cfg.network.nat_mode is not NatMode.INSTANCE:
        fail("sleep.nat_instance_sleeps", "only a NAT instance can be stopped (network.nat_mode)")
    fn = cfg.functions
    if sleep.nat_instance_sleeps and not (
        fn.report_schedule_hour.isdigit()
        and sleep.start_hour <= int(fn.report_schedule_hour) < sleep.stop_hour
        and fn.report_schedule_weekdays == sleep.weekdays
        and fn.schedule_time_zone == sleep.time_zone
    ):
        fail(
            "functions.report_schedule_hour",
            "the report reads its secret through the NAT instance, which sleeps outside "
            f"working hours: schedule it {sleep.weekdays} between {sleep.start_hour:02d}:00 "
            f"and {sleep.stop_hour:02d}:00 {sleep.time_zone} (report_schedule_weekdays too)",
        )


def validate_account_config(cfg: AccountConfig) -> AccountConfig:
    """Check the once-per-account settings (audit trail, its alarms); field paths start with
    ``account.`` so an error is not mistaken for a stage's."""
    try:
        validate_account(cfg.account)
    except StageConfigError:
        fail("account.account", f"{cfg.account!r} is not a 12-digit AWS account id")
    if cfg.region != REGION:
        fail("account.region", f"{cfg.region!r}: OpenMarket runs in {REGION}")
    # CloudTrail: 3-128 characters, letters, digits, '.', '_', '-', starting with one of them.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{2,127}", cfg.trail_name):
        fail("account.trail_name", f"{cfg.trail_name!r} is not a CloudTrail trail name")
    if not 1 <= cfg.trail_retention_days <= 36500:
        fail("account.trail_retention_days", "S3 Object Lock retention is 1..36500 days")
    if not 1 <= cfg.trail_glacier_after_days < cfg.trail_retention_days:
        fail("account.trail_glacier_after_days", "must come before the trail's expiry")
    check_retention(cfg.trail_log_group_retention_days, "account.trail_log_group_retention_days")
    if cfg.access_logs_expire_after_days < 1:
        fail("account.access_logs_expire_after_days", "must be at least 1 day")
    if not _EMAIL.fullmatch(cfg.alarm_email):
        fail("account.alarm_email", f"{cfg.alarm_email!r} is not an e-mail address")
    return cfg


def validate_account(account: str) -> str:
    if not re.fullmatch(r"\d{12}", account):
        fail("account", f"{account!r} is not a 12-digit AWS account id")
    return account


_AMI_ID = re.compile(r"ami-[0-9a-f]{8}([0-9a-f]{9})?")


def _validate_network(net: NetworkConfig) -> None:
    if not _AMI_ID.fullmatch(net.nat_instance_image_id):
        fail("network.nat_instance_image_id", f"{net.nat_instance_image_id!r} is not an AMI id")
    vpc = network(net.vpc_cidr, "network.vpc_cidr")
    if not 16 <= vpc.prefixlen <= 28:
        fail("network.vpc_cidr", "a VPC CIDR must be between /16 and /28")
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for group in ("public_subnet_cidrs", "private_subnet_cidrs", "database_subnet_cidrs"):
        cidrs = getattr(net, group)
        if len(cidrs) != len(AVAILABILITY_ZONES):
            fail(f"network.{group}", f"need one CIDR per AZ ({len(AVAILABILITY_ZONES)})")
        for index, cidr in enumerate(cidrs):
            path = f"network.{group}[{index}]"
            subnet = network(cidr, path)
            if not subnet.subnet_of(vpc):
                fail(path, f"{cidr} is outside the VPC {net.vpc_cidr}")
            for other_path, other in seen:
                if subnet.overlaps(other):
                    fail(path, f"{cidr} overlaps {other_path} ({other})")
            seen.append((path, subnet))
    service = network(net.service_cidr, "network.service_cidr")
    if service.overlaps(vpc):
        fail("network.service_cidr", f"{net.service_cidr} overlaps the VPC {net.vpc_cidr}")
    check_retention(net.flow_log_retention_days, "network.flow_log_retention_days")
    check_port(net.mysql_port, "network.mysql_port")
    check_port(net.redis_port, "network.redis_port")
    if not net.alb_ingress_cidrs:
        fail("network.alb_ingress_cidrs", "nobody could reach the ALB: list at least one CIDR")
    for index, cidr in enumerate(net.alb_ingress_cidrs):
        network(cidr, f"network.alb_ingress_cidrs[{index}]")


def _validate_storage(storage: StorageConfig) -> None:
    if storage.infrequent_access_after_days < 30:
        fail("storage.infrequent_access_after_days", "S3 allows Standard-IA from day 30")
    if storage.glacier_after_days <= storage.infrequent_access_after_days:
        fail("storage.glacier_after_days", "must come after the Standard-IA transition")
    if storage.noncurrent_versions_expire_after_days < 1:
        fail("storage.noncurrent_versions_expire_after_days", "must be at least 1 day")
    if storage.logs_expire_after_days <= storage.infrequent_access_after_days:
        fail("storage.logs_expire_after_days", "must come after the Standard-IA transition")
    if not 1 <= storage.ecr_keep_last_images <= 1000:
        fail("storage.ecr_keep_last_images", "must be between 1 and 1000")


def _validate_aurora(aurora: AuroraConfig, stage: str, policy: StagePolicy) -> None:
    if not re.fullmatch(r"3\.\d{2}\.\d+", aurora.engine_version):
        fail("aurora.engine_version", f"{aurora.engine_version!r} is not an Aurora MySQL 3 version")
    if aurora.capacity is AuroraCapacity.SERVERLESS_V2:
        if aurora.reader_count:
            fail("aurora.reader_count", "this project runs Serverless v2 as a single writer")
        if not 0 <= aurora.serverless_min_acu <= aurora.serverless_max_acu <= 256:
            fail("aurora.serverless_min_acu", "need 0 <= min ACU <= max ACU <= 256")
        if aurora.serverless_min_acu == 0 and not 5 <= aurora.auto_pause_minutes <= 1440:
            fail("aurora.auto_pause_minutes", "auto-pause must be 5..1440 minutes")
    elif not re.fullmatch(r"[a-z0-9]+\.[a-z0-9]+", aurora.instance_type):
        fail("aurora.instance_type", f"{aurora.instance_type!r} is not an instance type")
    if not 0 <= aurora.reader_count <= 15:
        fail("aurora.reader_count", "Aurora allows 0..15 readers")
    if not 7 <= aurora.backup_retention_days <= 35:
        fail("aurora.backup_retention_days", "keep backups 7..35 days (the original design: 7+)")
    if not 0 <= aurora.backtrack_hours <= 72:
        fail("aurora.backtrack_hours", "backtrack window is 0..72 hours")
    if aurora.backtrack_hours and aurora.capacity is AuroraCapacity.SERVERLESS_V2:
        fail("aurora.backtrack_hours", "backtrack is for provisioned clusters here")
    check_retention(aurora.log_retention_days, "aurora.log_retention_days")
    if policy.keeps_data and not (aurora.deletion_protection and aurora.snapshot_on_delete):
        fail("aurora.deletion_protection", f"{stage} must protect and snapshot its database")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,15}", aurora.admin_username):
        fail("aurora.admin_username", "1-16 letters, digits or '_', starting with a letter")


# A stage that serves customers (prod) keeps room for at least two readers beyond the
# original design's one under load.
PROD_MIN_MAX_READERS = 3


def _validate_reader_scaling(aurora: AuroraConfig, stage: str, policy: StagePolicy) -> None:
    if aurora.capacity is AuroraCapacity.SERVERLESS_V2 and aurora.max_reader_count:
        fail("aurora.max_reader_count", "Serverless v2 runs as a single writer here: set 0")
    if not aurora.reader_count <= aurora.max_reader_count <= 15:
        fail(
            "aurora.max_reader_count",
            f"{aurora.max_reader_count}: need reader_count ({aurora.reader_count}) <= max <= 15",
        )
    if policy.serves_customers and aurora.max_reader_count < PROD_MIN_MAX_READERS:
        fail("aurora.max_reader_count", f"{stage} may scale to at least {PROD_MIN_MAX_READERS}")
    if not 10 <= aurora.reader_target_cpu_percent <= 90:
        fail("aurora.reader_target_cpu_percent", "a CPU target in 10..90 %")
    for name in ("reader_scale_out_cooldown_minutes", "reader_scale_in_cooldown_minutes"):
        if not 1 <= getattr(aurora, name) <= 120:
            fail(f"aurora.{name}", "cooldowns are 1..120 minutes")


def _validate_cache(cache: CacheConfig) -> None:
    if cache.engine not in ("valkey", "redis"):
        fail("cache.engine", f"{cache.engine!r}: expected 'valkey' or 'redis'")
    major = cache.engine_version.split(".")[0]
    if not major.isdigit() or int(major) < 7:
        fail("cache.engine_version", "must be Redis 7 compatible (7.x or newer)")
    if not cache.node_type.startswith("cache."):
        fail("cache.node_type", f"{cache.node_type!r} is not an ElastiCache node type")
    if not 1 <= cache.node_count <= 6:
        fail("cache.node_count", "a replication group has 1..6 nodes")
    if not 0 <= cache.snapshot_retention_days <= 35:
        fail("cache.snapshot_retention_days", "must be 0..35 days")
    check_retention(cache.log_retention_days, "cache.log_retention_days")


def _validate_functions(fn: FunctionsConfig) -> None:
    for name, size in (
        ("image_processor", fn.image_processor),
        ("order_notification", fn.order_notification),
        ("report_generator", fn.report_generator),
        ("data_sync", fn.data_sync),
    ):
        if not 128 <= size.memory_mb <= 10240:
            fail(f"functions.{name}.memory_mb", "Lambda memory is 128..10240 MB")
        if not 1 <= size.timeout_s <= 900:
            fail(f"functions.{name}.timeout_s", "Lambda timeout is 1..900 s")
    if not re.fullmatch(r"[a-z]+=\d+(,[a-z]+=\d+)*", fn.thumbnail_sizes):
        fail("functions.thumbnail_sizes", "expected 'name=pixels,...', e.g. 'medium=800'")
    try:
        datetime.date.fromisoformat(fn.earliest_order_date)
    except ValueError:
        fail("functions.earliest_order_date", f"{fn.earliest_order_date!r} is not YYYY-MM-DD")
    if not 1 <= fn.jpeg_quality <= 95:
        fail("functions.jpeg_quality", "must be 1..95")
    if not _EMAIL.fullmatch(fn.sender_email):
        fail("functions.sender_email", f"{fn.sender_email!r} is not an e-mail address")
    if not 0 <= fn.async_retry_attempts <= 2:
        fail("functions.async_retry_attempts", "Lambda allows 0..2 async retries")
    if not 1 <= fn.max_event_age_minutes <= 360:
        fail("functions.max_event_age_minutes", "Lambda allows 1..360 minutes")
    if not 1 <= fn.dead_letter_retention_days <= 14:
        fail("functions.dead_letter_retention_days", "SQS keeps messages 1..14 days")
    if fn.data_sync_working_hours_only and fn.data_sync_every_minutes > 60:
        fail("functions.data_sync_every_minutes", "at most 60 when syncing in working hours only")
    if fn.data_sync_every_minutes not in (5, 10, 15, 20, 30, 60, 120, 180, 360, 720):
        fail("functions.data_sync_every_minutes", "pick a divisor-friendly interval, e.g. 60")
    check_retention(fn.log_retention_days, "functions.log_retention_days")


def _validate_observability(obs: ObservabilityConfig, stage: str) -> None:
    if not _EMAIL.fullmatch(obs.alarm_email):
        fail("observability.alarm_email", f"{obs.alarm_email!r} is not an e-mail address")
    for name in (
        "aurora_cpu_percent",
        "redis_memory_percent",
        "redis_hit_rate_percent",
        "alb_5xx_percent",
    ):
        if not 0 < getattr(obs, name) <= 100:
            fail(f"observability.{name}", "a percentage in (0, 100]")
    if obs.alb_p95_latency_seconds <= 0:
        fail("observability.alb_p95_latency_seconds", "must be positive")
    if obs.budget_usd_per_month <= 0:
        fail("observability.budget_usd_per_month", "must be positive")
    # The alarm looks at whole 5-minute periods; at least two heartbeats fit in its window, so
    # one late heartbeat never pages.
    if obs.heartbeat_missing_minutes % 5 or obs.heartbeat_missing_minutes < 10:
        fail("observability.heartbeat_missing_minutes", "a multiple of 5, at least 10")
    if not 1 <= obs.heartbeat_interval_minutes <= obs.heartbeat_missing_minutes // 2:
        fail(
            "observability.heartbeat_interval_minutes",
            "1 minute up to half of heartbeat_missing_minutes",
        )
    if not obs.heartbeat_missing_minutes <= obs.heartbeat_wake_grace_minutes <= 60:
        fail(
            "observability.heartbeat_wake_grace_minutes",
            "from heartbeat_missing_minutes up to 60: time for the monitoring to start",
        )


def _check_domain(name: str, field_path: str) -> None:
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(DNS_LABEL.fullmatch(x) for x in labels):
        fail(field_path, f"{name!r} is not a lower-case DNS name without a trailing dot")


def _validate_edge(edge: EdgeConfig | None, stage: str, policy: StagePolicy) -> None:
    if edge is None:
        if policy.production_like:
            fail("edge", f"{stage} serves HTTPS on its own domain: set edge in stages.py")
        return
    _check_domain(edge.domain_name, "edge.domain_name")
    _check_domain(edge.hosted_zone_name, "edge.hosted_zone_name")
    zone = edge.hosted_zone_name
    # Strictly inside: ExternalDNS's ownership records of an apex name ("a-<zone>") would
    # fall outside the zone.
    if not edge.domain_name.endswith(f".{zone}"):
        fail("edge.domain_name", f"{edge.domain_name!r} is not inside the hosted zone {zone!r}")
    if len(edge.domain_name.split(".")[0]) + _TXT_RECORD_TYPE_PREFIX > 63:
        fail("edge.domain_name", "its first label must leave room for ExternalDNS's 'aaaa-'")
    if not _HOSTED_ZONE_ID.fullmatch(edge.hosted_zone_id):
        fail(
            "edge.hosted_zone_id",
            f"{edge.hosted_zone_id!r} is not a Route 53 hosted zone id (Z + letters/digits)",
        )


def is_reserved_domain(name: str) -> bool:
    """Whether ``name`` is under a name no registry hands out (RFC 2606/6761)."""
    return any(name == r or name.endswith(f".{r}") for r in RESERVED_DOMAINS)


# Where a fork sets what the placeholders stand for.
STAGES_FILE = "openmarket_cdk/config/stages.py"
MODEL_FILE = "openmarket_cdk/config/model.py"


def _email_domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


def in_documentation_range(cidr: str) -> bool:
    """Whether ``cidr`` lies inside a range reserved for documentation (RFC 5737)."""
    net = ipaddress.ip_network(cidr, strict=False)
    return any(
        net.version == 4 and net.subnet_of(ipaddress.IPv4Network(doc))
        for doc in DOCUMENTATION_NETWORKS
    )


def deploy_blockers(cfg: StageConfig) -> list[str]:
    """Why ``cfg`` must not be deployed as it is: placeholders where a real value belongs.

    Synth accepts placeholders (templates and tests need no real zone or mailbox); a deploy
    with them would notify nobody, send no mail, wait on a certificate no DNS can validate,
    or build a stage nobody can reach. Each line names the setting and where to set it.
    """
    problems: list[str] = []

    def placeholder(setting: str, value: str, context_key: str, what: str) -> None:
        problems.append(
            f"{cfg.name}: {setting} is the placeholder {value!r} ({what}); set it in "
            f"{STAGES_FILE}, or in cdk.json's context / -c {context_key}=..."
        )

    if cfg.account == PLACEHOLDER_ACCOUNT:
        problems.append(
            f"{cfg.name}: account is the placeholder {cfg.account}; set OPENMARKET_ACCOUNT "
            "(or -c account=...) to the AWS account id"
        )
    obs = cfg.observability
    if is_reserved_domain(_email_domain(obs.alarm_email)):
        placeholder(
            "observability.alarm_email",
            obs.alarm_email,
            "alarm_email",
            "every alarm, the dead man's switch and the budget would notify nobody",
        )
    sender = cfg.functions.sender_email
    if is_reserved_domain(_email_domain(sender)):
        placeholder(
            "functions.sender_email",
            sender,
            "sender_email",
            "order e-mails are sent from it: a verified SES identity",
        )
    restricted = [
        (f"network.alb_ingress_cidrs[{i}]", cidr)
        for i, cidr in enumerate(cfg.network.alb_ingress_cidrs)
    ] + [
        (f"kubernetes.public_endpoint_cidrs[{i}]", cidr)
        for i, cidr in enumerate(cfg.kubernetes.public_endpoint_cidrs)
    ]
    for setting, cidr in restricted:
        if in_documentation_range(cidr):
            placeholder(
                setting,
                cidr,
                "office_cidrs",
                "a documentation range: nobody could browse the stage or reach its cluster; "
                "list the office/VPN ranges",
            )
    if cfg.network.nat_instance_count and cfg.network.nat_instance_image_id == PLACEHOLDER_IMAGE_ID:
        problems.append(
            f"{cfg.name}: network.nat_instance_image_id is the placeholder "
            f"{PLACEHOLDER_IMAGE_ID} (the NAT instance's pinned Amazon Linux 2023 image); set it "
            f"in {STAGES_FILE}, or in cdk.json's context / -c nat_instance_image_id=..., to the "
            "current image (make preflight prints it with credentials; docs/runbooks.md, "
            "'Updating the NAT instance image')"
        )
    for workload in cfg.kubernetes.workloads:
        if workload.image_tag in MOVING_IMAGE_TAGS:
            problems.append(
                f"{cfg.name}: kubernetes.{workload.name}.image_tag is {workload.image_tag!r}, "
                "a tag that moves: deploy a release tag (set it in "
                f"{STAGES_FILE}, or -c {workload.name}_image_tag=...)"
            )
    edge = cfg.edge
    if edge is not None:
        if is_reserved_domain(edge.domain_name):
            placeholder(
                "edge.domain_name",
                edge.domain_name,
                "domain",
                "no DNS could validate its certificate",
            )
        if is_reserved_domain(edge.hosted_zone_name):
            placeholder(
                "edge.hosted_zone_name",
                edge.hosted_zone_name,
                "hosted_zone_name",
                "the Route 53 zone's name",
            )
        if edge.hosted_zone_id == PLACEHOLDER_HOSTED_ZONE_ID:
            placeholder(
                "edge.hosted_zone_id",
                edge.hosted_zone_id,
                "hosted_zone_id",
                "the Route 53 zone's id, Z...",
            )
    return problems


def account_deploy_blockers(cfg: AccountConfig) -> list[str]:
    """The once-per-account settings' placeholders (the CIS alarms' e-mail)."""
    if is_reserved_domain(_email_domain(cfg.alarm_email)):
        return [
            f"account: alarm_email is the placeholder {cfg.alarm_email!r} (the CIS security "
            f"alarms would notify nobody); set it in {MODEL_FILE} (AccountConfig), or in "
            "cdk.json's context / -c security_alarm_email=..."
        ]
    return []
