"""The three stages: what dev, staging and prod change from the model's defaults."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from openmarket_cdk.config.account import AccountConfig
from openmarket_cdk.config.data import AuroraCapacity
from openmarket_cdk.config.edge import EdgeConfig
from openmarket_cdk.config.errors import fail
from openmarket_cdk.config.facts import (
    ACCOUNT_ENV_VAR,
    PLACEHOLDER_ACCOUNT,
    PLACEHOLDER_HOSTED_ZONE_ID,
    PLACEHOLDER_ZONE_NAME,
    STAGE_NAMES,
)
from openmarket_cdk.config.kubernetes import (
    NodeCapacity,
    Resources,
)
from openmarket_cdk.config.model import StageConfig
from openmarket_cdk.config.network import NatMode
from openmarket_cdk.config.policy import StagePolicy
from openmarket_cdk.config.validation import (
    validate_account,
    validate_account_config,
    validate_stage,
)

# Documentation range (TEST-NET-3) as a placeholder: set the office/VPN CIDR. Who may reach
# dev's API endpoint and its ALB (dev has no WAF: the ALB is restricted instead).
_DEV_OFFICE_CIDRS = ("203.0.113.0/24",)


def _dev(account: str) -> StageConfig:
    base = StageConfig(name="dev", account=account)
    return replace(
        base,
        # A development copy: its data may go with its stacks, and it trades production's
        # operating rules (on-demand nodes, WAF, own domain, all control-plane logs) for cost.
        policy=StagePolicy(keeps_data=False, production_like=False),
        termination_protection=False,
        multi_az=False,
        # dev is disposable: deleting its stacks removes its data too.
        retain_on_delete=False,
        # Cheapest way out for private subnets: one NAT instance (~$3/month vs ~$45).
        network=replace(
            base.network,
            nat_mode=NatMode.INSTANCE,
            flow_log_retention_days=7,
            alb_ingress_cidrs=_DEV_OFFICE_CIDRS,
        ),
        storage=replace(base.storage, ecr_keep_last_images=10),
        aurora=replace(
            base.aurora,
            capacity=AuroraCapacity.SERVERLESS_V2,
            reader_count=0,
            max_reader_count=0,
            serverless_min_acu=0.0,
            serverless_max_acu=2.0,
            log_retention_days=7,
            deletion_protection=False,
            snapshot_on_delete=False,
        ),
        observability=replace(
            base.observability,
            # Close to the floor of an EKS control plane, one ALB, Aurora and a cache.
            budget_usd_per_month=180.0,
        ),
        # Besides nodes and Aurora, the ALB and the NAT instance sleep too (~$27 a month):
        # dev's URL is the ALB's DNS name, new each morning (`make url STAGE=dev`).
        sleep=replace(
            base.sleep, enabled=True, load_balancer_sleeps=True, nat_instance_sleeps=True
        ),
        kubernetes=replace(
            base.kubernetes,
            # The original design's two nodes (dev's cost line) hold dev only with a smaller
            # Prometheus and Grafana request (limits unchanged): dev scrapes two nodes with no
            # real traffic.
            # Prefix delegation is what lets 2 nodes take dev's ~40 pods (17 each without).
            node_min_size=2,
            node_desired_size=2,
            # Spot (dev only): 60-70 % cheaper; two pools of the same shape.
            node_capacity=NodeCapacity.SPOT,
            spot_alternative_instance_types=("t3a.medium",),
            monitoring=replace(
                base.kubernetes.monitoring,
                # Two nodes and test traffic: 20Gi holds far more than 30 days (retention
                # by size below the volume, as in every stage).
                prometheus=replace(
                    base.kubernetes.monitoring.prometheus,
                    storage_size="20Gi",
                    retention_size="18GB",
                    resources=Resources("200m", "2000m", "512Mi", "4Gi"),
                ),
                grafana=replace(
                    base.kubernetes.monitoring.grafana,
                    resources=Resources("100m", "1000m", "256Mi", "2Gi"),
                ),
            ),
            all_control_plane_logs=False,
            control_plane_log_retention_days=7,
            application_log_retention_days=7,
            public_endpoint_cidrs=_DEV_OFFICE_CIDRS,
            # No WAF in dev: its ALB only answers the office/VPN ranges (and, for a smoke
            # test, the one address `make smoke` opens for its run).
            waf_enabled=False,
        ),
        cache=replace(
            base.cache,
            node_count=1,
            snapshot_retention_days=1,
            snapshot_on_delete=False,
            log_retention_days=7,
        ),
        # The original design's dev cost optimisation: every log group keeps 7 days (Lambda: 30
        # elsewhere).
        # data-sync only in working hours: its hourly run would wake Aurora all night.
        # The report reads its database secret through the NAT instance, which sleeps at
        # night: dev's runs on weekday mornings (and reports the previous day, as anywhere).
        functions=replace(
            base.functions,
            log_retention_days=7,
            data_sync_working_hours_only=True,
            report_schedule_hour="9",
            report_schedule_minute="30",
            report_schedule_weekdays="MON-FRI",
        ),
    )


def _staging(account: str) -> StageConfig:
    base = StageConfig(name="staging", account=account)
    return replace(
        base,
        # A NAT instance, as in dev (the original design's documented cheaper option, ~$7 vs
        # ~$48 a month): staging's egress was a single point already; the apps see the same path.
        network=replace(base.network, nat_mode=NatMode.INSTANCE, flow_log_retention_days=30),
        aurora=replace(
            base.aurora, backup_retention_days=7, backtrack_hours=24, max_reader_count=2
        ),
        cache=replace(base.cache, snapshot_retention_days=3),
        kubernetes=replace(
            base.kubernetes,
            application_log_retention_days=30,
            monitoring=replace(
                base.kubernetes.monitoring,
                prometheus=replace(
                    base.kubernetes.monitoring.prometheus,
                    storage_size="20Gi",
                    retention_size="18GB",
                ),
            ),
        ),
        observability=replace(base.observability, budget_usd_per_month=300.0),
        # Nobody uses staging at night: nodes to zero and Aurora stopped outside weekdays'
        # working hours; both come back at 08:00 KST so staging is ready by 09:00 (Aurora
        # takes minutes to start). `make wake STAGE=staging` for off-hours deploys.
        sleep=replace(base.sleep, enabled=True, start_hour=8),
        # Placeholders (reserved names): set the real ones before the first deploy.
        edge=EdgeConfig(
            domain_name=f"staging.{PLACEHOLDER_ZONE_NAME}",
            hosted_zone_id=PLACEHOLDER_HOSTED_ZONE_ID,
            hosted_zone_name=PLACEHOLDER_ZONE_NAME,
        ),
    )


def _prod(account: str) -> StageConfig:
    base = StageConfig(name="prod", account=account)
    return replace(
        base,
        policy=StagePolicy(serves_customers=True),
        network=replace(base.network, nat_mode=NatMode.GATEWAY_PER_AZ, flow_log_retention_days=90),
        aurora=replace(
            base.aurora,
            backup_retention_days=14,
            backtrack_hours=24,
            log_retention_days=90,
            max_reader_count=3,
        ),
        cache=replace(base.cache, snapshot_retention_days=7, log_retention_days=90),
        observability=replace(base.observability, budget_usd_per_month=700.0),
        # Placeholders (reserved names): set the real ones before the first deploy.
        edge=EdgeConfig(
            domain_name=f"shop.{PLACEHOLDER_ZONE_NAME}",
            hosted_zone_id=PLACEHOLDER_HOSTED_ZONE_ID,
            hosted_zone_name=PLACEHOLDER_ZONE_NAME,
        ),
    )


_BUILDERS: dict[str, Callable[[str], StageConfig]] = {
    "dev": _dev,
    "staging": _staging,
    "prod": _prod,
}


def resolve_account(context: Mapping[str, Any] | None = None) -> str:
    """The AWS account: context ``account``, else ``$OPENMARKET_ACCOUNT``, else a placeholder."""
    from_context = (context or {}).get("account")
    return validate_account(
        str(from_context or os.environ.get(ACCOUNT_ENV_VAR) or PLACEHOLDER_ACCOUNT)
    )


# Context keys that set the stage's edge (``-c domain=shop.example.com``); they apply to
# every stage being synthesized, so the app accepts them with one stage selected only.
EDGE_CONTEXT_KEYS: dict[str, str] = {
    "domain": "domain_name",
    "hosted_zone_id": "hosted_zone_id",
    "hosted_zone_name": "hosted_zone_name",
}


def with_edge_overrides(config: StageConfig, context: Mapping[str, Any]) -> StageConfig:
    """``config`` with its edge fields replaced by context values, validated.

    A stage without an edge in config (dev) needs all three keys; a stage with one may
    change any of them.
    """
    given = {
        field_name: str(context[key]).strip().lower().rstrip(".")
        for key, field_name in EDGE_CONTEXT_KEYS.items()
        if context.get(key)
    }
    if not given:
        return config
    if config.edge is None:
        missing = [key for key, field_name in EDGE_CONTEXT_KEYS.items() if field_name not in given]
        if missing:
            fail(
                "edge",
                f"{config.name} has no edge in config: with -c domain=... also give "
                + ", ".join(f"-c {key}=..." for key in missing),
            )
        edge = EdgeConfig(**given)
    else:
        edge = replace(config.edge, **given)
    if "hosted_zone_id" in given:
        # Zone ids are upper case; the lower-casing above is for the names.
        edge = replace(edge, hosted_zone_id=str(context["hosted_zone_id"]).strip().upper())
    return validate_stage(replace(config, edge=edge))


def stage_config(name: str, account: str = PLACEHOLDER_ACCOUNT) -> StageConfig:
    """The validated config of one stage; an unknown name raises ``StageConfigError``."""
    builder = _BUILDERS.get(name)
    if builder is None:
        fail("name", f"unknown stage {name!r}; expected one of {', '.join(STAGE_NAMES)}")
    return validate_stage(builder(account))


def all_stage_configs(account: str = PLACEHOLDER_ACCOUNT) -> list[StageConfig]:
    """dev, staging and prod, in deployment order."""
    return [stage_config(name, account) for name in STAGE_NAMES]


def account_config(account: str = PLACEHOLDER_ACCOUNT) -> AccountConfig:
    """The validated once-per-account settings (audit trail and its alarms)."""
    return validate_account_config(AccountConfig(account=account))
