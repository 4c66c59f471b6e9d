"""FunctionsStack: the four Python Lambda functions, their triggers, queues and data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_lambda_python_alpha import PythonFunction
from constructs import Construct

from openmarket_cdk.common import grant_secret_read, log_retention, pascal_case, retain_or_destroy
from openmarket_cdk.config import StageConfig
from openmarket_cdk.nag import acknowledge

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
# The newest Python runtime aws-cdk-lib offers (cdk-nag L1 checks it is the latest).
RUNTIME = lambda_.Runtime.PYTHON_3_14
# Every dependency ships arm64 wheels (tests/functions/test_function_wheels.py); Graviton
# is ~20% cheaper per GB-second.
ARCHITECTURE = lambda_.Architecture.ARM_64
METRICS_NAMESPACE = "OpenMarket"
ORDER_EVENT_SOURCE = "openmarket.orders"
ORDER_EVENT_DETAIL_TYPE = "OrderCreated"
UPLOADS_PREFIX = "uploads/"
THUMBNAILS_PREFIX = "thumbnails/"


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

    Deploys four Python 3.14 arm64 functions (PythonFunction, Powertools bundled), each
    with its own least-privilege role, explicit log group and dead-letter queue (whose depth
    alarm is in the observability stack):
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
        self._config = config
        self._inputs = inputs
        self._removal = retain_or_destroy(config.storage.retain_on_delete)
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        self.functions: dict[str, PythonFunction] = {}

        self._image_processor()
        self.event_bus = self._order_notification()
        self.reports_bucket = self._report_generator()
        self._data_sync()

    # --- shared -----------------------------------------------------------------------------
    def _dead_letter_queue(self, name: str) -> sqs.Queue:
        fn = self._config.functions
        queue = sqs.Queue(
            self,
            f"{pascal_case(name)}DeadLetterQueue",
            queue_name=f"{self._config.prefix}-{name}-dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(fn.dead_letter_retention_days),
            removal_policy=self._removal,
        )
        acknowledge(
            queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the function and its trigger.",
        )
        # Its depth alarm lives in the observability stack, next to the alerts topic.
        self.dead_letter_queues[name] = queue
        return queue

    def _function(
        self,
        name: str,
        *,
        memory_mb: int,
        timeout_s: int,
        environment: dict[str, str],
        in_vpc: bool = False,
    ) -> PythonFunction:
        fn_cfg = self._config.functions
        construct_id = pascal_case(name)
        function_name = f"{self._config.prefix}-{name}"
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=log_retention(fn_cfg.log_retention_days),
            removal_policy=self._removal,
        )
        role = iam.Role(
            self,
            f"{construct_id}Role",
            description=f"{function_name}: its own log group and the grants below, no more",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        if in_vpc:
            # What Lambda needs to attach its ENIs; EC2 does not scope these by resource.
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=[
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSubnets",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses",
                    ],
                    resources=["*"],
                )
            )
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "Lambda's VPC networking actions (ENI create/describe/delete) do not support "
                "resource-level permissions.",
            )
        function = PythonFunction(
            self,
            construct_id,
            function_name=function_name,
            entry=str(FUNCTIONS_DIR / name),
            index="index.py",
            handler="handler",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_s),
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                "POWERTOOLS_SERVICE_NAME": name,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                **environment,
            },
            dead_letter_queue=self._dead_letter_queue(name),
            retry_attempts=fn_cfg.async_retry_attempts,
            max_event_age=Duration.minutes(fn_cfg.max_event_age_minutes),
            vpc=self._inputs.vpc if in_vpc else None,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
            if in_vpc
            else None,
            security_groups=[self._inputs.functions_security_group] if in_vpc else None,
            # The async retries above are the retry story; no recursion is expected.
            recursive_loop=lambda_.RecursiveLoop.TERMINATE,
        )
        self.functions[name] = function
        return function

    def _schedule(
        self,
        name: str,
        function: lambda_.IFunction,
        expression: scheduler.ScheduleExpression,
        description: str,
    ) -> scheduler.Schedule:
        fn_cfg = self._config.functions
        role = iam.Role(
            self,
            f"{pascal_case(name)}SchedulerRole",
            description=f"EventBridge Scheduler: invoke {name}, send failures to its DLQ",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            ),
        )
        schedule = scheduler.Schedule(
            self,
            f"{pascal_case(name)}Schedule",
            schedule_name=f"{self._config.prefix}-{name}",
            description=description,
            schedule=expression,
            target=scheduler_targets.LambdaInvoke(
                function,
                dead_letter_queue=self.dead_letter_queues[name],
                retry_attempts=fn_cfg.async_retry_attempts,
                max_event_age=Duration.minutes(fn_cfg.max_event_age_minutes),
                role=role,
            ),
        )
        function_cfn = function.node.default_child
        assert function_cfn is not None
        logical_id = self.get_logical_id(function_cfn)  # type: ignore[arg-type]
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]",
            "The scheduler's role may invoke this one function; ':*' only covers its "
            "version and alias qualifiers.",
        )
        return schedule

    # --- image-processor --------------------------------------------------------------------
    def _image_processor(self) -> None:
        cfg = self._config.functions
        uploads = self._inputs.uploads_bucket
        function = self._function(
            "image-processor",
            memory_mb=cfg.image_processor_memory_mb,
            timeout_s=cfg.image_processor_timeout_s,
            environment={
                "THUMBNAIL_SIZES": cfg.thumbnail_sizes,
                "JPEG_QUALITY": str(cfg.jpeg_quality),
            },
        )
        assert function.role is not None
        # ARNs from the bucket's fixed name (config), not the storage stack's output token:
        # readable in review, and no extra cross-stack reference.
        uploads_arn = f"arn:aws:s3:::{self._config.uploads_bucket_name}"
        function.role.add_to_principal_policy(
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
        function.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[f"{uploads_arn}/{THUMBNAILS_PREFIX}*"]
            )
        )
        if uploads.encryption_key is not None:
            # Read originals (Decrypt), write thumbnails (GenerateDataKey): nothing wider.
            function.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[uploads.encryption_key.key_arn],
                )
            )
        for prefix in (UPLOADS_PREFIX, THUMBNAILS_PREFIX):
            acknowledge(
                function.role,
                f"AwsSolutions-IAM5[Resource::{uploads_arn}/{prefix}*]",
                f"Any number of user images live under {prefix}; the object wildcard is the "
                "narrowest grant for that, in one bucket and one prefix.",
            )
        # The uploads bucket belongs to the storage stack; importing it here keeps the
        # notification (and its dependency on this function) in this stack: no cycle.
        imported = s3.Bucket.from_bucket_attributes(
            self, "UploadsForNotifications", bucket_name=uploads.bucket_name
        )
        imported.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(function),
            # Thumbnails are written under thumbnails/, outside this prefix: no self-trigger.
            s3.NotificationKeyFilter(prefix=UPLOADS_PREFIX),
        )
        for child in self.node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                role = child.node.try_find_child("Role")
                acknowledge(
                    role or child,
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                    "CDK's own bucket-notification handler runs only at deploy time.",
                )
                acknowledge(
                    role or child,
                    "AwsSolutions-IAM5[Resource::*]",
                    "CDK's own bucket-notification handler: s3:PutBucketNotification cannot be "
                    "scoped before the bucket name is known to it; it runs only at deploy time.",
                )

    # --- order-notification -----------------------------------------------------------------
    def _order_notification(self) -> events.EventBus:
        cfg = self._config.functions
        bus = events.EventBus(
            self, "OrdersEventBus", event_bus_name=f"{self._config.prefix}-orders"
        )
        table = dynamodb.TableV2(
            self,
            "OrderNotificationIdempotency",
            table_name=f"{self._config.prefix}-order-notification-idempotency",
            # Powertools Idempotency's defaults: key "id", TTL attribute "expiration".
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expiration",
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=self._removal,
        )
        function = self._function(
            "order-notification",
            memory_mb=cfg.order_notification_memory_mb,
            timeout_s=cfg.order_notification_timeout_s,
            environment={
                "SENDER_EMAIL": cfg.sender_email,
                "IDEMPOTENCY_TABLE": table.table_name,
                "IDEMPOTENCY_TTL_HOURS": str(cfg.idempotency_ttl_hours),
            },
        )
        dlq = self.dead_letter_queues["order-notification"]
        # Invalid events go to the DLQ from the handler itself, with the validation error.
        function.add_environment("DLQ_URL", dlq.queue_url)
        dlq.grant_send_messages(function)
        table.grant(
            function,
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        )
        assert function.role is not None
        domain = cfg.sender_email.split("@", 1)[1]
        function.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail"],
                resources=[
                    self.format_arn(service="ses", resource="identity", resource_name=domain),
                    self.format_arn(
                        service="ses", resource="identity", resource_name=cfg.sender_email
                    ),
                ],
            )
        )
        function.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sns:Publish"],
                resources=["*"],
                # Direct SMS only: publishing to any topic is denied below.
            )
        )
        function.role.add_to_principal_policy(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                actions=["sns:Publish"],
                resources=[self.format_arn(service="sns", resource="*")],
            )
        )
        acknowledge(
            function.role,
            "AwsSolutions-IAM5[Resource::*]",
            "SMS goes straight to a phone number, which has no ARN; publishing to any topic "
            "is explicitly denied.",
        )
        events.Rule(
            self,
            "OrderCreatedRule",
            rule_name=f"{self._config.prefix}-order-created",
            event_bus=bus,
            event_pattern=events.EventPattern(
                source=[ORDER_EVENT_SOURCE], detail_type=[ORDER_EVENT_DETAIL_TYPE]
            ),
            targets=[
                events_targets.LambdaFunction(
                    function,
                    # Events EventBridge cannot deliver land in the same DLQ.
                    dead_letter_queue=dlq,
                    retry_attempts=cfg.async_retry_attempts,
                    max_event_age=Duration.minutes(cfg.max_event_age_minutes),
                )
            ],
        )
        self.idempotency_table = table
        return bus

    # --- report-generator -------------------------------------------------------------------
    def _report_generator(self) -> s3.Bucket:
        cfg = self._config.functions
        inputs = self._inputs
        reports = s3.Bucket(
            self,
            "ReportsBucket",
            bucket_name=self._config.reports_bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=inputs.logs_bucket,
            server_access_logs_prefix="s3-access/reports/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="tiering-and-noncurrent-expiry",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(
                                self._config.storage.infrequent_access_after_days
                            ),
                        ),
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER,
                            transition_after=Duration.days(self._config.storage.glacier_after_days),
                        ),
                    ],
                    noncurrent_version_expiration=Duration.days(
                        self._config.storage.noncurrent_versions_expire_after_days
                    ),
                )
            ],
            removal_policy=self._removal,
            auto_delete_objects=not self._config.storage.retain_on_delete,
        )
        function = self._function(
            "report-generator",
            memory_mb=cfg.report_generator_memory_mb,
            timeout_s=cfg.report_generator_timeout_s,
            in_vpc=True,
            environment={
                "REPORTS_BUCKET": reports.bucket_name,
                "DB_SECRET_ARN": inputs.aurora_secret.secret_arn,
                # The report is read-only and heavy: the reader endpoint (the writer in dev).
                "DB_HOST": inputs.aurora.cluster_read_endpoint.hostname,
                "TOP_PRODUCTS_N": str(cfg.report_top_products),
                "REPORT_CURRENCY": cfg.report_currency,
            },
        )
        grant_secret_read(function, inputs.aurora_secret, inputs.data_key)
        assert function.role is not None
        function.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[reports.arn_for_objects("reports/*")]
            )
        )
        acknowledge(
            function.role,
            f"AwsSolutions-IAM5[Resource::<{_token_name(reports)}>/reports/*]",
            "One report object per day and section under reports/; the prefix wildcard is "
            "the narrowest grant for that.",
        )
        self._schedule(
            "report-generator",
            function,
            scheduler.ScheduleExpression.cron(
                minute=cfg.report_schedule_minute,
                hour=cfg.report_schedule_hour,
                time_zone=TimeZone.of(cfg.schedule_time_zone),
            ),
            "Daily sales report for the previous KST day",
        )
        if not self._config.storage.retain_on_delete:
            _acknowledge_cleanup_provider(self)
        return reports

    # --- data-sync --------------------------------------------------------------------------
    def _data_sync(self) -> None:
        cfg = self._config.functions
        inputs = self._inputs
        function = self._function(
            "data-sync",
            memory_mb=cfg.data_sync_memory_mb,
            timeout_s=cfg.data_sync_timeout_s,
            in_vpc=True,
            environment={
                "DB_SECRET_ARN": inputs.aurora_secret.secret_arn,
                "DB_HOST": inputs.aurora.cluster_read_endpoint.hostname,
                "REDIS_HOST": inputs.cache_endpoint,
                "REDIS_PORT": str(self._config.network.redis_port),
                "REDIS_SECRET_ARN": inputs.cache_secret.secret_arn,
            },
        )
        grant_secret_read(function, inputs.aurora_secret, inputs.data_key)
        grant_secret_read(function, inputs.cache_secret, inputs.data_key)
        minutes = cfg.data_sync_every_minutes
        self._schedule(
            "data-sync",
            function,
            scheduler.ScheduleExpression.rate(Duration.minutes(minutes)),
            f"Stock and hot-products refresh every {minutes} minutes",
        )


def _token_name(bucket: s3.IBucket) -> str:
    """How cdk-nag spells a bucket ARN in a finding: ``<LogicalId.Arn>``."""
    cfn = bucket.node.default_child
    assert cfn is not None
    return f"{Stack.of(bucket).get_logical_id(cfn)}.Arn"  # type: ignore[arg-type]


def _acknowledge_cleanup_provider(stack: Stack) -> None:
    for child in stack.node.children:
        if child.node.id.startswith("Custom::S3AutoDeleteObjects"):
            acknowledge(
                child,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "CDK's own auto-delete provider (dev only) uses the basic execution role.",
            )
