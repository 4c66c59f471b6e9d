"""NodeAutoscaler: the Cluster Autoscaler on the app node group, with Pod Identity."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from openmarket_cdk.common import helm_resources
from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.helm_timeouts import HELM_RELEASE_TIMEOUT
from openmarket_cdk.constructs.pod_identity import PodIdentity
from openmarket_cdk.nag import acknowledge

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
# fullnameOverride: the Deployment the night schedule scales is called exactly this.
DEPLOYMENT = "cluster-autoscaler"


class NodeAutoscaler(Construct):
    """Cluster Autoscaler (kubernetes/autoscaler Helm chart) scaling the zonal node groups
    between their min and max by what Pending pods need, and removing idle nodes.

    It finds the groups by the tags EKS puts on a managed node group's Auto Scaling group
    (``k8s.io/cluster-autoscaler/enabled``, ``k8s.io/cluster-autoscaler/<cluster>``). Each
    group's template node carries its zone, so a pod that needs a zone is simulated against
    that zone's group; ``balance-similar-node-groups`` keeps the zones even otherwise. It may
    change the desired size of, or terminate instances in, this cluster's groups only (IAM
    conditioned on the groups' tags). A sleeping stage scales it to 0 through stage sleep
    (openmarket_cdk/stage_sleep), which also brings it back.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        cluster: eks.Cluster,
        nodes: IConstruct,
    ) -> None:
        super().__init__(scope, construct_id)
        autoscaler = config.kubernetes.node_autoscaler
        identity = PodIdentity(
            self,
            "PodIdentity",
            # aws-eks-v2's Python stubs miss a member of ICluster on Cluster; it is one.
            cluster=cast(eks.ICluster, cluster),
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            description=f"{config.names.prefix}: pod role of the Cluster Autoscaler",
        )
        self.role = identity.role
        _grant_autoscaling(self.role, config)

        values: dict[str, Any] = {
            "cloudProvider": "aws",
            # Pods cannot reach IMDS (hop limit 1), so the region is given, not discovered.
            "awsRegion": config.region,
            "autoDiscovery": {"clusterName": config.names.cluster_name},
            "fullnameOverride": DEPLOYMENT,
            "image": {"tag": autoscaler.image_tag},
            "replicaCount": autoscaler.replicas,
            "resources": helm_resources(autoscaler.resources),
            "rbac": {"serviceAccount": {"name": SERVICE_ACCOUNT}},
            "extraArgs": {
                # One group per zone: keep them even, and scale the zone a pod needs. The
                # groups share one launch template, so they differ only in labels the AWS
                # provider ignores when comparing (zone, eks.amazonaws.com/nodegroup).
                "balance-similar-node-groups": True,
                "expander": autoscaler.expander,
                # Every node runs some kube-system Deployment pod (CoreDNS, controllers) and
                # emptyDir volumes; with the defaults no node would ever be removed.
                "skip-nodes-with-system-pods": False,
                "skip-nodes-with-local-storage": False,
                "scale-down-unneeded-time": f"{autoscaler.scale_down_unneeded_minutes}m",
                "scale-down-delay-after-add": f"{autoscaler.scale_down_delay_after_add_minutes}m",
                "scale-down-utilization-threshold": autoscaler.scale_down_utilization_threshold,
            },
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containerSecurityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
        }
        # The release is the cluster's child (Cluster/chart-ClusterAutoscaler).
        self.chart = cluster.add_helm_chart(
            "ClusterAutoscaler",
            chart="cluster-autoscaler",
            repository="https://kubernetes.github.io/autoscaler",
            version=autoscaler.chart_version,
            release="cluster-autoscaler",
            namespace=NAMESPACE,
            create_namespace=False,  # kube-system exists
            wait=True,
            timeout=HELM_RELEASE_TIMEOUT,
            values=values,
        )
        # Credentials before the first pod; nodes before the release waits for its pod.
        self.chart.node.add_dependency(identity.association)
        self.chart.node.add_dependency(nodes)


def _grant_autoscaling(role: iam.IRole, config: StageConfig) -> None:
    """The upstream policy (cluster-autoscaler/cloudprovider/aws/README.md, "Full Cluster
    Autoscaler Features Policy"), with the two mutating actions limited to this cluster's node
    groups' Auto Scaling groups by their tags (EKS names them ``eks-<nodegroup>-<uuid>``, and
    CloudFormation names the node groups)."""
    stack = Stack.of(role)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations",
                "autoscaling:DescribeScalingActivities",
                "ec2:DescribeImages",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:GetInstanceTypesFromInstanceRequirements",
            ],
            resources=["*"],
        )
    )
    nodegroups = stack.format_arn(
        service="eks", resource="nodegroup", resource_name=f"{config.names.cluster_name}/*/*"
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["eks:DescribeNodegroup"], resources=[nodegroups])
    )
    groups = stack.format_arn(
        service="autoscaling",
        resource="autoScalingGroup",
        resource_name="*:autoScalingGroupName/eks-*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    cluster_name = config.names.cluster_name
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[
                "autoscaling:SetDesiredCapacity",
                "autoscaling:TerminateInstanceInAutoScalingGroup",
            ],
            resources=[groups],
            conditions={
                "StringEquals": {
                    f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned",
                    "aws:ResourceTag/eks:cluster-name": cluster_name,
                }
            },
        )
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "Describe calls of Auto Scaling and EC2 support no resource-level permissions; the "
        "mutating calls are limited to this cluster's node groups' Auto Scaling groups.",
    )
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::{nodegroups}]",
        "The node groups' names are generated by CloudFormation; the grant covers this "
        "cluster's, read-only.",
    )
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::{groups}]",
        "EKS names a managed node group's Auto Scaling group with a random suffix; the "
        "statement also requires the cluster's cluster-autoscaler and cluster-name tags.",
    )
