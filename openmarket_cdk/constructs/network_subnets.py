"""The VPC's subnets: the original design's three groups, their exact CIDRs and the tags the
AWS Load Balancer Controller picks subnets by.

The subnets are children of the VPC (``ec2.Vpc`` builds them), which stays at the network
stack's top level; this module only describes them.
"""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import Tags
from aws_cdk import aws_ec2 as ec2

from openmarket_cdk.config import NetworkConfig

# Subnet group names; CDK derives the subnet construct ids from them, so they must stay stable.
PUBLIC = "public"
PRIVATE = "private"
DATABASE = "database"


@jsii.implements(ec2.IIpAddresses)
class FixedSubnetCidrs:
    """Gives every subnet the exact CIDR the original design assigns to its group and AZ.

    CDK's own allocators carve subnets in order (10.0.0.0/24, 10.0.1.0/24, ...); the original
    design (docs/requirements.md) wants 10.0.1/2 public, 10.0.11/12 private and 10.0.21/22
    database, so we allocate by lookup.
    """

    def __init__(self, network: NetworkConfig, availability_zones: tuple[str, ...]) -> None:
        self._vpc_cidr = network.vpc_cidr
        self._azs = availability_zones
        self._cidrs = {
            PUBLIC: network.public_subnet_cidrs,
            PRIVATE: network.private_subnet_cidrs,
            DATABASE: network.database_subnet_cidrs,
        }

    def allocate_vpc_cidr(self) -> ec2.VpcIpamOptions:
        return ec2.VpcIpamOptions(cidr_block=self._vpc_cidr)

    def allocate_subnets_cidr(self, *, requested_subnets: Any, vpc_cidr: str) -> Any:
        allocated = []
        for request in requested_subnets:
            group = request.configuration.name
            zone_index = self._azs.index(request.availability_zone)
            allocated.append(ec2.AllocatedSubnet(cidr=self._cidrs[group][zone_index]))
        return ec2.SubnetIpamOptions(allocated_subnets=allocated)


def subnet_configuration() -> list[ec2.SubnetConfiguration]:
    """Public (ALB, NAT), private with egress (nodes, functions), isolated (Aurora, cache)."""
    return [
        ec2.SubnetConfiguration(
            name=PUBLIC,
            subnet_type=ec2.SubnetType.PUBLIC,
            cidr_mask=24,
            map_public_ip_on_launch=False,
        ),
        ec2.SubnetConfiguration(
            name=PRIVATE, subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24
        ),
        ec2.SubnetConfiguration(
            name=DATABASE, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
        ),
    ]


def tag_subnets_for_load_balancers(vpc: ec2.IVpc) -> None:
    """The AWS Load Balancer Controller picks the ALB's subnets by these tags."""
    for subnet in vpc.public_subnets:
        Tags.of(subnet).add("kubernetes.io/role/elb", "1")
    for subnet in vpc.private_subnets:
        Tags.of(subnet).add("kubernetes.io/role/internal-elb", "1")
