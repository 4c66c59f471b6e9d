"""The network section: the VPC, its subnets and NAT, and its checks."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum

from openmarket_cdk.config.checks import check_port, check_retention, network
from openmarket_cdk.config.errors import fail
from openmarket_cdk.config.facts import (
    AVAILABILITY_ZONES,
    PLACEHOLDER_IMAGE_ID,
)


class NatMode(StrEnum):
    """How private subnets reach the internet."""

    GATEWAY_PER_AZ = "gateway-per-az"  # one NAT gateway in each AZ: survives an AZ outage
    SINGLE_GATEWAY = "single-gateway"  # one NAT gateway for both AZs
    INSTANCE = "instance"  # one NAT instance: the cheapest option that still works


@dataclass(frozen=True)
class NetworkConfig:
    """The VPC of one stage: CIDRs as the original design lists them, NAT, flow logs."""

    vpc_cidr: str = "10.0.0.0/16"
    # One CIDR per AZ, in the order of AVAILABILITY_ZONES.
    public_subnet_cidrs: tuple[str, str] = ("10.0.1.0/24", "10.0.2.0/24")
    private_subnet_cidrs: tuple[str, str] = ("10.0.11.0/24", "10.0.12.0/24")
    database_subnet_cidrs: tuple[str, str] = ("10.0.21.0/24", "10.0.22.0/24")
    nat_mode: NatMode = NatMode.GATEWAY_PER_AZ
    nat_instance_type: str = "t4g.nano"
    # The NAT instance's image, pinned: an image change replaces the instance (egress down for
    # a few minutes, a new public address), so it happens only when this changes, in review.
    # Set it to the current Amazon Linux 2023 image of the instance's architecture (make
    # preflight prints it with credentials; docs/runbooks.md, "Updating the NAT instance
    # image"). The placeholder is refused by make preflight.
    nat_instance_image_id: str = PLACEHOLDER_IMAGE_ID
    flow_log_retention_days: int = 90
    # The cluster's Service range (pinned, so network policies can name it).
    service_cidr: str = "172.20.0.0/16"
    mysql_port: int = 3306
    redis_port: int = 6379
    # Who may reach the ALB (its security group's HTTP/HTTPS rules). The internet, behind the
    # WAF web ACL, by default; a stage without WAF (dev) lists its office/VPN ranges instead.
    alb_ingress_cidrs: tuple[str, ...] = ("0.0.0.0/0",)

    @property
    def nat_instance_count(self) -> int:
        """NAT instances in the VPC (one, in the first public subnet, with NatMode.INSTANCE)."""
        return 1 if self.nat_mode is NatMode.INSTANCE else 0


_AMI_ID = re.compile(r"ami-[0-9a-f]{8}([0-9a-f]{9})?")


def validate_network(net: NetworkConfig) -> None:
    if not _AMI_ID.fullmatch(net.nat_instance_image_id):
        fail("network.nat_instance_image_id", f"{net.nat_instance_image_id!r} is not an AMI id")
    vpc = network(net.vpc_cidr, "network.vpc_cidr")
    if not 16 <= vpc.prefixlen <= 28:
        fail("network.vpc_cidr", "a VPC CIDR must be between /16 and /28")
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for group in ("public_subnet_cidrs", "private_subnet_cidrs", "database_subnet_cidrs"):
        cidrs = getattr(net, group)
        if len(cidrs) != len(AVAILABILITY_ZONES):
            fail(f"network.{group}", f"need one CIDR per AZ ({len(AVAILABILITY_ZONES)})")
        for index, cidr in enumerate(cidrs):
            path = f"network.{group}[{index}]"
            subnet = network(cidr, path)
            if not subnet.subnet_of(vpc):
                fail(path, f"{cidr} is outside the VPC {net.vpc_cidr}")
            for other_path, other in seen:
                if subnet.overlaps(other):
                    fail(path, f"{cidr} overlaps {other_path} ({other})")
            seen.append((path, subnet))
    service = network(net.service_cidr, "network.service_cidr")
    if service.overlaps(vpc):
        fail("network.service_cidr", f"{net.service_cidr} overlaps the VPC {net.vpc_cidr}")
    check_retention(net.flow_log_retention_days, "network.flow_log_retention_days")
    check_port(net.mysql_port, "network.mysql_port")
    check_port(net.redis_port, "network.redis_port")
    if not net.alb_ingress_cidrs:
        fail("network.alb_ingress_cidrs", "nobody could reach the ALB: list at least one CIDR")
    for index, cidr in enumerate(net.alb_ingress_cidrs):
        network(cidr, f"network.alb_ingress_cidrs[{index}]")
