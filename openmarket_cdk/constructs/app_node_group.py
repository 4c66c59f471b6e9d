"""AppNodeGroup: the managed node group the apps and the platform pods run on."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from openmarket_cdk.common import log_retention, retain_or_destroy
from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.function import ARCHITECTURE, RUNTIME
from openmarket_cdk.nag import acknowledge
from openmarket_cdk.stage_sleep.runtime.contract import ZONE_TAG

HANDLER_DIR = Path(__file__).resolve().parents[1] / "lambdas" / "nodegroup_scaling"

NODE_ROLE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEKS_CNI_Policy",
)


def _node_config(max_pods: int) -> ec2.UserData:
    """AL2023 nodeadm NodeConfig setting the kubelet's max pods.

    nodeadm's own default counts ENI addresses (t3.medium: 3 x (6 - 1) + 2 = 17) and does not
    know about prefix delegation. ``maxPodsExpression`` makes nodeadm compute kube-reserved
    memory (255Mi + 11Mi x max pods) from the same number as ``maxPods``
    (awslabs/amazon-eks-ami nodeadm/doc/examples.md, "Defining a Max Pods Expression"). EKS
    merges this MIME part with the cluster details it adds for a managed node group.
    """
    node_config = (
        "---\n"
        "apiVersion: node.eks.aws/v1alpha1\n"
        "kind: NodeConfig\n"
        "spec:\n"
        "  kubelet:\n"
        f'    maxPodsExpression: "{max_pods}"\n'
        "    config:\n"
        f"      maxPods: {max_pods}\n"
    )
    user_data = ec2.MultipartUserData()
    user_data.add_part(
        ec2.MultipartBody.from_raw_body(content_type="application/node.eks.aws", body=node_config)
    )
    return user_data


class AppNodeGroup(Construct):
    """AL2023 nodes in the private subnets, one managed node group per zone, through one
    launch template.

    One group per zone: the Cluster Autoscaler cannot choose the zone of a multi-AZ group, so
    a pod that needs 2c (a spread replica, a volume there) could wait while nodes land in 2a.
    With a group per zone and ``balance-similar-node-groups`` it adds the node where the pod
    fits and keeps the zones even otherwise. Each group is tagged with its zone
    (``openmarket:zone``), which is how stage sleep finds it.

    The groups have no fixed name (CloudFormation names them): a change of instance type,
    capacity type or subnets replaces a group, and a generated name lets CloudFormation
    create the new one before it deletes (and EKS drains) the old. Their template carries no
    scaling config: ``Custom::NodegroupScaling`` sets the bounds and the first size, and
    afterwards leaves the size to the autoscaler (openmarket_cdk/lambdas/nodegroup_scaling).

    The launch template requires IMDSv2 with a hop limit of 1 (pods cannot borrow the node
    role through IMDS; they use Pod Identity), encrypts the gp3 root volume, and gives the
    nodes the cluster security group plus the network stack's app group, which is what the
    ALB may reach (3000/3001) and what Aurora and the cache admit. With VPC CNI prefix
    delegation its user data sets the kubelet's max pods from config (``_node_config``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        cluster: eks.Cluster,
        app_security_group: ec2.ISecurityGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        k8s = config.kubernetes
        launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            launch_template_name=f"{config.names.prefix}-nodes",
            require_imdsv2=True,
            http_put_response_hop_limit=1,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        30, volume_type=ec2.EbsDeviceVolumeType.GP3, encrypted=True
                    ),
                )
            ],
            security_group=app_security_group,
            user_data=_node_config(k8s.max_pods_per_node) if k8s.prefix_delegation else None,
        )
        launch_template.add_security_group(
            ec2.SecurityGroup.from_security_group_id(
                self, "ClusterSecurityGroup", cluster.cluster_security_group_id
            )
        )
        scaling = NodegroupScalingFunction(self, "Scaling", config=config)
        self.nodegroups: dict[str, eks.Nodegroup] = {}
        for zone, (minimum, maximum) in config.node_group_sizes.items():
            suffix = zone.removeprefix(config.region)  # "a", "c"
            # The node groups are this part's children: what waits for nodes depends on it.
            nodegroup = eks.Nodegroup(
                self,
                f"Nodes{suffix.upper()}",
                # aws-eks-v2's Python stubs miss a member of ICluster on Cluster; it is one.
                cluster=cast(eks.ICluster, cluster),
                instance_types=[
                    ec2.InstanceType(name)
                    for name in (k8s.node_instance_type, *k8s.spot_alternative_instance_types)
                ],
                capacity_type=eks.CapacityType(k8s.node_capacity.value),
                ami_type=eks.NodegroupAmiType.AL2023_X86_64_STANDARD,
                min_size=minimum,
                max_size=maximum,
                subnets=ec2.SubnetSelection(
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, availability_zones=[zone]
                ),
                launch_template_spec=eks.LaunchTemplateSpec(
                    id=launch_template.launch_template_id or "",
                    version=launch_template.latest_version_number,
                ),
                enable_node_auto_repair=True,
                max_unavailable=1,
                tags={ZONE_TAG: zone},
            )
            cfn = nodegroup.node.default_child
            assert isinstance(cfn, eks.CfnNodegroup)
            # No size under CloudFormation: the custom resource below owns the bounds.
            cfn.add_property_deletion_override("ScalingConfig")
            scaling.bounds(f"AppNodes{suffix.upper()}Scaling", nodegroup, minimum, maximum)
            for policy in NODE_ROLE_POLICIES:
                acknowledge(
                    nodegroup.role,
                    f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{policy}]",
                    "EKS managed node groups require the AWS-managed worker, ECR read-only "
                    "and CNI policies on the node role.",
                )
            self.nodegroups[zone] = nodegroup


class NodegroupScalingFunction(Construct):
    """The function behind ``Custom::NodegroupScaling`` (one per stage)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        name = f"{config.names.prefix}-nodegroup-scaling"
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=name,
            description="Node group bounds under CloudFormation, its size under the autoscaler",
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__", "*.pyc"]),
            handler="index.handler",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            memory_size=128,
            timeout=Duration.minutes(14),
            log_group=logs.LogGroup(
                stack,
                "NodegroupScalingLogs",
                log_group_name=f"/aws/lambda/{name}",
                retention=log_retention(config.functions.log_retention_days),
                removal_policy=retain_or_destroy(config.retain_on_delete),
            ),
        )
        nodegroups = stack.format_arn(
            service="eks", resource="nodegroup", resource_name=f"{config.names.cluster_name}/*/*"
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["eks:DescribeNodegroup", "eks:UpdateNodegroupConfig"],
                resources=[nodegroups],
            )
        )
        role = self.function.role
        assert role is not None
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{nodegroups}]",
            "Node group names are generated at deploy time; the grant covers this cluster's.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "Lambda's own policy for writing the function's logs.",
        )

    def bounds(
        self, construct_id: str, nodegroup: eks.Nodegroup, minimum: int, maximum: int
    ) -> CustomResource:
        return CustomResource(
            self,
            construct_id,
            service_token=self.function.function_arn,
            resource_type="Custom::NodegroupScaling",
            properties={
                "ClusterName": nodegroup.cluster.cluster_name,
                "NodegroupName": nodegroup.nodegroup_name,
                "MinSize": minimum,
                "MaxSize": maximum,
            },
        )
