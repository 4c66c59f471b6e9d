"""NAT for the private subnets: a gateway per AZ, one gateway, or one NAT instance (cheap).

``ec2.Vpc`` builds the NAT into its public subnets, so the gateways, their addresses and the
instance are the VPC's children (their logical IDs follow the VPC's, which never moves).
Here: the provider the VPC is given, and what a NAT instance needs once it exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from aws_cdk import CfnResource, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam

from openmarket_cdk.config import SLEEPS_TAG, NatMode, NetworkConfig, StageConfig
from openmarket_cdk.nag import acknowledge

# Run at every boot of a NAT instance (openmarket_cdk/stacks/nat_instance_boot.sh).
NAT_BOOT_SCRIPT = Path(__file__).parent.parent / "stacks" / "nat_instance_boot.sh"
_PER_BOOT_SCRIPT = "/var/lib/cloud/scripts/per-boot/openmarket-nat.sh"


def nat_instance_user_data() -> ec2.UserData:
    """Installs the NAT setup as a cloud-init per-boot script and runs it once now (on the
    first boot cloud-init runs per-boot scripts before the user data)."""
    user_data = ec2.UserData.for_linux()
    user_data.add_commands(
        f"install -d -m 755 {Path(_PER_BOOT_SCRIPT).parent}",
        f"cat > {_PER_BOOT_SCRIPT} <<'OPENMARKET_NAT'\n{NAT_BOOT_SCRIPT.read_text()}OPENMARKET_NAT",
        f"chmod 755 {_PER_BOOT_SCRIPT}",
        _PER_BOOT_SCRIPT,
    )
    return user_data


def nat_provider(net: NetworkConfig, region: str) -> tuple[ec2.NatProvider, int]:
    """The NAT provider the VPC builds into its public subnets, and how many of it."""
    if net.nat_mode is NatMode.INSTANCE:
        provider = ec2.NatProvider.instance_v2(
            instance_type=ec2.InstanceType(net.nat_instance_type),
            # Pinned in config (not "latest"): a new image replaces the instance, which
            # cuts egress for minutes and changes its public address; that happens only
            # when the config changes, visible in cdk diff.
            machine_image=ec2.MachineImage.generic_linux({region: net.nat_instance_image_id}),
            # Default would open the NAT instance to 0.0.0.0/0; we allow the VPC only.
            default_allowed_traffic=ec2.NatTrafficDirection.OUTBOUND_ONLY,
            # The public subnets do not map public addresses on launch: without its own,
            # the NAT instance could not reach the internet for anyone.
            associate_public_ip_address=True,
            # NAT set up at every boot (dev's instance is stopped every night), robustly.
            user_data=nat_instance_user_data(),
        )
        return provider, net.nat_instance_count
    count = 2 if net.nat_mode is NatMode.GATEWAY_PER_AZ else 1
    return ec2.NatProvider.gateway(), count


def nat_instances(vpc: ec2.IVpc) -> list[ec2.Instance]:
    return [
        child
        for subnet in vpc.public_subnets
        for child in subnet.node.children
        if isinstance(child, ec2.Instance)
    ]


def nat_gateway_ids(vpc: ec2.IVpc) -> tuple[str, ...]:
    return tuple(
        child.ref
        for subnet in vpc.public_subnets
        for child in subnet.node.children
        if isinstance(child, ec2.CfnNatGateway)
    )


def harden_nat_instances(
    provider: ec2.NatInstanceProviderV2, vpc: ec2.IVpc, config: StageConfig
) -> None:
    """Traffic from the VPC only, Session Manager instead of SSH, the reasons for what
    cdk-nag and checkov flag, and (where the stage sleeps) the tag that stops it at night."""
    # The NAT instance accepts traffic from inside the VPC only, never from the internet.
    provider.connections.allow_from(
        ec2.Peer.ipv4(config.network.vpc_cidr), ec2.Port.all_traffic(), "VPC to NAT instance"
    )
    instances = nat_instances(vpc)
    for ack_id, reason in (
        ("AwsSolutions-EC26", "Stateless NAT instance: its root volume holds no data."),
        (
            "AwsSolutions-EC28",
            "Dev NAT instance: basic monitoring is enough; detailed "
            "monitoring costs more than the instance.",
        ),
        (
            "AwsSolutions-EC29",
            "Dev NAT instance is disposable and rebuilt by the stack; "
            "no termination protection or ASG wanted.",
        ),
    ):
        for instance in instances:
            acknowledge(instance, ack_id, reason=reason)
    for instance in instances:
        # checkov's "no public IP on an instance": a NAT instance is nothing without one.
        cast(CfnResource, instance.node.default_child).add_metadata(
            "checkov",
            {
                "skip": [
                    {
                        "id": "CKV_AWS_88",
                        "comment": "A NAT instance forwards the private subnets' "
                        "traffic through its own public address.",
                    }
                ]
            },
        )
    for instance in instances:
        # Session Manager: a shell on the NAT instance for debugging, no SSH key, no
        # inbound rule (the agent dials out through the instance's own address).
        instance.role.add_managed_policy(
            iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")
        )
        acknowledge(
            instance.role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
            "AmazonSSMManagedInstanceCore]",
            "AWS's managed policy for the Session Manager agent on the NAT instance.",
        )
    if config.sleep.nat_instance_sleeps:
        # Stopped at night by the working-hours schedule; `make wake` may start it.
        for instance in instances:
            Tags.of(instance).add(
                SLEEPS_TAG, config.name, include_resource_types=["AWS::EC2::Instance"]
            )
