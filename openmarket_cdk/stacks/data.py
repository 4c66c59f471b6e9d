"""DataStack: Aurora MySQL 3 and ElastiCache (Valkey) in the isolated database subnets."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from openmarket_cdk.common import log_retention, retain_or_destroy
from openmarket_cdk.config import AuroraCapacity, StageConfig
from openmarket_cdk.constructs.data_aurora import (
    AuroraParameters,
    AuroraReaderScaling,
    acknowledge_aurora,
    aurora_engine,
    aurora_instances,
)
from openmarket_cdk.constructs.data_cache import (
    CacheSubnetGroup,
    acknowledge_cache,
    auth_token,
    slow_log_delivery,
)
from openmarket_cdk.constructs.network_subnets import DATABASE
from openmarket_cdk.nag import acknowledge

# Aurora MySQL log types exported to CloudWatch Logs. The general log is left out on purpose:
# it records every statement, costs more than the database in log ingestion, and the audit
# log already covers connections and DDL/DCL.
AURORA_LOG_EXPORTS = ("audit", "error", "slowquery")


class DataStack(Stack):
    """The OpenMarket databases: Aurora MySQL (orders, products, users) and a Redis cache.

    Deploys, in the isolated database subnets of the stage's VPC:
    - an Aurora MySQL 3 cluster (MySQL-compatible), KMS-encrypted, TLS required, credentials
      generated in Secrets Manager. staging/prod: provisioned writer in 2a and
      reader in 2c, more readers by Application Auto Scaling on reader CPU (up to the
      configured maximum), deletion protection, snapshot on delete; dev: one Serverless v2 writer
      that scales to zero and pauses when idle;
    - an ElastiCache replication group (Valkey, Redis 7 compatible) with TLS in transit,
      encryption at rest and an AUTH token from Secrets Manager. staging/prod: primary in 2a
      and replica in 2c, Multi-AZ with automatic failover; dev: a single node.

    The stateful resources (key, secrets, log groups, cluster, replication group) are the
    stack's direct children, so their logical IDs never depend on how the parts are arranged.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        vpc: ec2.IVpc,
        database_security_group: ec2.ISecurityGroup,
        cache_security_group: ec2.ISecurityGroup,
        **kwargs: Any,
    ):
        super().__init__(scope, construct_id, **kwargs)
        removal = retain_or_destroy(config.retain_on_delete)
        # Concrete (not a token): the dashboard derives the member node ids from it.
        self.cache_replication_group_id = f"{config.names.prefix}-cache"
        self.key = kms.Key(
            self,
            "DataKey",
            alias=f"alias/{config.names.prefix}/data",
            description=f"Encrypts {config.names.prefix} Aurora storage, cache and their secrets",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        self.aurora_secret, self.aurora = self._aurora(config, vpc, database_security_group)
        self.cache_auth_secret, self.cache = self._cache(config, vpc, cache_security_group)

    # --- Aurora -----------------------------------------------------------------------------
    def _aurora(
        self, config: StageConfig, vpc: ec2.IVpc, security_group: ec2.ISecurityGroup
    ) -> tuple[rds.DatabaseSecret, rds.DatabaseCluster]:
        aurora = config.aurora
        removal = retain_or_destroy(config.retain_on_delete)
        engine = aurora_engine(aurora)
        parameters = AuroraParameters(
            self, "AuroraParameters", engine=engine, prefix=config.names.prefix
        )
        serverless = aurora.capacity is AuroraCapacity.SERVERLESS_V2
        writer, readers = aurora_instances(aurora, config.availability_zones)
        cluster_identifier = config.names.aurora_cluster_identifier
        admin_secret = rds.DatabaseSecret(
            self,
            "AuroraAdminSecret",
            username=aurora.admin_username,
            secret_name=config.names.aurora_secret_name,
            encryption_key=self.key,
        )
        # No scheduled rotation: the backend and the VPC functions log in with this user and
        # read the password once (environment variables, connection pools), and single-user
        # rotation invalidates the old password at once. Rotation is a runbook step that
        # restarts the readers (docs/runbooks.md); a separate app user with multi-user
        # rotation is the way to automate it.
        acknowledge(
            admin_secret,
            "AwsSolutions-SMG4",
            "Rotated by runbook with a rolling restart of its readers: single-user rotation "
            "would cut the running backend off the database until pods restart.",
        )
        # The admin secret outlives a deleted cluster in staging/prod, next to its snapshot.
        admin_secret.apply_removal_policy(removal)
        # Log groups RDS would otherwise create without retention: made here, with retention
        # from config and no LogRetention custom-resource Lambda. The cluster waits for them.
        export_log_groups = [
            logs.LogGroup(
                self,
                f"AuroraLog{log_type.title()}",
                log_group_name=f"/aws/rds/cluster/{cluster_identifier}/{log_type}",
                retention=log_retention(aurora.log_retention_days),
                removal_policy=removal,
            )
            for log_type in AURORA_LOG_EXPORTS
        ]
        cluster = rds.DatabaseCluster(
            self,
            "Aurora",
            engine=engine,
            cluster_identifier=cluster_identifier,
            credentials=rds.Credentials.from_secret(admin_secret),
            default_database_name=aurora.database_name,
            writer=writer,
            readers=readers,
            serverless_v2_min_capacity=aurora.serverless_min_acu if serverless else None,
            serverless_v2_max_capacity=aurora.serverless_max_acu if serverless else None,
            serverless_v2_auto_pause_duration=Duration.minutes(aurora.auto_pause_minutes)
            if serverless and aurora.serverless_min_acu == 0
            else None,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_group_name=DATABASE),
            security_groups=[security_group],
            port=config.network.mysql_port,
            parameter_group=parameters,
            storage_encrypted=True,
            storage_encryption_key=self.key,
            iam_authentication=True,
            backup=rds.BackupProps(
                retention=Duration.days(aurora.backup_retention_days),
                preferred_window=aurora.preferred_backup_window,
            ),
            backtrack_window=Duration.hours(aurora.backtrack_hours)
            if aurora.backtrack_hours
            else None,
            cloudwatch_logs_exports=list(AURORA_LOG_EXPORTS),
            deletion_protection=aurora.deletion_protection,
            copy_tags_to_snapshot=True,
            # Never drift into paid RDS Extended Support when a version reaches end of life.
            engine_lifecycle_support=rds.EngineLifecycleSupport.OPEN_SOURCE_RDS_EXTENDED_SUPPORT_DISABLED,
            removal_policy=RemovalPolicy.SNAPSHOT if aurora.snapshot_on_delete else removal,
        )
        for log_group in export_log_groups:
            cluster.node.add_dependency(log_group)
        if not serverless and aurora.max_reader_count > aurora.reader_count:
            self.reader_scaling = AuroraReaderScaling(
                self, "AuroraReaderScaling", aurora=aurora, cluster=cluster, account=config.account
            )
        acknowledge_aurora(cluster, aurora)
        return admin_secret, cluster

    # --- ElastiCache ------------------------------------------------------------------------
    def _cache(
        self, config: StageConfig, vpc: ec2.IVpc, security_group: ec2.ISecurityGroup
    ) -> tuple[secretsmanager.Secret, elasticache.CfnReplicationGroup]:
        cache = config.cache
        removal = retain_or_destroy(config.retain_on_delete)
        auth_secret = secretsmanager.Secret(
            self,
            "CacheAuthSecret",
            secret_name=config.names.cache_secret_name,
            description=f"AUTH token of the {config.names.prefix} cache",
            encryption_key=self.key,
            generate_secret_string=auth_token(),
            removal_policy=removal,
        )
        acknowledge(
            auth_secret,
            "AwsSolutions-SMG4",
            "ElastiCache AUTH tokens rotate with the ROTATE/SET strategy on the "
            "replication group, not a Secrets Manager rotation Lambda; see the secret "
            "rotation runbook.",
        )
        subnet_group = CacheSubnetGroup(
            self, "CacheSubnetGroup", prefix=config.names.prefix, vpc=vpc
        )
        slow_log = logs.LogGroup(
            self,
            "CacheSlowLog",
            log_group_name=f"/aws/elasticache/{config.names.prefix}/slow-log",
            retention=log_retention(cache.log_retention_days),
            removal_policy=removal,
        )
        multi_az = cache.node_count > 1
        replication_group = elasticache.CfnReplicationGroup(
            self,
            "Cache",
            replication_group_id=self.cache_replication_group_id,
            replication_group_description=(
                f"{config.names.prefix} cache (sessions, stock, hot products)"
            ),
            engine=cache.engine,
            engine_version=cache.engine_version,
            cache_node_type=cache.node_type,
            num_cache_clusters=cache.node_count,
            preferred_cache_cluster_a_zs=list(config.availability_zones[: cache.node_count]),
            automatic_failover_enabled=multi_az,
            multi_az_enabled=multi_az,
            cache_subnet_group_name=subnet_group.ref,
            security_group_ids=[security_group.security_group_id],
            port=config.network.redis_port,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            kms_key_id=self.key.key_id,
            # A CloudFormation dynamic reference: the token itself never enters the template.
            auth_token=auth_secret.secret_value_from_json("password").unsafe_unwrap(),
            snapshot_retention_limit=cache.snapshot_retention_days,
            snapshot_window=cache.snapshot_window,
            preferred_maintenance_window=cache.maintenance_window,
            auto_minor_version_upgrade=True,
            log_delivery_configurations=slow_log_delivery(slow_log),
        )
        replication_group.apply_removal_policy(
            RemovalPolicy.SNAPSHOT if cache.snapshot_on_delete else removal
        )
        acknowledge_cache(replication_group, multi_az)
        return auth_secret, replication_group
