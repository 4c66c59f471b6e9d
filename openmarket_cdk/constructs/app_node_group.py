"""AppNodeGroup: the managed node group the apps and the platform pods run on."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from constructs import Construct

from openmarket_cdk.config import StageConfig
from openmarket_cdk.nag import acknowledge

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
    """AL2023 nodes in the private subnets of both AZs, through a launch template.

    The launch template requires IMDSv2 with a hop limit of 1 (pods cannot borrow the node
    role through IMDS; they use Pod Identity), encrypts the gp3 root volume, and gives the
    nodes the cluster security group plus the network stack's app group, which is what the
    ALB may reach (3000/3001) and what Aurora and the cache admit. With VPC CNI prefix
    delegation its user data sets the kubelet's max pods from config (``_node_config``).
    The node group itself is
    the cluster's child (``Cluster/NodegroupAppNodes``), as ``add_nodegroup_capacity`` makes it,
    so its logical ID does not depend on this part.
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
            launch_template_name=f"{config.prefix}-nodes",
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
        self.nodegroup = cluster.add_nodegroup_capacity(
            "AppNodes",
            nodegroup_name=config.nodegroup_name,
            instance_types=[
                ec2.InstanceType(name)
                for name in (k8s.node_instance_type, *k8s.spot_alternative_instance_types)
            ],
            capacity_type=eks.CapacityType(k8s.node_capacity.value),
            ami_type=eks.NodegroupAmiType.AL2023_X86_64_STANDARD,
            min_size=k8s.node_min_size,
            max_size=k8s.node_max_size,
            desired_size=k8s.node_desired_size,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            launch_template_spec=eks.LaunchTemplateSpec(
                id=launch_template.launch_template_id or "",
                version=launch_template.latest_version_number,
            ),
            enable_node_auto_repair=True,
            max_unavailable=1,
        )
        for policy in NODE_ROLE_POLICIES:
            acknowledge(
                self.nodegroup.role,
                f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{policy}]",
                "EKS managed node groups require the AWS-managed worker, ECR read-only and "
                "CNI policies on the node role.",
            )
