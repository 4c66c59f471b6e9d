"""NetworkStack: the VPC of one stage, its subnets, NAT, flow logs and security groups."""

from __future__ import annotations

from typing import Any

from aws_cdk import Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from openmarket_cdk.common import log_retention, retain_or_destroy
from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.network_database_acl import DatabaseSubnetAcl
from openmarket_cdk.constructs.network_nat import (
    harden_nat_instances,
    nat_gateway_ids,
    nat_instances,
    nat_provider,
)
from openmarket_cdk.constructs.network_security_groups import SecurityGroupChain
from openmarket_cdk.constructs.network_subnets import (
    FixedSubnetCidrs,
    subnet_configuration,
    tag_subnets_for_load_balancers,
)


class NetworkStack(Stack):
    """The stage's VPC (10.0.0.0/16 over ap-northeast-2a/2c) for every other stack.

    Deploys public, private and isolated database subnets with the original design's exact
    CIDRs, NAT (a gateway per AZ in prod, one in staging, one NAT instance in dev), an S3
    gateway endpoint, VPC flow logs to CloudWatch Logs, a network ACL that fences the database
    subnets, and the security groups the original design lists: internet -> ALB 80/443 -> app
    3000/3001 -> Aurora 3306 and Redis 6379.

    The VPC and the flow-log group are the stack's direct children (the subnets, route
    tables, NAT and endpoint are the VPC's), so their logical IDs never depend on the parts.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any):
        super().__init__(scope, construct_id, **kwargs)
        net = config.network

        # --- VPC, subnets, NAT and the S3 endpoint ------------------------------------------
        # The VPC builds the NAT into its public subnets.
        provider, nat_count = nat_provider(net, self.region)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            vpc_name=f"{config.names.prefix}-vpc",
            ip_addresses=FixedSubnetCidrs(net, config.availability_zones),
            availability_zones=list(config.availability_zones),
            nat_gateway_provider=provider,
            nat_gateways=nat_count,
            subnet_configuration=subnet_configuration(),
            gateway_endpoints={
                # Image uploads, ECR layers and logs stay off the NAT (and its per-GB fee).
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
            },
            restrict_default_security_group=True,
        )
        if isinstance(provider, ec2.NatInstanceProviderV2):
            harden_nat_instances(provider, self.vpc, config)

        # For the NAT widgets of the dashboard.
        self.nat_gateway_ids: tuple[str, ...] = nat_gateway_ids(self.vpc)
        nat_instance_ids = [instance.instance_id for instance in nat_instances(self.vpc)]
        if len(nat_instance_ids) != net.nat_instance_count:
            raise AssertionError(f"expected {net.nat_instance_count} NAT instance(s)")
        if nat_instance_ids:
            # A new AL2023 image replaces the instance, and with it its id. Exported, that id
            # would block the replacement (a value another stack imports cannot change); the
            # observability stack reads it from here at each of its deploys instead.
            ssm.StringParameter(
                self,
                "NatInstanceIds",
                parameter_name=config.names.nat_instance_ids_parameter,
                string_value=Fn.join(",", nat_instance_ids),
                description=f"{config.names.prefix}: NAT instance id(s), for the dashboard",
            )

        # --- flow logs ----------------------------------------------------------------------
        self.flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            log_group_name=f"/aws/vpc/{config.names.prefix}/flow-logs",
            retention=log_retention(net.flow_log_retention_days),
            removal_policy=retain_or_destroy(config.retain_on_delete),
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )

        # --- subnet tags and the database subnets' ACL --------------------------------------
        tag_subnets_for_load_balancers(self.vpc)
        DatabaseSubnetAcl(self, "DatabaseSubnetsAcl", vpc=self.vpc, network=net)

        # --- security groups ----------------------------------------------------------------
        groups = SecurityGroupChain(self, config=config, vpc=self.vpc)
        self.alb_security_group = groups.alb
        self.app_security_group = groups.app
        self.functions_security_group = groups.functions
        self.database_security_group = groups.database
        self.cache_security_group = groups.cache
