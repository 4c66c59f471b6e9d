"""The original design's security-group chain: internet -> ALB 80/443 -> app 3000/3001 ->
Aurora 3306 and Redis 6379, and the VPC functions beside the app."""

from __future__ import annotations

from aws_cdk import Tags
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from openmarket_cdk.config import SMOKE_ACCESS_TAG, StageConfig
from openmarket_cdk.nag import acknowledge


class SecurityGroupChain:
    """The five security groups of a stage and the rules between them.

    Not a construct of its own: the groups are direct children of ``scope`` (the network
    stack). The stacks that use them import their ids by export names made from their
    construct paths; one level deeper, every export would be renamed and every importer's
    template would change with it. (A rule between two groups is a child of a group.)
    """

    def __init__(self, scope: Construct, *, config: StageConfig, vpc: ec2.IVpc) -> None:
        net = config.network
        self.alb = ec2.SecurityGroup(
            scope,
            "AlbSecurityGroup",
            vpc=vpc,
            security_group_name=config.names.alb_security_group_name,
            description="Internet-facing ALB: HTTP/HTTPS in, app ports out",
            allow_all_outbound=False,
        )
        for port in (80, 443):
            for cidr in net.alb_ingress_cidrs:
                if cidr.endswith("/0"):
                    self.alb.add_ingress_rule(
                        ec2.Peer.any_ipv4(), ec2.Port.tcp(port), f"Internet to ALB {port}"
                    )
                    self.alb.add_ingress_rule(
                        ec2.Peer.any_ipv6(), ec2.Port.tcp(port), f"Internet (IPv6) to ALB {port}"
                    )
                else:
                    self.alb.add_ingress_rule(
                        ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), f"{cidr} to ALB {port}"
                    )
        if config.alb_is_restricted:
            Tags.of(self.alb).add(SMOKE_ACCESS_TAG, config.name)
        else:
            acknowledge(
                self.alb,
                "AwsSolutions-EC23",
                "The public ALB must accept HTTP/HTTPS from the internet; only 80 and 443 are "
                "open and WAF sits in front of the listeners.",
            )

        self.app = ec2.SecurityGroup(
            scope,
            "AppSecurityGroup",
            vpc=vpc,
            security_group_name=f"{config.names.prefix}-app",
            description="EKS nodes and pods: frontend/backend ports from the ALB only",
            # Nodes pull images and call AWS APIs through NAT; egress stays open.
            allow_all_outbound=True,
        )
        k8s = config.kubernetes
        for workload in (k8s.frontend, k8s.backend):
            to_workload = ec2.Port.tcp(workload.port)
            description = f"ALB to {workload.name}"
            self.app.add_ingress_rule(self.alb, to_workload, description)
            self.alb.add_egress_rule(self.app, to_workload, description)

        self.functions = ec2.SecurityGroup(
            scope,
            "FunctionsSecurityGroup",
            vpc=vpc,
            security_group_name=f"{config.names.prefix}-functions",
            description="Lambda functions in the VPC (reports, inventory sync): no ingress",
            allow_all_outbound=True,
        )

        self.database = ec2.SecurityGroup(
            scope,
            "DatabaseSecurityGroup",
            vpc=vpc,
            security_group_name=f"{config.names.prefix}-aurora",
            description="Aurora MySQL: 3306 from the app and functions only",
            allow_all_outbound=False,
        )
        self.cache = ec2.SecurityGroup(
            scope,
            "CacheSecurityGroup",
            vpc=vpc,
            security_group_name=f"{config.names.prefix}-cache",
            description="ElastiCache: 6379 from the app and functions only",
            allow_all_outbound=False,
        )
        for client, name in ((self.app, "app"), (self.functions, "functions")):
            self.database.add_ingress_rule(
                client, ec2.Port.tcp(net.mysql_port), f"{name} to Aurora"
            )
            self.cache.add_ingress_rule(client, ec2.Port.tcp(net.redis_port), f"{name} to cache")
        # Replicas sync from the primary inside the cache security group.
        self.cache.add_ingress_rule(self.cache, ec2.Port.tcp(net.redis_port), "cache replication")
        self.cache.add_egress_rule(self.cache, ec2.Port.tcp(net.redis_port), "cache replication")
