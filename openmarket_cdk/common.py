"""Small helpers the stacks share: log retention, removal policies, buckets, secret grants,
weekday schedules."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy, Stack, TimeZone
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from openmarket_cdk.config import LOG_RETENTION_PERIODS, Resources, StageSleepConfig


def log_retention(days: int) -> logs.RetentionDays:
    """The CloudWatch Logs retention for a day count (config validated it already)."""
    return logs.RetentionDays[LOG_RETENTION_PERIODS[days]]


def pascal_case(name: str) -> str:
    """``image-processor`` -> ``ImageProcessor``: construct ids from kebab-case names."""
    return "".join(part.title() for part in name.split("-"))


def retain_or_destroy(retain: bool) -> RemovalPolicy:
    """RETAIN for stages whose data must survive a stack deletion, DESTROY for dev."""
    return RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY


def private_bucket() -> dict[str, Any]:
    """What every OpenMarket bucket has: all public access blocked, TLS only, versioned, ACLs
    off. ``s3.Bucket(..., **private_bucket(), ...)``."""
    return {
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "enforce_ssl": True,
        "versioned": True,
        "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    }


def grant_secret_read(
    grantee: iam.IGrantable, secret: secretsmanager.ISecret, key: kms.IKey
) -> None:
    """Let ``grantee`` read a CMK-encrypted secret that another stack owns.

    ``secret.grant_read`` would also edit the key's policy in the owning stack, which then
    depends on the grantee's stack: a cycle. The key policy already delegates to IAM (account
    root), so identity-based statements on the grantee are enough.
    """
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            resources=[secret.secret_arn],
        )
    )
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["kms:Decrypt"],
            resources=[key.key_arn],
            conditions={
                "StringEquals": {
                    "kms:ViaService": f"secretsmanager.{Stack.of(key).region}.amazonaws.com"
                }
            },
        )
    )


def weekday_schedule(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    hours: StageSleepConfig,
    hour: int,
    what: str,
    target: scheduler.IScheduleTarget,
    minute: int = 0,
) -> scheduler.Schedule:
    """A Scheduler schedule at ``hour:minute`` on the working weekdays, in the working hours'
    time zone: every sleep and wake of a stage (nodes, database, ALB, NAT instance)."""
    return scheduler.Schedule(
        scope,
        construct_id,
        schedule_name=name,
        description=f"Weekdays {hour:02d}:{minute:02d} {hours.time_zone}: {what}",
        schedule=scheduler.ScheduleExpression.cron(
            minute=str(minute),
            hour=str(hour),
            week_day=hours.weekdays,
            time_zone=TimeZone.of(hours.time_zone),
        ),
        target=target,
    )


def helm_resources(resources: Resources) -> dict[str, dict[str, str]]:
    """A chart's ``resources`` value (the Kubernetes shape) from config."""
    return {
        "requests": {"cpu": resources.cpu_request, "memory": resources.memory_request},
        "limits": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
    }
