"""The cache's parts around the replication group the data stack holds: its subnet group,
its AUTH token's shape, its slow-log delivery, and the reasons for what cdk-nag flags.

The replication group, its AUTH secret and its slow-log group are the data stack's direct
children (their logical IDs are pinned); these parts are given them.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from openmarket_cdk.constructs.network_subnets import DATABASE
from openmarket_cdk.nag import acknowledge


class CacheSubnetGroup(elasticache.CfnSubnetGroup):
    """The cache in the isolated database subnets."""

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, vpc: ec2.IVpc) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"{prefix} cache in the isolated database subnets",
            cache_subnet_group_name=f"{prefix}-cache",
            subnet_ids=vpc.select_subnets(subnet_group_name=DATABASE).subnet_ids,
        )


def auth_token() -> secretsmanager.SecretStringGenerator:
    """The AUTH token, as the ``password`` of the default user."""
    return secretsmanager.SecretStringGenerator(
        secret_string_template='{"username": "default"}',
        generate_string_key="password",
        # AUTH tokens allow printable ASCII but not @, " or /; letters and digits only.
        exclude_punctuation=True,
        password_length=64,
    )


def slow_log_delivery(
    log_group: logs.ILogGroup,
) -> list[elasticache.CfnReplicationGroup.LogDeliveryConfigurationRequestProperty]:
    """The slow log, as JSON, to ``log_group``."""
    group = elasticache.CfnReplicationGroup
    return [
        group.LogDeliveryConfigurationRequestProperty(
            destination_type="cloudwatch-logs",
            destination_details=group.DestinationDetailsProperty(
                cloud_watch_logs_details=group.CloudWatchLogsDestinationDetailsProperty(
                    log_group=log_group.log_group_name
                )
            ),
            log_format="json",
            log_type="slow-log",
        )
    ]


def acknowledge_cache(replication_group: elasticache.CfnReplicationGroup, multi_az: bool) -> None:
    """The cdk-nag findings on the cache the original design or the stage asks for."""
    acknowledge(
        replication_group,
        "AwsSolutions-AEC5",
        "The original design fixes Redis on 6379; reachable only from the app and "
        "functions security groups inside isolated subnets, with TLS and AUTH.",
    )
    if not multi_az:
        acknowledge(
            replication_group,
            "AwsSolutions-AEC4",
            "dev runs a single cache node to save cost; staging and prod are "
            "Multi-AZ with automatic failover.",
        )
