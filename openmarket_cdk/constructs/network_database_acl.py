"""DatabaseSubnetAcl: the stateless second fence around the database subnets."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from openmarket_cdk.config import NetworkConfig
from openmarket_cdk.constructs.network_subnets import DATABASE
from openmarket_cdk.nag import acknowledge


class DatabaseSubnetAcl(ec2.NetworkAcl):
    """The original design's ACLs around the database subnets.

    Allows MySQL and Redis from the private (app, Lambda) subnets, everything between the
    database subnets themselves (cache replication), and return traffic; nothing else.
    A ``NetworkAcl`` itself (not a construct around one), so its entries keep their paths.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, network: NetworkConfig
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            vpc=vpc,
            network_acl_name=f"{vpc.node.id}-database",
            subnet_selection=ec2.SubnetSelection(subnet_group_name=DATABASE),
        )
        acknowledge(
            self,
            "AwsSolutions-VPC3",
            "The original design asks for subnet-level ACLs around the database tier; the one "
            "ACL mirrors the security groups (3306/6379 from private subnets) as a second, "
            "stateless fence.",
        )
        rule = 100
        for cidr in network.private_subnet_cidrs:
            for port in (network.mysql_port, network.redis_port):
                self.add_entry(
                    f"InFromPrivate{rule}",
                    rule_number=rule,
                    cidr=ec2.AclCidr.ipv4(cidr),
                    traffic=ec2.AclTraffic.tcp_port(port),
                    direction=ec2.TrafficDirection.INGRESS,
                )
                rule += 10
            self.add_entry(
                f"OutToPrivate{rule}",
                rule_number=rule,
                cidr=ec2.AclCidr.ipv4(cidr),
                traffic=ec2.AclTraffic.tcp_port_range(1024, 65535),
                direction=ec2.TrafficDirection.EGRESS,
            )
            rule += 10
        for cidr in network.database_subnet_cidrs:
            for direction in (ec2.TrafficDirection.INGRESS, ec2.TrafficDirection.EGRESS):
                self.add_entry(
                    f"{direction.value.title()}Database{rule}",
                    rule_number=rule,
                    cidr=ec2.AclCidr.ipv4(cidr),
                    traffic=ec2.AclTraffic.all_traffic(),
                    direction=direction,
                )
                rule += 10
