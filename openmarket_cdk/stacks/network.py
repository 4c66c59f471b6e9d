"""NetworkStack: the VPC of one stage, its subnets, NAT, flow logs and security groups."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import CfnResource, Fn, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from openmarket_cdk.common import log_retention, retain_or_destroy
from openmarket_cdk.config import SLEEPS_TAG, SMOKE_ACCESS_TAG, NatMode, NetworkConfig, StageConfig
from openmarket_cdk.nag import acknowledge

# Subnet group names; CDK derives the subnet construct ids from them, so they must stay stable.
PUBLIC = "public"
PRIVATE = "private"
DATABASE = "database"


# Run at every boot of a NAT instance (openmarket_cdk/stacks/nat_instance_boot.sh).
NAT_BOOT_SCRIPT = Path(__file__).with_name("nat_instance_boot.sh")
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


class NetworkStack(Stack):
    """The stage's VPC (10.0.0.0/16 over ap-northeast-2a/2c) for every other stack.

    Deploys public, private and isolated database subnets with the original design's exact
    CIDRs, NAT (a gateway per AZ in prod, one in staging, one NAT instance in dev), an S3
    gateway endpoint, VPC flow logs to CloudWatch Logs, a network ACL that fences the database
    subnets, and the security groups the original design lists: internet -> ALB 80/443 -> app
    3000/3001 -> Aurora 3306 and Redis 6379.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any):
        super().__init__(scope, construct_id, **kwargs)
        net = config.network
        nat_provider, nat_gateways = self._nat(net)

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            vpc_name=f"{config.prefix}-vpc",
            ip_addresses=FixedSubnetCidrs(net, config.availability_zones),
            availability_zones=list(config.availability_zones),
            nat_gateway_provider=nat_provider,
            nat_gateways=nat_gateways,
            subnet_configuration=[
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
            ],
            gateway_endpoints={
                # Image uploads, ECR layers and logs stay off the NAT (and its per-GB fee).
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
            },
            restrict_default_security_group=True,
        )
        if isinstance(nat_provider, ec2.NatInstanceProviderV2):
            # The NAT instance accepts traffic from inside the VPC only, never from the internet.
            nat_provider.connections.allow_from(
                ec2.Peer.ipv4(net.vpc_cidr), ec2.Port.all_traffic(), "VPC to NAT instance"
            )
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
                for instance in self._nat_instances():
                    acknowledge(instance, ack_id, reason=reason)
            for instance in self._nat_instances():
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
            for instance in self._nat_instances():
                # Session Manager: a shell on the NAT instance for debugging, no SSH key, no
                # inbound rule (the agent dials out through the instance's own address).
                role = cast(ec2.Instance, instance).role
                role.add_managed_policy(
                    iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")
                )
                acknowledge(
                    role,
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                    "AmazonSSMManagedInstanceCore]",
                    "AWS's managed policy for the Session Manager agent on the NAT instance.",
                )
            if config.sleep.nat_instance_sleeps:
                # Stopped at night by the working-hours schedule; `make wake` may start it.
                for instance in self._nat_instances():
                    Tags.of(instance).add(
                        SLEEPS_TAG, config.name, include_resource_types=["AWS::EC2::Instance"]
                    )

        # For the NAT widgets of the dashboard.
        self.nat_gateway_ids: tuple[str, ...] = tuple(
            child.ref
            for subnet in self.vpc.public_subnets
            for child in subnet.node.children
            if isinstance(child, ec2.CfnNatGateway)
        )
        nat_instance_ids = [
            instance.instance_id  # type: ignore[attr-defined]
            for instance in self._nat_instances()
        ]
        if len(nat_instance_ids) != net.nat_instance_count:
            raise AssertionError(f"expected {net.nat_instance_count} NAT instance(s)")
        if nat_instance_ids:
            # A new AL2023 image replaces the instance, and with it its id. Exported, that id
            # would block the replacement (a value another stack imports cannot change); the
            # observability stack reads it from here at each of its deploys instead.
            ssm.StringParameter(
                self,
                "NatInstanceIds",
                parameter_name=config.nat_instance_ids_parameter,
                string_value=Fn.join(",", nat_instance_ids),
                description=f"{config.prefix}: NAT instance id(s), for the dashboard",
            )
        self.flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            log_group_name=f"/aws/vpc/{config.prefix}/flow-logs",
            retention=log_retention(net.flow_log_retention_days),
            removal_policy=retain_or_destroy(config.retain_on_delete),
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        # The AWS Load Balancer Controller picks the ALB's subnets by these tags.
        for subnet in self.vpc.public_subnets:
            Tags.of(subnet).add("kubernetes.io/role/elb", "1")
        for subnet in self.vpc.private_subnets:
            Tags.of(subnet).add("kubernetes.io/role/internal-elb", "1")
        self._database_subnet_acl(net)
        self._security_groups(config)

    def _nat(self, net: NetworkConfig) -> tuple[ec2.NatProvider, int]:
        if net.nat_mode is NatMode.INSTANCE:
            provider = ec2.NatProvider.instance_v2(
                instance_type=ec2.InstanceType(net.nat_instance_type),
                # Pinned in config (not "latest"): a new image replaces the instance, which
                # cuts egress for minutes and changes its public address; that happens only
                # when the config changes, visible in cdk diff.
                machine_image=ec2.MachineImage.generic_linux(
                    {self.region: net.nat_instance_image_id}
                ),
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

    def _nat_instances(self) -> list[Construct]:
        return [
            child
            for subnet in self.vpc.public_subnets
            for child in subnet.node.children
            if isinstance(child, ec2.Instance)
        ]

    def _database_subnet_acl(self, net: NetworkConfig) -> None:
        """Stateless second fence around the database subnets (the original design's ACLs).

        Allows MySQL and Redis from the private (app, Lambda) subnets, everything between the
        database subnets themselves (cache replication), and return traffic; nothing else.
        """
        acl = ec2.NetworkAcl(
            self,
            "DatabaseSubnetsAcl",
            vpc=self.vpc,
            network_acl_name=f"{self.vpc.node.id}-database",
            subnet_selection=ec2.SubnetSelection(subnet_group_name=DATABASE),
        )
        acknowledge(
            acl,
            "AwsSolutions-VPC3",
            "The original design asks for subnet-level ACLs around the database tier; the one "
            "ACL mirrors the security groups (3306/6379 from private subnets) as a second, "
            "stateless fence.",
        )
        rule = 100
        for cidr in net.private_subnet_cidrs:
            for port in (net.mysql_port, net.redis_port):
                acl.add_entry(
                    f"InFromPrivate{rule}",
                    rule_number=rule,
                    cidr=ec2.AclCidr.ipv4(cidr),
                    traffic=ec2.AclTraffic.tcp_port(port),
                    direction=ec2.TrafficDirection.INGRESS,
                )
                rule += 10
            acl.add_entry(
                f"OutToPrivate{rule}",
                rule_number=rule,
                cidr=ec2.AclCidr.ipv4(cidr),
                traffic=ec2.AclTraffic.tcp_port_range(1024, 65535),
                direction=ec2.TrafficDirection.EGRESS,
            )
            rule += 10
        for cidr in net.database_subnet_cidrs:
            for direction in (ec2.TrafficDirection.INGRESS, ec2.TrafficDirection.EGRESS):
                acl.add_entry(
                    f"{direction.value.title()}Database{rule}",
                    rule_number=rule,
                    cidr=ec2.AclCidr.ipv4(cidr),
                    traffic=ec2.AclTraffic.all_traffic(),
                    direction=direction,
                )
                rule += 10

    def _security_groups(self, config: StageConfig) -> None:
        net = config.network
        self.alb_security_group = ec2.SecurityGroup(
            self,
            "AlbSecurityGroup",
            vpc=self.vpc,
            security_group_name=config.alb_security_group_name,
            description="Internet-facing ALB: HTTP/HTTPS in, app ports out",
            allow_all_outbound=False,
        )
        for port in (80, 443):
            for cidr in net.alb_ingress_cidrs:
                if cidr.endswith("/0"):
                    self.alb_security_group.add_ingress_rule(
                        ec2.Peer.any_ipv4(), ec2.Port.tcp(port), f"Internet to ALB {port}"
                    )
                    self.alb_security_group.add_ingress_rule(
                        ec2.Peer.any_ipv6(), ec2.Port.tcp(port), f"Internet (IPv6) to ALB {port}"
                    )
                else:
                    self.alb_security_group.add_ingress_rule(
                        ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), f"{cidr} to ALB {port}"
                    )
        if config.alb_is_restricted:
            Tags.of(self.alb_security_group).add(SMOKE_ACCESS_TAG, config.name)
        else:
            acknowledge(
                self.alb_security_group,
                "AwsSolutions-EC23",
                "The public ALB must accept HTTP/HTTPS from the internet; only 80 and 443 are "
                "open and WAF sits in front of the listeners.",
            )

        self.app_security_group = ec2.SecurityGroup(
            self,
            "AppSecurityGroup",
            vpc=self.vpc,
            security_group_name=f"{config.prefix}-app",
            description="EKS nodes and pods: frontend/backend ports from the ALB only",
            # Nodes pull images and call AWS APIs through NAT; egress stays open.
            allow_all_outbound=True,
        )
        k8s = config.kubernetes
        for workload in (k8s.frontend, k8s.backend):
            to_workload = ec2.Port.tcp(workload.port)
            description = f"ALB to {workload.name}"
            self.app_security_group.add_ingress_rule(
                self.alb_security_group, to_workload, description
            )
            self.alb_security_group.add_egress_rule(
                self.app_security_group, to_workload, description
            )

        self.functions_security_group = ec2.SecurityGroup(
            self,
            "FunctionsSecurityGroup",
            vpc=self.vpc,
            security_group_name=f"{config.prefix}-functions",
            description="Lambda functions in the VPC (reports, inventory sync): no ingress",
            allow_all_outbound=True,
        )

        self.database_security_group = ec2.SecurityGroup(
            self,
            "DatabaseSecurityGroup",
            vpc=self.vpc,
            security_group_name=f"{config.prefix}-aurora",
            description="Aurora MySQL: 3306 from the app and functions only",
            allow_all_outbound=False,
        )
        self.cache_security_group = ec2.SecurityGroup(
            self,
            "CacheSecurityGroup",
            vpc=self.vpc,
            security_group_name=f"{config.prefix}-cache",
            description="ElastiCache: 6379 from the app and functions only",
            allow_all_outbound=False,
        )
        for client, name in (
            (self.app_security_group, "app"),
            (self.functions_security_group, "functions"),
        ):
            self.database_security_group.add_ingress_rule(
                client, ec2.Port.tcp(net.mysql_port), f"{name} to Aurora"
            )
            self.cache_security_group.add_ingress_rule(
                client, ec2.Port.tcp(net.redis_port), f"{name} to cache"
            )
        # Replicas sync from the primary inside the cache security group.
        self.cache_security_group.add_ingress_rule(
            self.cache_security_group, ec2.Port.tcp(net.redis_port), "cache replication"
        )
        self.cache_security_group.add_egress_rule(
            self.cache_security_group, ec2.Port.tcp(net.redis_port), "cache replication"
        )
