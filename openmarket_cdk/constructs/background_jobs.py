"""The four background jobs: each an OpenMarketFunction with its trigger and its grants.

The stateful resources they use (uploads bucket, event bus, idempotency table, reports bucket,
secrets) are passed in: they belong to a stack's top level, where their IDs are pinned.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from openmarket_cdk.common import grant_secret_read
from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.function import OpenMarketFunction, logical_id
from openmarket_cdk.nag import acknowledge

ORDER_EVENT_SOURCE = "openmarket.orders"
ORDER_EVENT_DETAIL_TYPE = "OrderCreated"
UPLOADS_PREFIX = "uploads/"
THUMBNAILS_PREFIX = "thumbnails/"
_BASIC_EXECUTION = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]"
)


class ImageProcessor(OpenMarketFunction):
    """Thumbnails for every object created under ``uploads/`` of the uploads bucket.

    Reads originals (and tags rejected ones) under ``uploads/``, writes ``thumbnails/``:
    outside the trigger's prefix, so it never triggers itself.
    """

    def __init__(self, scope: Construct, *, config: StageConfig, uploads_bucket: s3.IBucket):
        cfg = config.functions
        super().__init__(
            scope,
            name="image-processor",
            config=config,
            environment={
                "THUMBNAIL_SIZES": cfg.thumbnail_sizes,
                "JPEG_QUALITY": str(cfg.jpeg_quality),
            },
        )
        # ARNs from the bucket's fixed name (config), not the storage stack's output token:
        # readable in review, and no extra cross-stack reference.
        uploads_arn = f"arn:aws:s3:::{config.names.uploads_bucket_name}"
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:GetObjectTagging",
                    "s3:GetObjectVersionTagging",
                    "s3:PutObjectTagging",
                    "s3:PutObjectVersionTagging",
                ],
                resources=[f"{uploads_arn}/{UPLOADS_PREFIX}*"],
            )
        )
        thumbnails = f"{uploads_arn}/{THUMBNAILS_PREFIX}*"
        # Thumbnails are written as a compare-and-swap (If-Match / If-None-Match on the
        # source's S3 sequencer, read back from the thumbnail), and an attempt overtaken by a
        # newer version withdraws exactly what it wrote: conditional deletes only.
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[thumbnails])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:DeleteObject"],
                resources=[thumbnails],
                conditions={"Null": {"s3:if-match": "false"}},
            )
        )
        if uploads_bucket.encryption_key is not None:
            # Read originals (Decrypt), write thumbnails (GenerateDataKey): nothing wider.
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[uploads_bucket.encryption_key.key_arn],
                )
            )
        for prefix in (UPLOADS_PREFIX, THUMBNAILS_PREFIX):
            acknowledge(
                self.role,
                f"AwsSolutions-IAM5[Resource::{uploads_arn}/{prefix}*]",
                f"Any number of user images live under {prefix}; the object wildcard is the "
                "narrowest grant for that, in one bucket and one prefix.",
            )
        stack = Stack.of(self)
        # The uploads bucket belongs to the storage stack; importing it here keeps the
        # notification (and its dependency on this function) in this stack: no cycle.
        imported = s3.Bucket.from_bucket_attributes(
            stack, "UploadsForNotifications", bucket_name=uploads_bucket.bucket_name
        )
        imported.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.function),
            s3.NotificationKeyFilter(prefix=UPLOADS_PREFIX),
        )
        for child in stack.node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                role = child.node.try_find_child("Role") or child
                acknowledge(
                    role,
                    _BASIC_EXECUTION,
                    "CDK's own bucket-notification handler runs only at deploy time.",
                )
                acknowledge(
                    role,
                    "AwsSolutions-IAM5[Resource::*]",
                    "CDK's own bucket-notification handler: s3:PutBucketNotification cannot be "
                    "scoped before the bucket name is known to it; it runs only at deploy time.",
                )


class OrderNotification(OpenMarketFunction):
    """E-mail (SES) and SMS (SNS direct) for every ``OrderCreated`` event on the bus,
    idempotent through a DynamoDB table; invalid events go to the DLQ with their error."""

    def __init__(
        self,
        scope: Construct,
        *,
        config: StageConfig,
        event_bus: events.IEventBus,
        idempotency_table: dynamodb.ITableV2,
    ) -> None:
        cfg = config.functions
        super().__init__(
            scope,
            name="order-notification",
            config=config,
            environment={
                "SENDER_EMAIL": cfg.sender_email,
                "IDEMPOTENCY_TABLE": idempotency_table.table_name,
                "IDEMPOTENCY_TTL_HOURS": str(cfg.idempotency_ttl_hours),
            },
        )
        dlq = self.dead_letter_queue
        # Invalid events go to the DLQ from the handler itself, with the validation error.
        self.function.add_environment("DLQ_URL", dlq.queue_url)
        dlq.grant_send_messages(self.function)
        idempotency_table.grant(
            self.function,
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        )
        stack = Stack.of(self)
        domain = cfg.sender_email.split("@", 1)[1]
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail"],
                resources=[
                    stack.format_arn(service="ses", resource="identity", resource_name=domain),
                    stack.format_arn(
                        service="ses", resource="identity", resource_name=cfg.sender_email
                    ),
                ],
            )
        )
        # Direct SMS only: publishing to any topic is denied below.
        self.role.add_to_policy(iam.PolicyStatement(actions=["sns:Publish"], resources=["*"]))
        self.role.add_to_policy(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                actions=["sns:Publish"],
                resources=[stack.format_arn(service="sns", resource="*")],
            )
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "SMS goes straight to a phone number, which has no ARN; publishing to any topic "
            "is explicitly denied.",
        )
        events.Rule(
            self,
            "OrderCreatedRule",
            rule_name=f"{config.names.prefix}-order-created",
            event_bus=event_bus,
            event_pattern=events.EventPattern(
                source=[ORDER_EVENT_SOURCE], detail_type=[ORDER_EVENT_DETAIL_TYPE]
            ),
            targets=[
                events_targets.LambdaFunction(
                    self.function,
                    # Events EventBridge cannot deliver land in the same DLQ.
                    dead_letter_queue=dlq,
                    retry_attempts=cfg.async_retry_attempts,
                    max_event_age=Duration.minutes(cfg.max_event_age_minutes),
                )
            ],
        )


class ReportGenerator(OpenMarketFunction):
    """The daily sales report of the previous KST day, from the Aurora reader, at 00:00
    Asia/Seoul, into ``reports/`` of the reports bucket."""

    def __init__(
        self,
        scope: Construct,
        *,
        config: StageConfig,
        vpc: ec2.IVpc,
        security_group: ec2.ISecurityGroup,
        reports_bucket: s3.Bucket,
        aurora: rds.IDatabaseCluster,
        aurora_secret: secretsmanager.ISecret,
        data_key: kms.IKey,
    ) -> None:
        cfg = config.functions
        super().__init__(
            scope,
            name="report-generator",
            config=config,
            vpc=vpc,
            security_group=security_group,
            environment={
                "REPORTS_BUCKET": reports_bucket.bucket_name,
                "DB_SECRET_ARN": aurora_secret.secret_arn,
                # The report is read-only and heavy: the reader endpoint (the writer in dev).
                "DB_HOST": aurora.cluster_read_endpoint.hostname,
                "TOP_PRODUCTS_N": str(cfg.report_top_products),
                # Earlier requested dates are input errors (the function's README).
                "EARLIEST_ORDER_DATE": cfg.earliest_order_date,
                "REPORT_CURRENCY": cfg.report_currency,
            },
        )
        grant_secret_read(self.function, aurora_secret, data_key)
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[reports_bucket.arn_for_objects("reports/*")]
            )
        )
        # SSE-KMS: S3 asks KMS for a data key on the writer's behalf (PutObject, single part).
        assert reports_bucket.encryption_key is not None
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey"],
                resources=[reports_bucket.encryption_key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{config.region}.amazonaws.com"}
                },
            )
        )
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::<{logical_id(reports_bucket)}.Arn>/reports/*]",
            "One report object per day and section under reports/; the prefix wildcard is "
            "the narrowest grant for that.",
        )
        self.add_schedule(
            scheduler.ScheduleExpression.cron(
                minute=cfg.report_schedule_minute,
                hour=cfg.report_schedule_hour,
                week_day=cfg.report_schedule_weekdays,
                time_zone=TimeZone.of(cfg.schedule_time_zone),
            ),
            "Daily sales report for the previous KST day",
        )


class DataSync(OpenMarketFunction):
    """Stock and hot-products refresh from the Aurora reader into the cache, on a rate."""

    def __init__(
        self,
        scope: Construct,
        *,
        config: StageConfig,
        vpc: ec2.IVpc,
        security_group: ec2.ISecurityGroup,
        aurora: rds.IDatabaseCluster,
        aurora_secret: secretsmanager.ISecret,
        cache_endpoint: str,
        cache_secret: secretsmanager.ISecret,
        data_key: kms.IKey,
    ) -> None:
        super().__init__(
            scope,
            name="data-sync",
            config=config,
            vpc=vpc,
            security_group=security_group,
            environment={
                "DB_SECRET_ARN": aurora_secret.secret_arn,
                "DB_HOST": aurora.cluster_read_endpoint.hostname,
                "REDIS_HOST": cache_endpoint,
                "REDIS_PORT": str(config.network.redis_port),
                "REDIS_SECRET_ARN": cache_secret.secret_arn,
            },
        )
        grant_secret_read(self.function, aurora_secret, data_key)
        grant_secret_read(self.function, cache_secret, data_key)
        minutes = config.functions.data_sync_every_minutes
        hours = config.sleep
        if config.functions.data_sync_working_hours_only and hours.enabled:
            # dev: only while people work, so Aurora Serverless (0 ACU) pauses at night.
            self.add_schedule(
                scheduler.ScheduleExpression.cron(
                    minute="0" if minutes == 60 else f"0/{minutes}",
                    hour=f"{hours.start_hour}-{hours.stop_hour - 1}",
                    week_day=hours.weekdays,
                    time_zone=TimeZone.of(hours.time_zone),
                ),
                f"Stock and hot-products refresh every {minutes} minutes, working hours only",
            )
        else:
            self.add_schedule(
                scheduler.ScheduleExpression.rate(Duration.minutes(minutes)),
                f"Stock and hot-products refresh every {minutes} minutes",
            )
