"""DataStack: Aurora MySQL 3 and ElastiCache (Valkey) in the isolated database subnets."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from openmarket_cdk.common import log_retention, retain_or_destroy
from openmarket_cdk.config import AuroraCapacity, AuroraConfig, CacheConfig, StageConfig
from openmarket_cdk.nag import acknowledge
from openmarket_cdk.stacks.network import DATABASE

# Aurora MySQL log types exported to CloudWatch Logs. The general log is left out on purpose:
# it records every statement, costs more than the database in log ingestion, and the audit
# log already covers connections and DDL/DCL.
AURORA_LOG_EXPORTS = ("audit", "error", "slowquery")


class DataStack(Stack):
    """The OpenMarket databases: Aurora MySQL (orders, products, users) and a Redis cache.

    Deploys, in the isolated database subnets of the stage's VPC:
    - an Aurora MySQL 3 cluster (8.0 compatible), KMS-encrypted, TLS required, credentials
      generated in Secrets Manager. staging/prod: provisioned writer in 2a and
      reader in 2c, more readers by Application Auto Scaling on reader CPU (up to the
      configured maximum), deletion protection, snapshot on delete; dev: one Serverless v2 writer
      that scales to zero and pauses when idle;
    - an ElastiCache replication group (Valkey, Redis 7 compatible) with TLS in transit,
      encryption at rest and an AUTH token from Secrets Manager. staging/prod: primary in 2a
      and replica in 2c, Multi-AZ with automatic failover; dev: a single node.
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
        self._config = config
        # Concrete (not a token): the dashboard derives the member node ids from it.
        self.cache_replication_group_id = f"{config.prefix}-cache"
        self.key = kms.Key(
            self,
            "DataKey",
            alias=f"alias/{config.prefix}/data",
            description=f"Encrypts {config.prefix} Aurora storage, cache and their secrets",
            enable_key_rotation=True,
            removal_policy=retain_or_destroy(config.retain_on_delete),
        )
        self.aurora = self._aurora(config.aurora, vpc, database_security_group)
        self.cache_auth_secret, self.cache = self._cache(config.cache, vpc, cache_security_group)

    # --- Aurora -----------------------------------------------------------------------------
    def _aurora(
        self,
        aurora: AuroraConfig,
        vpc: ec2.IVpc,
        security_group: ec2.ISecurityGroup,
    ) -> rds.DatabaseCluster:
        cfg = self._config
        engine = rds.DatabaseClusterEngine.aurora_mysql(
            version=rds.AuroraMysqlEngineVersion.of(
                f"8.0.mysql_aurora.{aurora.engine_version}", "8.0"
            )
        )
        parameter_group = rds.ParameterGroup(
            self,
            "AuroraParameters",
            engine=engine,
            description=f"{cfg.prefix} Aurora MySQL cluster parameters",
            parameters={
                "require_secure_transport": "ON",
                # Needed for the audit log export to contain anything.
                "server_audit_logging": "1",
                "server_audit_events": "CONNECT,QUERY_DDL,QUERY_DCL",
                "slow_query_log": "1",
                "long_query_time": "1",
            },
        )
        serverless = aurora.capacity is AuroraCapacity.SERVERLESS_V2
        if serverless:
            writer = rds.ClusterInstance.serverless_v2("writer", auto_minor_version_upgrade=True)
            readers: list[rds.IClusterInstance] = []
        else:
            instance_type = ec2.InstanceType(aurora.instance_type)
            writer = rds.ClusterInstance.provisioned(
                "writer",
                instance_type=instance_type,
                availability_zone=cfg.availability_zones[0],
                auto_minor_version_upgrade=True,
            )
            readers = [
                rds.ClusterInstance.provisioned(
                    f"reader{index + 1}",
                    instance_type=instance_type,
                    availability_zone=cfg.availability_zones[1],
                    # Tier 1: the first choice for promotion when the writer fails.
                    promotion_tier=1,
                    auto_minor_version_upgrade=True,
                )
                for index in range(aurora.reader_count)
            ]
        removal = (
            RemovalPolicy.SNAPSHOT
            if aurora.snapshot_on_delete
            else retain_or_destroy(cfg.retain_on_delete)
        )
        cluster_identifier = cfg.aurora_cluster_identifier
        admin_secret = rds.DatabaseSecret(
            self,
            "AuroraAdminSecret",
            username=aurora.admin_username,
            secret_name=cfg.aurora_secret_name,
            encryption_key=self.key,
        )
        self.aurora_secret = admin_secret
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
        admin_secret.apply_removal_policy(retain_or_destroy(cfg.retain_on_delete))
        # Log groups RDS would otherwise create without retention: made here, with retention
        # from config and no LogRetention custom-resource Lambda. The cluster waits for them.
        export_log_groups = [
            logs.LogGroup(
                self,
                f"AuroraLog{log_type.title()}",
                log_group_name=f"/aws/rds/cluster/{cluster_identifier}/{log_type}",
                retention=log_retention(aurora.log_retention_days),
                removal_policy=retain_or_destroy(cfg.retain_on_delete),
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
            port=cfg.network.mysql_port,
            parameter_group=parameter_group,
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
            removal_policy=removal,
        )
        for log_group in export_log_groups:
            cluster.node.add_dependency(log_group)
        if not serverless and aurora.max_reader_count > aurora.reader_count:
            self.reader_scaling = self._reader_autoscaling(aurora, cluster)
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
        return cluster

    def _reader_autoscaling(
        self, aurora: AuroraConfig, cluster: rds.DatabaseCluster
    ) -> appscaling.ScalableTarget:
        """Aurora Auto Scaling: readers from ``reader_count`` (the ones above, never removed)
        up to ``max_reader_count``, tracking the readers' average CPU.

        Added readers are instances Aurora creates itself, with the writer's class; they are
        not in this template, so alarms and the dashboard watch readers by cluster and role.
        """
        target = appscaling.ScalableTarget(
            self,
            "AuroraReaderScaling",
            service_namespace=appscaling.ServiceNamespace.RDS,
            scalable_dimension="rds:cluster:ReadReplicaCount",
            resource_id=f"cluster:{cluster.cluster_identifier}",
            min_capacity=aurora.reader_count,
            max_capacity=aurora.max_reader_count,
            # RDS scaling runs as its service-linked role (created on first registration);
            # without this CDK would make a role of its own with no RDS permissions.
            role=iam.Role.from_role_arn(
                self,
                "AuroraReaderScalingServiceRole",
                f"arn:aws:iam::{self._config.account}:role/aws-service-role/"
                "rds.application-autoscaling.amazonaws.com/"
                "AWSServiceRoleForApplicationAutoScaling_RDSCluster",
                mutable=False,
            ),
        )
        # Registered once the instances it scales around exist (a target on a cluster whose
        # writer is still being created has nothing to count).
        target.node.add_dependency(cluster)
        target.scale_to_track_metric(
            "ReaderCpu",
            target_value=aurora.reader_target_cpu_percent,
            predefined_metric=appscaling.PredefinedMetric.RDS_READER_AVERAGE_CPU_UTILIZATION,
            scale_out_cooldown=Duration.minutes(aurora.reader_scale_out_cooldown_minutes),
            scale_in_cooldown=Duration.minutes(aurora.reader_scale_in_cooldown_minutes),
        )
        return target

    # --- ElastiCache ------------------------------------------------------------------------
    def _cache(
        self, cache: CacheConfig, vpc: ec2.IVpc, security_group: ec2.ISecurityGroup
    ) -> tuple[secretsmanager.Secret, elasticache.CfnReplicationGroup]:
        cfg = self._config
        auth_secret = secretsmanager.Secret(
            self,
            "CacheAuthSecret",
            secret_name=cfg.cache_secret_name,
            description=f"AUTH token of the {cfg.prefix} cache",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template='{"username": "default"}',
                generate_string_key="password",
                # AUTH tokens allow printable ASCII but not @, " or /; letters and digits only.
                exclude_punctuation=True,
                password_length=64,
            ),
            removal_policy=retain_or_destroy(cfg.retain_on_delete),
        )
        acknowledge(
            auth_secret,
            "AwsSolutions-SMG4",
            "ElastiCache AUTH tokens rotate with the ROTATE/SET strategy on the "
            "replication group, not a Secrets Manager rotation Lambda; see the secret "
            "rotation runbook.",
        )
        subnet_group = elasticache.CfnSubnetGroup(
            self,
            "CacheSubnetGroup",
            description=f"{cfg.prefix} cache in the isolated database subnets",
            cache_subnet_group_name=f"{cfg.prefix}-cache",
            subnet_ids=vpc.select_subnets(subnet_group_name=DATABASE).subnet_ids,
        )
        slow_log = logs.LogGroup(
            self,
            "CacheSlowLog",
            log_group_name=f"/aws/elasticache/{cfg.prefix}/slow-log",
            retention=log_retention(cache.log_retention_days),
            removal_policy=retain_or_destroy(cfg.retain_on_delete),
        )
        multi_az = cache.node_count > 1
        replication_group = elasticache.CfnReplicationGroup(
            self,
            "Cache",
            replication_group_id=self.cache_replication_group_id,
            replication_group_description=f"{cfg.prefix} cache (sessions, stock, hot products)",
            engine=cache.engine,
            engine_version=cache.engine_version,
            cache_node_type=cache.node_type,
            num_cache_clusters=cache.node_count,
            preferred_cache_cluster_a_zs=list(cfg.availability_zones[: cache.node_count]),
            automatic_failover_enabled=multi_az,
            multi_az_enabled=multi_az,
            cache_subnet_group_name=subnet_group.ref,
            security_group_ids=[security_group.security_group_id],
            port=cfg.network.redis_port,
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
            log_delivery_configurations=[
                elasticache.CfnReplicationGroup.LogDeliveryConfigurationRequestProperty(
                    destination_type="cloudwatch-logs",
                    destination_details=elasticache.CfnReplicationGroup.DestinationDetailsProperty(
                        cloud_watch_logs_details=elasticache.CfnReplicationGroup.CloudWatchLogsDestinationDetailsProperty(
                            log_group=slow_log.log_group_name
                        )
                    ),
                    log_format="json",
                    log_type="slow-log",
                )
            ],
        )
        replication_group.apply_removal_policy(
            RemovalPolicy.SNAPSHOT
            if cache.snapshot_on_delete
            else retain_or_destroy(cfg.retain_on_delete)
        )
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
        return auth_secret, replication_group
