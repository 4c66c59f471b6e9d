"""ExternalSecretsOperator: syncs Secrets Manager secrets into Kubernetes Secrets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from aws_cdk import Duration
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from openmarket_cdk.common import grant_secret_read
from openmarket_cdk.constructs.pod_identity import PodIdentity

EXTERNAL_SECRETS_CHART_VERSION = "2.0.1"
EXTERNAL_SECRETS_NAMESPACE = "external-secrets"
EXTERNAL_SECRETS_SERVICE_ACCOUNT = "external-secrets"


class ExternalSecretsOperator(Construct):
    """External Secrets Operator (Helm chart, CRDs included), with a pod role that may read
    exactly the given secrets.

    ``foreign_secrets`` belong to another stack and are encrypted with ``foreign_key``: they
    are granted with identity statements only (a key-policy edit would create a cycle); the
    stack's ``own_secrets`` are granted the usual way. The chart waits for the nodes and for
    its Pod Identity association, so its pods start with credentials.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.Cluster,
        nodegroup: eks.Nodegroup,
        stage_prefix: str,
        foreign_secrets: Sequence[secretsmanager.ISecret],
        foreign_key: kms.IKey,
        own_secrets: Sequence[secretsmanager.ISecret],
    ) -> None:
        super().__init__(scope, construct_id)
        identity = PodIdentity(
            self,
            "PodIdentity",
            # aws-eks-v2's Python stubs miss a member of ICluster on Cluster; it is one.
            cluster=cast(eks.ICluster, cluster),
            namespace=EXTERNAL_SECRETS_NAMESPACE,
            service_account=EXTERNAL_SECRETS_SERVICE_ACCOUNT,
            description=f"{stage_prefix}: pod role of the External Secrets Operator",
        )
        for secret in foreign_secrets:
            grant_secret_read(identity.role, secret, foreign_key)
        for secret in own_secrets:
            secret.grant_read(identity.role)
        # The release is the cluster's child (Cluster/chart-ExternalSecrets).
        self.chart = cluster.add_helm_chart(
            "ExternalSecrets",
            chart="external-secrets",
            repository="https://charts.external-secrets.io",
            version=EXTERNAL_SECRETS_CHART_VERSION,
            release="external-secrets",
            namespace=EXTERNAL_SECRETS_NAMESPACE,
            create_namespace=True,
            wait=True,
            # A first deploy waits for nodes, images and webhooks; Helm's 5 min is tight.
            timeout=Duration.minutes(15),
            values={
                "installCRDs": True,
                "serviceAccount": {"name": EXTERNAL_SECRETS_SERVICE_ACCOUNT},
            },
        )
        self.chart.node.add_dependency(identity.association)
        self.chart.node.add_dependency(nodegroup)
