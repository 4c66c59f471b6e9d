"""PodRole and PodIdentity: AWS credentials for one Kubernetes service account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from openmarket_cdk.constructs.helm_timeouts import HELM_RELEASE_TIMEOUT


def pod_role(scope: Construct, construct_id: str, description: str) -> iam.Role:
    """An IAM role that EKS Pod Identity can hand to a service account (session tags on)."""
    return iam.Role(
        scope,
        construct_id,
        description=description,
        assumed_by=iam.ServicePrincipal("pods.eks.amazonaws.com").with_session_tags(),
    )


class PodIdentity(Construct):
    """A pod role and its EKS Pod Identity association with ``namespace/service_account``.

    EKS injects credentials only into pods created after the association exists, so
    whatever starts those pods (a Helm chart, a manifest) must depend on ``association``.
    The association itself needs only the cluster (its name is a reference to it).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        # Either: aws-eks-v2's Python stubs miss a member of ICluster on Cluster.
        cluster: eks.ICluster | eks.Cluster,
        namespace: str,
        service_account: str,
        description: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.namespace = namespace
        self.role = pod_role(self, "Role", description)
        self.association = eks.CfnPodIdentityAssociation(
            self,
            "Association",
            cluster_name=cluster.cluster_name,
            namespace=namespace,
            service_account=service_account,
            role_arn=self.role.role_arn,
        )


# A first deploy waits for nodes, images and webhooks: Helm's 5 minutes are tight, the
# kubectl handler's 15 the hard end (constructs/helm_timeouts.py bounds every release).
CONTROLLER_CHART_TIMEOUT = HELM_RELEASE_TIMEOUT


def add_controller_chart(
    cluster: eks.Cluster,
    construct_id: str,
    *,
    identity: PodIdentity,
    chart: str,
    repository: str,
    version: str,
    values: Mapping[str, Any],
) -> eks.HelmChart:
    """A controller's Helm release (the cluster's child, ``Cluster/chart-<construct_id>``) in
    its identity's namespace, started only once that identity's association exists."""
    release = cluster.add_helm_chart(
        construct_id,
        chart=chart,
        repository=repository,
        version=version,
        release=chart,
        namespace=identity.namespace,
        create_namespace=True,
        wait=True,
        timeout=CONTROLLER_CHART_TIMEOUT,
        values=dict(values),
    )
    release.node.add_dependency(identity.association)
    return release
