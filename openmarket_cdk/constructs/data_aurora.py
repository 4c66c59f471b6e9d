"""Aurora's parts around the cluster the data stack holds: engine, instances, parameters,
reader autoscaling, and the reasons for what cdk-nag flags.

The cluster, its admin secret and its log groups are the data stack's direct children
(their logical IDs are pinned); these parts are given them.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from constructs import Construct

from openmarket_cdk.config import AuroraCapacity, AuroraConfig
from openmarket_cdk.config.pins import AURORA_MYSQL_MAJOR
from openmarket_cdk.nag import acknowledge


def aurora_engine(aurora: AuroraConfig) -> rds.IClusterEngine:
    """Aurora MySQL 3 at the configured engine version (config/pins.py)."""
    return rds.DatabaseClusterEngine.aurora_mysql(
        version=rds.AuroraMysqlEngineVersion.of(
            f"{AURORA_MYSQL_MAJOR}.mysql_aurora.{aurora.engine_version}", AURORA_MYSQL_MAJOR
        )
    )


class AuroraParameters(rds.ParameterGroup):
    """The cluster parameters: TLS only, the audit and slow-query logs switched on."""

    def __init__(
        self, scope: Construct, construct_id: str, *, engine: rds.IClusterEngine, prefix: str
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            engine=engine,
            description=f"{prefix} Aurora MySQL cluster parameters",
            parameters={
                "require_secure_transport": "ON",
                # Needed for the audit log export to contain anything.
                "server_audit_logging": "1",
                "server_audit_events": "CONNECT,QUERY_DDL,QUERY_DCL",
                "slow_query_log": "1",
                "long_query_time": "1",
            },
        )


def aurora_instances(
    aurora: AuroraConfig, availability_zones: tuple[str, ...]
) -> tuple[rds.IClusterInstance, list[rds.IClusterInstance]]:
    """The writer and the readers the template holds: one Serverless v2 writer, or a
    provisioned writer in the first AZ and its readers in the second."""
    if aurora.capacity is AuroraCapacity.SERVERLESS_V2:
        return rds.ClusterInstance.serverless_v2("writer", auto_minor_version_upgrade=True), []
    instance_type = ec2.InstanceType(aurora.instance_type)
    writer = rds.ClusterInstance.provisioned(
        "writer",
        instance_type=instance_type,
        availability_zone=availability_zones[0],
        auto_minor_version_upgrade=True,
    )
    readers = [
        rds.ClusterInstance.provisioned(
            f"reader{index + 1}",
            instance_type=instance_type,
            availability_zone=availability_zones[1],
            # Tier 1: the first choice for promotion when the writer fails.
            promotion_tier=1,
            auto_minor_version_upgrade=True,
        )
        for index in range(aurora.reader_count)
    ]
    return writer, readers


class AuroraReaderScaling(appscaling.ScalableTarget):
    """Aurora Auto Scaling: readers from ``reader_count`` (the ones in the template, never
    removed) up to ``max_reader_count``, tracking the readers' average CPU.

    Added readers are instances Aurora creates itself, with the writer's class; they are
    not in this template, so alarms and the dashboard watch readers by cluster and role.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        aurora: AuroraConfig,
        cluster: rds.DatabaseCluster,
        account: str,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            service_namespace=appscaling.ServiceNamespace.RDS,
            scalable_dimension="rds:cluster:ReadReplicaCount",
            resource_id=f"cluster:{cluster.cluster_identifier}",
            min_capacity=aurora.reader_count,
            max_capacity=aurora.max_reader_count,
            # RDS scaling runs as its service-linked role (created on first registration);
            # without this CDK would make a role of its own with no RDS permissions.
            role=iam.Role.from_role_arn(
                scope,
                f"{construct_id}ServiceRole",
                f"arn:aws:iam::{account}:role/aws-service-role/"
                "rds.application-autoscaling.amazonaws.com/"
                "AWSServiceRoleForApplicationAutoScaling_RDSCluster",
                mutable=False,
            ),
        )
        # Registered once the instances it scales around exist (a target on a cluster whose
        # writer is still being created has nothing to count).
        self.node.add_dependency(cluster)
        self.scale_to_track_metric(
            "ReaderCpu",
            target_value=aurora.reader_target_cpu_percent,
            predefined_metric=appscaling.PredefinedMetric.RDS_READER_AVERAGE_CPU_UTILIZATION,
            scale_out_cooldown=Duration.minutes(aurora.reader_scale_out_cooldown_minutes),
            scale_in_cooldown=Duration.minutes(aurora.reader_scale_in_cooldown_minutes),
        )


def acknowledge_aurora(cluster: rds.DatabaseCluster, aurora: AuroraConfig) -> None:
    """The cdk-nag findings on the cluster the original design or the stage asks for."""
    acknowledge(
        cluster,
        "AwsSolutions-RDS11",
        "The original design fixes MySQL on 3306; the port is reachable only from the app "
        "and functions security groups inside isolated subnets.",
    )
    if not aurora.deletion_protection:
        acknowledge(
            cluster,
            "AwsSolutions-RDS10",
            "dev is disposable (make destroy); staging and prod have deletion "
            "protection, enforced by config validation.",
        )
    if not aurora.backtrack_hours:
        acknowledge(
            cluster,
            "AwsSolutions-RDS14",
            "dev runs Serverless v2 and restores from automated backups instead.",
        )
