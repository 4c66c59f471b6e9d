"""StorageStack: the uploads and logs buckets and the ECR repositories of one stage."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from openmarket_cdk.common import pascal_case, private_bucket, retain_or_destroy
from openmarket_cdk.config import ELB_LOG_DELIVERY_ACCOUNT, StageConfig, StorageConfig
from openmarket_cdk.nag import acknowledge


class StorageStack(Stack):
    """Object storage and image registries for OpenMarket's apps and functions.

    Deploys ``openmarket-<stage>-uploads-<account>`` (user uploads, KMS-encrypted) and
    ``openmarket-<stage>-logs-<account>`` (S3 access logs and other logs), both versioned, with
    all public access blocked, TLS-only policies and lifecycle rules (Standard-IA at 30 days,
    Glacier at 90, noncurrent versions expire); and the ECR repositories
    ``openmarket/<stage>/backend`` and ``openmarket/<stage>/frontend-web``, scanned on push,
    with immutable tags. Staging and prod keep all of it when the stack is deleted.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any):
        super().__init__(scope, construct_id, **kwargs)
        storage = config.storage
        removal = retain_or_destroy(config.retain_on_delete)
        # Only disposable stages empty their buckets and repositories on delete.
        empty_on_delete = not config.retain_on_delete

        self.logs_bucket = s3.Bucket(
            self,
            "LogsBucket",
            bucket_name=config.names.logs_bucket_name,
            # S3 server access logging can only deliver to SSE-S3 buckets.
            encryption=s3.BucketEncryption.S3_MANAGED,
            **private_bucket(),
            lifecycle_rules=[_logs_lifecycle(storage)],
            removal_policy=removal,
            auto_delete_objects=empty_on_delete,
        )
        # The ALB (made by the ingress controller) writes its access logs under alb/.
        self.logs_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                principals=[iam.AccountPrincipal(ELB_LOG_DELIVERY_ACCOUNT)],
                resources=[self.logs_bucket.arn_for_objects(f"alb/AWSLogs/{config.account}/*")],
            )
        )
        # S3 server access logs of the reports bucket (functions stack), granted here with the
        # same source conditions CDK gives the uploads bucket's: from that bucket and this
        # account only. Both names are fixed in config, so no reference crosses the stacks.
        self.logs_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                resources=[
                    self.logs_bucket.arn_for_objects(
                        f"{config.names.access_logs_prefix('reports')}*"
                    )
                ],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": f"arn:aws:s3:::{config.names.reports_bucket_name}"
                    },
                    "StringEquals": {"aws:SourceAccount": config.account},
                },
            )
        )
        acknowledge(
            self.logs_bucket,
            "AwsSolutions-S1",
            "This is the access-log target itself; logging it into itself would loop.",
        )

        self.uploads_key = kms.Key(
            self,
            "UploadsKey",
            alias=f"alias/{config.names.prefix}/uploads",
            description=f"Encrypts the {config.names.prefix} uploads bucket",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        self.uploads_bucket = s3.Bucket(
            self,
            "UploadsBucket",
            bucket_name=config.names.uploads_bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.uploads_key,
            # One data key per bucket instead of per object: ~99% fewer KMS requests.
            bucket_key_enabled=True,
            **private_bucket(),
            server_access_logs_bucket=self.logs_bucket,
            server_access_logs_prefix=config.names.access_logs_prefix("uploads"),
            lifecycle_rules=[_uploads_lifecycle(storage)],
            removal_policy=removal,
            auto_delete_objects=empty_on_delete,
        )

        # The original design names the repositories openmarket/backend and
        # openmarket/frontend-web; the stage is added in the middle because several stages may
        # share one account.
        self.repositories: dict[str, ecr.Repository] = {}
        for workload in config.kubernetes.workloads:
            name = workload.image_repository
            self.repositories[name] = ecr.Repository(
                self,
                f"{pascal_case(name)}Repository",
                repository_name=config.names.ecr_repository_name(workload),
                image_scan_on_push=True,
                image_tag_mutability=ecr.TagMutability.IMMUTABLE,
                encryption=ecr.RepositoryEncryption.AES_256,
                lifecycle_rules=[
                    ecr.LifecycleRule(
                        description=f"Keep the last {storage.ecr_keep_last_images} images",
                        max_image_count=storage.ecr_keep_last_images,
                    )
                ],
                removal_policy=removal,
                empty_on_delete=empty_on_delete,
            )

        if empty_on_delete:
            _acknowledge_cleanup_providers(self)


def _uploads_lifecycle(storage: StorageConfig) -> s3.LifecycleRule:
    """Standard-IA at 30 days, Glacier Instant Retrieval at 90.

    Product pages keep serving old images and thumbnails: Glacier Instant Retrieval answers
    in milliseconds, where Glacier Flexible Retrieval would need a restore per object.
    """
    return s3.LifecycleRule(
        id="tiering-and-noncurrent-expiry",
        transitions=[
            s3.Transition(
                storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                transition_after=Duration.days(storage.infrequent_access_after_days),
            ),
            s3.Transition(
                storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                transition_after=Duration.days(storage.glacier_after_days),
            ),
        ],
        noncurrent_version_expiration=Duration.days(storage.noncurrent_versions_expire_after_days),
        abort_incomplete_multipart_upload_after=Duration.days(7),
    )


def _logs_lifecycle(storage: StorageConfig) -> s3.LifecycleRule:
    """Same tiering as uploads, but logs expire; transitions on or after expiry are dropped.

    With the original design's 90-day access-log retention the Glacier step (day 90) would
    never run and S3 rejects a transition that is not before the expiration, so only
    Standard-IA remains.
    """
    steps = (
        (s3.StorageClass.INFREQUENT_ACCESS, storage.infrequent_access_after_days),
        (s3.StorageClass.GLACIER, storage.glacier_after_days),
    )
    return s3.LifecycleRule(
        id="tiering-and-expiry",
        transitions=[
            s3.Transition(storage_class=cls, transition_after=Duration.days(days))
            for cls, days in steps
            if days < storage.logs_expire_after_days
        ],
        expiration=Duration.days(storage.logs_expire_after_days),
        noncurrent_version_expiration=Duration.days(storage.noncurrent_versions_expire_after_days),
        abort_incomplete_multipart_upload_after=Duration.days(7),
    )


def _acknowledge_cleanup_providers(stack: Stack) -> None:
    """The dev-only custom resources that empty buckets/repositories on delete are CDK's own."""
    for child in stack.node.children:
        if child.node.id.startswith("Custom::") and child.node.id.endswith(
            "CustomResourceProvider"
        ):
            acknowledge(
                child,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "CDK's own auto-delete provider (dev only) uses the basic execution role.",
            )
