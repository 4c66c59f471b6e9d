"""ClusterAccess: the one way into a private cluster endpoint, for operators at 3 am."""

from __future__ import annotations

from aws_cdk import Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from constructs import Construct

from openmarket_cdk.config import CLUSTER_ACCESS_TAG, StageConfig
from openmarket_cdk.nag import acknowledge

# AL2023's root volume (the AMI's size): the agent and the AWS CLI, nothing else.
ROOT_VOLUME_GIB = 8


class ClusterAccess(Construct):
    """A small Session Manager-managed instance in a private subnet, so an operator with the
    platform admin role reaches the private API endpoint by port forwarding
    (``AWS-StartPortForwardingSessionToRemoteHost``): ``make kubectl STAGE=<stage>``.

    Nothing listens for the internet: the security group has no inbound rule, the instance
    no public address and no SSH key; the SSM agent dials out (443, through the NAT) and the
    session carries the operator's TCP stream to the endpoint, whose security groups admit
    this instance's group on 443. Who may open a session is the admin role's IAM (by the
    ``openmarket:cluster-access`` tag), and every session is logged by CloudTrail. The
    instance is stateless: it takes the current Amazon Linux 2023 image at each deploy (a new
    image replaces it; `make kubectl` finds the new one by tag).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        cluster: eks.Cluster,
        vpc: ec2.IVpc,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description=f"{config.names.prefix} cluster access: no inbound; 443 out (SSM, the API)",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(),
            ec2.Port.tcp(443),
            "Session Manager (through the NAT) and the cluster's API endpoint",
        )
        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            instance_type=ec2.InstanceType(config.kubernetes.cluster_access_instance_type),
            # The standard AL2023 image carries the SSM agent (the minimal one does not).
            machine_image=ec2.MachineImage.latest_amazon_linux2023(
                cpu_type=ec2.AmazonLinuxCpuType.ARM_64
            ),
            security_group=self.security_group,
            ssm_session_permissions=True,
            require_imdsv2=True,
            associate_public_ip_address=False,
            detailed_monitoring=False,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        ROOT_VOLUME_GIB,
                        encrypted=True,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        delete_on_termination=True,
                    ),
                )
            ],
        )
        Tags.of(self.instance).add(CLUSTER_ACCESS_TAG, config.name)
        Tags.of(self.instance).add("Name", f"{config.names.prefix}-cluster-access")
        # The API endpoint's security groups admit this instance on 443.
        cluster.connections.allow_default_port_from(
            self.security_group, "Operators' kubectl through the cluster access instance"
        )
        acknowledge(
            self.instance,
            "AwsSolutions-EC28",
            "A stateless port-forwarding hop: basic monitoring is enough, detailed costs more "
            "than the instance.",
        )
        acknowledge(
            self.instance,
            "AwsSolutions-EC29",
            "Stateless and replaceable by design (a new image replaces it at deploy); "
            "termination protection would block that.",
        )
        acknowledge(
            self.instance.role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
            "AmazonSSMManagedInstanceCore]",
            "AWS's managed policy for the Session Manager agent; the instance does nothing else.",
        )
