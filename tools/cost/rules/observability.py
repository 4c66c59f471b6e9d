"""Observability: CloudWatch log groups, alarms and dashboards, AWS Budgets, SNS.

A log group's ingestion depends on what writes to it (EKS control plane log types, flow
logs as vended logs, functions, Aurora, the cache), so the rule reads its name and the
stage's facts; storage is counted for the retention, at most the first year.
"""

from __future__ import annotations

import re

from tools.assembly import Resource, as_number, flatten
from tools.cost.context import StageContext
from tools.cost.hours import DAYS_PER_MONTH
from tools.cost.model import Outcome
from tools.cost.rules.base import Service

EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
_EKS_CONTROL_PLANE = re.compile(r"^/aws/eks/(?P<cluster>[^/]+)/cluster$")
_LOG_KINDS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"^/aws/containerinsights/[^/]+/application$"),
        "logs_eks_application_gb",
        "container logs",
    ),
    (
        re.compile(r"^/aws/containerinsights/[^/]+/(dataplane|host)$"),
        "logs_eks_node_gb",
        "node logs",
    ),
    (
        re.compile(r"^/aws/containerinsights/[^/]+/performance$"),
        "logs_container_insights_performance_gb",
        "Container Insights performance events",
    ),
    (re.compile(r"^/aws/vpc/|flow-?logs?", re.IGNORECASE), "logs_vpc_flow_gb", "VPC flow logs"),
    (re.compile(r"^/aws/lambda/"), "logs_lambda_app_gb", "function logs"),
    (re.compile(r"^/aws/rds/.*/audit$"), "logs_rds_audit_gb", "Aurora audit log"),
    (re.compile(r"^/aws/rds/"), "logs_rds_other_gb", "Aurora log"),
    (re.compile(r"^/aws/elasticache/"), "logs_elasticache_gb", "cache log"),
)


def log_group(r: Resource, ctx: StageContext) -> list[Outcome]:
    name = flatten(r.prop("LogGroupName")) or f"(generated) {r.logical_id}"
    c = ctx.calc()
    vended = r.address in ctx.flow_log_groups
    notes: list[str] = []
    if name in ctx.deploy_time_log_groups or any(
        target.address in ctx.deploy_time_functions
        for target in ctx.assembly.targets(r.stack, r.prop("LogGroupName"))
    ):
        kind, gigabytes = "deploy-time function log", c.assume("logs_deploy_time_lambda_gb")
    elif vended:
        kind, gigabytes = "VPC flow logs", c.assume("logs_vpc_flow_gb")
    elif match := _EKS_CONTROL_PLANE.match(name):
        types = ctx.eks_log_types.get(match.group("cluster"))
        if types is None:
            types = list(EKS_LOG_TYPES)
            notes.append("cluster not found in the stage: all five log types assumed")
        gigabytes = 0.0
        for log_type in types:
            if log_type in EKS_LOG_TYPES:
                gigabytes += c.assume(f"eks_log_{log_type}_gb")
            else:
                gigabytes += c.assume("logs_default_gb")
                notes.append(f"log type {log_type!r} has no figure of its own: default used")
        kind = "EKS control plane (" + ", ".join(types) + ")"
    else:
        for pattern, key, label in _LOG_KINDS:
            if pattern.search(name):
                kind, gigabytes = label, c.assume(key)
                vended = key == "logs_vpc_flow_gb"
                break
        else:
            kind, gigabytes = "log group of no known kind", c.assume("logs_default_gb")
    if r.prop("LogGroupClass") == "INFREQUENT_ACCESS":
        ingest_key = "logs.ingestion_gb_infrequent_access"
    elif vended:
        ingest_key = "logs.vended_ingestion_gb"
    else:
        ingest_key = "logs.ingestion_gb"
    retention = as_number(r.prop("RetentionInDays"), 0)
    kept_days = min(retention, 365.0) if retention else 365.0
    if not retention or retention > 365:
        notes.append("storage counted for the first year of retention")
    stored = gigabytes * kept_days / DAYS_PER_MONTH
    usd = gigabytes * c.price(ingest_key) + stored * c.price("logs.storage_gb_month")
    return [
        c.item(
            r,
            "CloudWatch",
            f"log group {name} ({kind})",
            f"{gigabytes:g} GB/month in, ~{stored:.1f} GB kept ({retention:g} d)",
            usd,
            notes,
        )
    ]


def cloudwatch_alarm(r: Resource, ctx: StageContext) -> list[Outcome]:
    metrics = r.prop("Metrics")
    high_resolution = as_number(r.prop("Period"), 60) < 60
    if isinstance(metrics, list) and metrics:
        stats = [m for m in metrics if isinstance(m, dict) and "MetricStat" in m]
        count = len(stats) or 1
        high_resolution = high_resolution or any(
            as_number(m["MetricStat"].get("Period"), 60) < 60 for m in stats
        )
        if any("ANOMALY_DETECTION_BAND" in str(m.get("Expression", "")) for m in metrics):
            count *= 3
    else:
        count = 1
    c = ctx.calc()
    key = "cloudwatch.alarm_metric_month" + ("_high_resolution" if high_resolution else "")
    usd = count * c.price(key)
    name = flatten(r.prop("AlarmName")) or r.logical_id
    return [c.item(r, "CloudWatch", f"alarm {name}", f"{count} metric(s)", usd)]


def composite_alarm(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    name = flatten(r.prop("AlarmName")) or r.logical_id
    usd = c.price("cloudwatch.composite_alarm_month")
    return [c.item(r, "CloudWatch", f"composite alarm {name}", "1", usd)]


def dashboard(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    usd = c.price("cloudwatch.dashboard_month")
    name = flatten(r.prop("DashboardName")) or r.logical_id
    return [c.item(r, "CloudWatch", f"dashboard {name}", "1", usd)]


def budget(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    usd = c.price("budgets.budget_day") * DAYS_PER_MONTH
    return [
        c.item(
            r,
            "other",
            "AWS Budgets budget",
            f"{DAYS_PER_MONTH:.1f} days",
            usd,
            ["free if it is one of the account's first two budgets"],
        )
    ]


SERVICE = Service(
    name="observability",
    rules={
        "AWS::Logs::LogGroup": log_group,
        "AWS::CloudWatch::Alarm": cloudwatch_alarm,
        "AWS::CloudWatch::CompositeAlarm": composite_alarm,
        "AWS::CloudWatch::Dashboard": dashboard,
        "AWS::Budgets::Budget": budget,
    },
    free={
        "AWS::Logs::ResourcePolicy": "no charge",
        "AWS::SNS::Topic": (
            "no charge per topic; alarm and budget notifications ($0.50/M publishes, e-mail "
            "$2/100k after the free 1,000) round to $0"
        ),
        "AWS::SNS::TopicPolicy": "no charge",
        "AWS::SNS::Subscription": "no charge (deliveries: see the topic)",
    },
)
