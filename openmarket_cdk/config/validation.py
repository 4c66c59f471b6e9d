"""Checks of a ``StageConfig``: the first bad value raises ``StageConfigError`` naming its
field (``kubernetes.backend.hpa_min_replicas``), so a wrong stage config fails ``cdk synth``
before any template is written; the charts trust the values they are given.

Each section's checks live next to the section (``network.py``, ``data.py``,
``kubernetes_validation.py``, ...); ``validate_stage`` runs them all and holds the rules that
span sections (AZ layout, ALB exposure, stage sleep). The account's checks and the deploy
blockers (placeholders ``make preflight`` refuses) are here too.
"""

from __future__ import annotations

import ipaddress
import re

from openmarket_cdk.config.account import AccountConfig
from openmarket_cdk.config.checks import EMAIL, check_retention
from openmarket_cdk.config.data import (
    validate_aurora,
    validate_cache,
    validate_reader_scaling,
)
from openmarket_cdk.config.edge import is_reserved_domain, validate_edge
from openmarket_cdk.config.errors import StageConfigError, fail
from openmarket_cdk.config.facts import (
    DOCUMENTATION_NETWORKS,
    MOVING_IMAGE_TAGS,
    PLACEHOLDER_ACCOUNT,
    PLACEHOLDER_HOSTED_ZONE_ID,
    PLACEHOLDER_IMAGE_ID,
    REGION,
    STAGE_NAMES,
)
from openmarket_cdk.config.functions import validate_functions
from openmarket_cdk.config.kubernetes_validation import validate_kubernetes
from openmarket_cdk.config.model import StageConfig
from openmarket_cdk.config.network import NatMode, validate_network
from openmarket_cdk.config.observability import validate_observability
from openmarket_cdk.config.storage import validate_storage
from openmarket_cdk.stage_sleep.config import validate_stage_sleep


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
    validate_network(cfg.network)
    validate_storage(cfg.storage)
    validate_aurora(cfg.aurora, cfg.name, policy)
    validate_cache(cfg.cache)
    validate_kubernetes(cfg.kubernetes, cfg.name, policy)
    validate_functions(cfg.functions)
    validate_observability(cfg.observability, cfg.name)
    validate_edge(cfg.edge, cfg.name, policy)
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
    validate_reader_scaling(cfg.aurora, cfg.name, policy)
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
    if not EMAIL.fullmatch(cfg.alarm_email):
        fail("account.alarm_email", f"{cfg.alarm_email!r} is not an e-mail address")
    return cfg


def validate_account(account: str) -> str:
    if not re.fullmatch(r"\d{12}", account):
        fail("account", f"{account!r} is not a 12-digit AWS account id")
    return account


# Where a fork sets what the placeholders stand for.
STAGES_FILE = "openmarket_cdk/config/stages.py"
ACCOUNT_FILE = "openmarket_cdk/config/account.py"


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
            f"alarms would notify nobody); set it in {ACCOUNT_FILE} (AccountConfig), or in "
            "cdk.json's context / -c security_alarm_email=..."
        ]
    return []
