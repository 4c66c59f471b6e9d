"""EksAddons: the EKS add-ons of a cluster, ordered around its managed node group."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from openmarket_cdk.common import helm_resources
from openmarket_cdk.config import Resources
from openmarket_cdk.constructs.pod_identity import pod_role
from openmarket_cdk.nag import acknowledge

_MANAGED_POLICY = "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{}]"


class EksAddons(Construct):
    """VPC CNI (network policies on, prefix delegation when asked), kube-proxy, Pod Identity
    agent, CoreDNS, metrics-server, EBS CSI driver and CloudWatch Observability (Container
    Insights metrics, and Fluent Bit: the cluster's log agent).

    Node-level add-ons exist before the nodes join (network policy on from the start); add-ons
    that run as Deployments wait for the nodes. Versions are EKS's default for the cluster's
    Kubernetes version, fixed at creation; a cluster upgrade is when add-ons move
    (docs/decisions.md). Every add-on resolves conflicts with OVERWRITE: on a new cluster
    EKS has already installed vpc-cni, kube-proxy and CoreDNS itself, and creating the managed
    add-on with configuration values over them fails with the default (NONE); the project's
    values are the ones that must win.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        nodes: IConstruct,
        stage_prefix: str,
        log_agent: Resources,
        log_groups: Sequence[IConstruct],
        prefix_delegation: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        before_nodes: list[eks.Addon] = []
        after_nodes: list[eks.Addon] = []
        # NetworkPolicy enforcement by the VPC CNI's network-policy agent.
        cni_values: dict[str, object] = {"enableNetworkPolicy": "true"}
        if prefix_delegation:
            # A /28 per ENI slot instead of one address: a t3.medium holds 110 pods instead of
            # 17 (the node group sets the kubelet's max pods to match). One spare prefix per
            # node keeps pod start-up from waiting on EC2 calls.
            cni_values["env"] = {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"}
        before_nodes.append(
            eks.Addon(
                self,
                "VpcCni",
                cluster=cluster,
                addon_name="vpc-cni",
                configuration_values=cni_values,
            )
        )
        for construct_id_, name, group in (
            ("KubeProxy", "kube-proxy", before_nodes),
            ("PodIdentityAgent", "eks-pod-identity-agent", before_nodes),
            ("CoreDns", "coredns", after_nodes),
            ("MetricsServer", "metrics-server", after_nodes),
        ):
            group.append(eks.Addon(self, construct_id_, cluster=cluster, addon_name=name))

        ebs_role = pod_role(
            self, "EbsCsiRole", f"{stage_prefix}: pod role of the EBS CSI controller"
        )
        ebs_role.add_managed_policy(
            iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonEBSCSIDriverPolicy")
        )
        acknowledge(
            ebs_role,
            _MANAGED_POLICY.format("service-role/AmazonEBSCSIDriverPolicy"),
            "The EBS CSI driver needs AWS's own policy for it; AWS keeps it in step with the "
            "driver's API calls.",
        )
        after_nodes.append(
            self._with_pod_identity(
                eks.Addon(
                    self,
                    "EbsCsiDriver",
                    cluster=cluster,
                    addon_name="aws-ebs-csi-driver",
                    # Volumes carry kubernetes.io/cluster/<name>=owned, so the ones a deleted
                    # cluster leaves are found by its name (scripts/destroy_leftovers.py).
                    configuration_values={"controller": {"k8sTagClusterId": cluster.cluster_name}},
                ),
                ebs_role,
                "ebs-csi-controller-sa",
            )
        )

        # Container Insights node/pod metrics for the CloudWatch dashboard, and the cluster's
        # one log agent: the add-on's Fluent Bit DaemonSet ships container, data-plane and
        # host logs to /aws/containerinsights/<cluster>/... (log groups the stack makes first,
        # with retention; the agent's policy may create a missing one, without).
        insights_role = pod_role(
            self, "CloudWatchAgentRole", f"{stage_prefix}: pod role of the CloudWatch agent"
        )
        insights_role.add_managed_policy(
            iam.ManagedPolicy.from_aws_managed_policy_name("CloudWatchAgentServerPolicy")
        )
        acknowledge(
            insights_role,
            _MANAGED_POLICY.format("CloudWatchAgentServerPolicy"),
            "The CloudWatch agent's own AWS-managed policy (PutMetricData, its log groups).",
        )
        observability = self._with_pod_identity(
            eks.Addon(
                self,
                "CloudWatchObservability",
                cluster=cluster,
                addon_name="amazon-cloudwatch-observability",
                configuration_values={
                    "containerLogs": {
                        "enabled": True,
                        "fluentBit": {"resources": helm_resources(log_agent)},
                    }
                },
            ),
            insights_role,
            "cloudwatch-agent",
        )
        observability.node.add_dependency(*log_groups)
        after_nodes.append(observability)
        for addon in (*before_nodes, *after_nodes):
            _resolve_conflicts(addon)
        for addon in before_nodes:
            nodes.node.add_dependency(addon)
        for addon in after_nodes:
            addon.node.add_dependency(nodes)
        self.before_nodes = tuple(before_nodes)
        self.after_nodes = tuple(after_nodes)

    @staticmethod
    def _with_pod_identity(addon: eks.Addon, role: iam.IRole, service_account: str) -> eks.Addon:
        cfn = addon.node.default_child
        assert isinstance(cfn, eks.CfnAddon)
        cfn.pod_identity_associations = [
            eks.CfnAddon.PodIdentityAssociationProperty(
                role_arn=role.role_arn, service_account=service_account
            )
        ]
        return addon


def _resolve_conflicts(addon: eks.Addon) -> None:
    # The L2 has no option for it; OVERWRITE is the one mode CreateAddon accepts that adopts
    # what EKS installed (PRESERVE is refused on create).
    cfn = addon.node.default_child
    assert isinstance(cfn, eks.CfnAddon)
    cfn.resolve_conflicts = "OVERWRITE"
