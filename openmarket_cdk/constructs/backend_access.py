"""BackendAccess: what the backend's pods may do in AWS, through EKS Pod Identity."""

from __future__ import annotations

from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.pod_identity import PodIdentity
from openmarket_cdk.nag import acknowledge


class BackendAccess(Construct):
    """The backend reads and writes user uploads, reads (and presigns) the image-processor's
    thumbnails, lists the uploads prefix, and publishes order events; no more."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        cluster: eks.ICluster,
        uploads_bucket: s3.IBucket,
        event_bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        backend = config.kubernetes.backend
        self.identity = PodIdentity(
            self,
            "PodIdentity",
            cluster=cluster,
            namespace=config.names.namespace,
            service_account=backend.name,
            description=f"{config.names.prefix}: pod role of the backend",
        )
        role = self.identity.role
        # From the bucket's fixed name (config): readable in review, one fewer import.
        uploads_arn = f"arn:aws:s3:::{config.names.uploads_bucket_name}"
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[f"{uploads_arn}/uploads/*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"{uploads_arn}/thumbnails/*"])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[uploads_arn],
                conditions={"StringLike": {"s3:prefix": ["uploads/*"]}},
            )
        )
        if uploads_bucket.encryption_key is not None:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[uploads_bucket.encryption_key.key_arn],
                )
            )
        role.add_to_policy(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[event_bus.event_bus_arn])
        )
        for prefix in ("uploads", "thumbnails"):
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{uploads_arn}/{prefix}/*]",
                f"Any number of images live under {prefix}/; the object wildcard is the "
                "narrowest grant for that, limited to the one bucket and prefix.",
            )
        self.association = self.identity.association
