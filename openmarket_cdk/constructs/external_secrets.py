"""ExternalSecretsOperator: syncs Secrets Manager secrets into Kubernetes Secrets."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct

from openmarket_cdk.common import grant_secret_read, helm_resources
from openmarket_cdk.config import ControllersConfig
from openmarket_cdk.constructs.pod_identity import PodIdentity, add_controller_chart

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
        nodes: IConstruct,
        stage_prefix: str,
        controllers: ControllersConfig,
        foreign_secrets: Sequence[secretsmanager.ISecret],
        foreign_key: kms.IKey,
        own_secrets: Sequence[secretsmanager.ISecret],
    ) -> None:
        super().__init__(scope, construct_id)
        identity = PodIdentity(
            self,
            "PodIdentity",
            cluster=cluster,
            namespace=EXTERNAL_SECRETS_NAMESPACE,
            service_account=EXTERNAL_SECRETS_SERVICE_ACCOUNT,
            description=f"{stage_prefix}: pod role of the External Secrets Operator",
        )
        for secret in foreign_secrets:
            grant_secret_read(identity.role, secret, foreign_key)
        for secret in own_secrets:
            secret.grant_read(identity.role)
        self.chart = add_controller_chart(
            cluster,
            "ExternalSecrets",
            identity=identity,
            chart="external-secrets",
            repository="https://charts.external-secrets.io",
            version=controllers.external_secrets.chart_version,
            values={
                "installCRDs": True,
                "serviceAccount": {"name": EXTERNAL_SECRETS_SERVICE_ACCOUNT},
                # The chart sets no requests for any of its three Deployments.
                "replicaCount": controllers.external_secrets.replicas,
                "resources": helm_resources(controllers.external_secrets.resources),
                "webhook": {"resources": helm_resources(controllers.external_secrets_webhook)},
                "certController": {
                    "resources": helm_resources(controllers.external_secrets_cert_controller)
                },
            },
        )
        self.chart.node.add_dependency(nodes)
