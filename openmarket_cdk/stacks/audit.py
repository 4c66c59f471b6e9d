"""AuditStack: the account's audit trail and CIS monitoring alarms, deployed once per account."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from openmarket_cdk.common import log_retention, private_bucket
from openmarket_cdk.config import AccountConfig
from openmarket_cdk.constructs.audit_cis_alarms import CisAlarms
from openmarket_cdk.nag import acknowledge


class AuditStack(Stack):
    """The account's audit trail, for the security team and auditors; once per account.

    Deploys:
    - a multi-Region CloudTrail trail with management events (read and write), global
      service events and log file validation, encrypted with a customer-managed key;
    - its S3 bucket: S3 Object Lock in compliance mode with a default retention (no one, not
      even root, deletes or overwrites a log file before it ends), versioned, private,
      TLS-only, Glacier after a while, expiring at retention, with server access logs;
    - a KMS-encrypted CloudWatch Logs copy of the trail (CloudTrail writes it with its own
      role), and on it one metric filter and alarm per CIS AWS Foundations monitoring
      control (root use, unauthorized API calls, console sign-in without MFA, IAM policy,
      CloudTrail, KMS key, security group and network ACL changes), all notifying a
      KMS-encrypted SNS topic with an e-mail subscription.
    Everything is kept when the stack is deleted. The stateful resources (key, buckets, log
    group, trail, topic) are the stack's direct children, so their logical IDs never depend
    on how the parts are arranged.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: AccountConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # --- stateful: the key, the buckets, the trail's log group, the trail, the topic --
        self.key = self._key(config)
        self.access_logs_bucket = self._access_logs_bucket(config)
        self.trail_bucket = self._trail_bucket(config)
        # CDK's Trail lets cloudtrail.amazonaws.com write AWSLogs/<account>/ with no source
        # condition; only this trail may (the confused-deputy guard AWS recommends).
        self.trail_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyThisTrailWrites",
                effect=iam.Effect.DENY,
                actions=["s3:PutObject"],
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                resources=[self.trail_bucket.arn_for_objects("*")],
                conditions={"StringNotEquals": {"aws:SourceArn": config.trail_arn}},
            )
        )
        self.log_group = logs.LogGroup(
            self,
            "TrailLogs",
            log_group_name=config.trail_log_group_name,
            retention=log_retention(config.trail_log_group_retention_days),
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            trail_name=config.trail_name,
            bucket=self.trail_bucket,
            encryption_key=self.key,
            is_multi_region_trail=True,
            include_global_service_events=True,
            management_events=cloudtrail.ReadWriteType.ALL,
            enable_file_validation=True,
            send_to_cloud_watch_logs=True,
            cloud_watch_log_group=self.log_group,
        )
        # CloudTrail checks its bucket policy and key policy when the trail is created.
        self.trail.node.add_dependency(self.key)

        self.topic = sns.Topic(
            self,
            "AlarmsTopic",
            topic_name="openmarket-audit-alarms",
            display_name="OpenMarket account audit alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))

        # --- one metric filter and alarm per CIS monitoring control ---------------------
        self.cis = CisAlarms(
            self,
            "CisAlarms",
            config=config,
            log_group=self.log_group,
            action=cloudwatch_actions.SnsAction(self.topic),
        )
        self.alarms = self.cis.alarms

    def _key(self, config: AccountConfig) -> kms.Key:
        """One key for the trail, its log group and the alarms topic, each service limited to
        this trail, this log group or this account."""
        key = kms.Key(
            self,
            "AuditKey",
            alias="alias/openmarket/audit",
            description="Encrypts the OpenMarket audit trail, its log group and alarms topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

        def allow(sid: str, service: str, actions: list[str], conditions: dict[str, Any]) -> None:
            """A key-policy statement for one AWS service, always with a condition."""
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    actions=actions,
                    principals=[iam.ServicePrincipal(service)],
                    resources=["*"],
                    conditions=conditions,
                )
            )

        this_trail = {"aws:SourceArn": config.trail_arn}
        trail_context = f"arn:aws:cloudtrail:*:{config.account}:trail/*"
        allow(
            "CloudTrailEncryptsLogFiles",
            "cloudtrail.amazonaws.com",
            ["kms:GenerateDataKey*"],
            {
                "StringEquals": this_trail,
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trail_context},
            },
        )
        allow(
            "CloudTrailDescribesKey",
            "cloudtrail.amazonaws.com",
            ["kms:DescribeKey"],
            {"StringEquals": this_trail},
        )
        # Reading log files back (kms:Decrypt) is for principals of this account whose own IAM
        # policy allows it: the key's default statement delegates to IAM.
        log_group_arn = (
            f"arn:aws:logs:{config.region}:{config.account}:log-group:{config.trail_log_group_name}"
        )
        allow(
            "CloudWatchLogsEncryptsTrailLogGroup",
            f"logs.{config.region}.amazonaws.com",
            [
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": log_group_arn}},
        )
        # CloudWatch alarms publish to the encrypted topic.
        allow(
            "CloudWatchAlarmsPublishToTopic",
            "cloudwatch.amazonaws.com",
            ["kms:Decrypt", "kms:GenerateDataKey*"],
            {"StringEquals": {"aws:SourceAccount": config.account}},
        )
        return key

    def _access_logs_bucket(self, config: AccountConfig) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            bucket_name=config.access_logs_bucket_name,
            # S3 server access logging can only deliver to SSE-S3 buckets.
            encryption=s3.BucketEncryption.S3_MANAGED,
            **private_bucket(),
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expiry",
                    expiration=Duration.days(config.access_logs_expire_after_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "This is the access-log target of the trail bucket; logging it into itself would loop.",
        )
        return bucket

    def _trail_bucket(self, config: AccountConfig) -> s3.Bucket:
        """Object Lock in compliance mode: a log file can be neither deleted nor overwritten
        (a new version cannot replace a locked one's data) by anyone until its retention ends;
        then the lifecycle expires it."""
        return s3.Bucket(
            self,
            "TrailBucket",
            bucket_name=config.trail_bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            # No S3 Bucket Key: CloudTrail encrypts each file under the trail's encryption
            # context, which the key policy's conditions check.
            **private_bucket(),
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.compliance(
                Duration.days(config.trail_retention_days)
            ),
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="trail/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="glacier-then-expiry",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER,
                            transition_after=Duration.days(config.trail_glacier_after_days),
                        )
                    ],
                    # A locked version outlives its delete marker until the lock ends; then
                    # the noncurrent version goes a day later.
                    expiration=Duration.days(config.trail_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
