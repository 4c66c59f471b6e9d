"""What the cluster stack takes from the stacks before it."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager


@dataclass(frozen=True)
class ClusterInputs:
    """What the cluster stack uses from the stacks before it (typed, no lookups)."""

    vpc: ec2.IVpc
    app_security_group: ec2.ISecurityGroup
    alb_security_group: ec2.ISecurityGroup
    uploads_bucket: s3.IBucket
    aurora_secret: secretsmanager.ISecret
    cache_secret: secretsmanager.ISecret
    cache_endpoint: str
    data_key: kms.IKey  # encrypts the Aurora and cache secrets
    event_bus: events.IEventBus  # the backend publishes OrderCreated here
