"""FunctionsStack: the four Python Lambda functions, their triggers, queues and data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Annotations, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from openmarket_cdk.common import private_bucket, retain_or_destroy
from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.background_jobs import (
    DataSync,
    ImageProcessor,
    OrderNotification,
    ReportGenerator,
)
from openmarket_cdk.constructs.function import OpenMarketFunction
from openmarket_cdk.nag import acknowledge


@dataclass(frozen=True)
class FunctionsInputs:
    """What the functions use from the network, storage and data stacks."""

    vpc: ec2.IVpc
    functions_security_group: ec2.ISecurityGroup
    uploads_bucket: s3.IBucket
    logs_bucket: s3.IBucket
    aurora: rds.IDatabaseCluster
    aurora_secret: secretsmanager.ISecret
    cache_endpoint: str
    cache_secret: secretsmanager.ISecret
    data_key: kms.IKey  # encrypts both secrets


class FunctionsStack(Stack):
    """OpenMarket's background jobs, for shoppers, sellers and the operations team.

    Deploys four Python arm64 functions (runtime in config/pins.py; PythonFunction,
    Powertools bundled), each with its own least-privilege role, explicit log group and
    dead-letter queue (whose depth alarm is in the observability stack):
    - image-processor: thumbnails for objects created under ``uploads/``;
    - order-notification: e-mail/SMS for ``OrderCreated`` events on the orders event bus,
      idempotent through a DynamoDB table;
    - report-generator: the daily sales report at 00:00 Asia/Seoul into a reports bucket;
    - data-sync: hourly stock and hot-products refresh from the Aurora reader into Redis.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        inputs: FunctionsInputs,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = retain_or_destroy(config.retain_on_delete)

        # --- stateful: the orders bus, the idempotency table, the reports bucket ----------
        self.event_bus = events.EventBus(
            self, "OrdersEventBus", event_bus_name=config.names.order_events_bus_name
        )
        self.idempotency_table = dynamodb.TableV2(
            self,
            "OrderNotificationIdempotency",
            table_name=f"{config.names.prefix}-order-notification-idempotency",
            # Powertools Idempotency's defaults: key "id", TTL attribute "expiration".
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expiration",
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=removal,
        )
        self.reports_bucket = _reports_bucket(self, config, inputs.logs_bucket)

        # --- the functions ----------------------------------------------------------------
        jobs: list[OpenMarketFunction] = [
            ImageProcessor(self, config=config, uploads_bucket=inputs.uploads_bucket),
            OrderNotification(
                self,
                config=config,
                event_bus=self.event_bus,
                idempotency_table=self.idempotency_table,
            ),
            ReportGenerator(
                self,
                config=config,
                vpc=inputs.vpc,
                security_group=inputs.functions_security_group,
                reports_bucket=self.reports_bucket,
                aurora=inputs.aurora,
                aurora_secret=inputs.aurora_secret,
                data_key=inputs.data_key,
            ),
            DataSync(
                self,
                config=config,
                vpc=inputs.vpc,
                security_group=inputs.functions_security_group,
                aurora=inputs.aurora,
                aurora_secret=inputs.aurora_secret,
                cache_endpoint=inputs.cache_endpoint,
                cache_secret=inputs.cache_secret,
                data_key=inputs.data_key,
            ),
        ]
        # The observability stack's alarms are built on these.
        self.functions: dict[str, lambda_.IFunction] = {job.name: job.function for job in jobs}
        self.dead_letter_queues: dict[str, sqs.IQueue] = {
            job.name: job.dead_letter_queue for job in jobs
        }
        if not config.retain_on_delete:
            _acknowledge_cleanup_provider(self)


def _reports_bucket(stack: Stack, config: StageConfig, logs_bucket: s3.IBucket) -> s3.Bucket:
    """Versioned, private, TLS-only, encrypted with its own customer-managed key; tiered like
    the uploads; emptied on delete in dev."""
    storage = config.storage
    removal = retain_or_destroy(config.retain_on_delete)
    # Sales figures: a customer-managed key like the uploads', so who may read them is in a
    # key policy and CloudTrail records every use; its own key, so the uploads' readers (the
    # backend, image-processor) hold no key to them.
    key = kms.Key(
        stack,
        "ReportsKey",
        alias=f"alias/{config.names.prefix}/reports",
        description=f"Encrypts the {config.names.prefix} reports bucket",
        enable_key_rotation=True,
        removal_policy=removal,
    )
    # The storage stack grants S3 log delivery into its logs bucket with source conditions
    # (the reports bucket's fixed name and the account). Handing CDK a reference rather than
    # the Bucket keeps it from adding a second, unconditioned grant to that policy from here.
    access_logs_target = s3.Bucket.from_bucket_attributes(
        stack,
        "AccessLogsTarget",
        bucket_name=logs_bucket.bucket_name,
        bucket_arn=logs_bucket.bucket_arn,
    )
    bucket = s3.Bucket(
        stack,
        "ReportsBucket",
        bucket_name=config.names.reports_bucket_name,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        # One data key per bucket instead of per object: ~99% fewer KMS requests.
        bucket_key_enabled=True,
        **private_bucket(),
        # Server access logs still go to the SSE-S3 logs bucket (the only kind S3 delivers to).
        server_access_logs_bucket=access_logs_target,
        server_access_logs_prefix=config.names.access_logs_prefix("reports"),
        lifecycle_rules=[
            s3.LifecycleRule(
                id="tiering-and-noncurrent-expiry",
                transitions=[
                    s3.Transition(
                        storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                        transition_after=Duration.days(storage.infrequent_access_after_days),
                    ),
                    s3.Transition(
                        storage_class=s3.StorageClass.GLACIER,
                        transition_after=Duration.days(storage.glacier_after_days),
                    ),
                ],
                noncurrent_version_expiration=Duration.days(
                    storage.noncurrent_versions_expire_after_days
                ),
            )
        ],
        removal_policy=removal,
        auto_delete_objects=not config.retain_on_delete,
    )
    Annotations.of(bucket).acknowledge_warning(
        "@aws-cdk/aws-s3:accessLogsPolicyNotAdded",
        "The storage stack's logs-bucket policy grants this delivery, with aws:SourceArn and "
        "aws:SourceAccount conditions.",
    )
    return bucket


def _acknowledge_cleanup_provider(stack: Stack) -> None:
    for child in stack.node.children:
        if child.node.id.startswith("Custom::S3AutoDeleteObjects"):
            acknowledge(
                child,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "CDK's own auto-delete provider (dev only) uses the basic execution role.",
            )
