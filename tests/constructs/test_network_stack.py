"""The network stack on a bare app, in each NAT mode whatever stage uses it: how many NAT
gateways or instances, and every private subnet's way out through one of them."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aws_cdk.assertions import Template

from openmarket_cdk.config import NatMode, stage_config
from openmarket_cdk.stacks.network import NetworkStack
from tests.constructs.bare import bare_app, environment

# mode -> (NAT gateways, NAT instances)
NAT_COUNTS = {
    NatMode.GATEWAY_PER_AZ: (2, 0),
    NatMode.SINGLE_GATEWAY: (1, 0),
    NatMode.INSTANCE: (0, 1),
}


@pytest.mark.parametrize("mode", list(NatMode), ids=str)
def test_each_nat_mode_gives_every_private_subnet_a_way_out(mode: NatMode) -> None:
    base = stage_config("staging")
    config = replace(base, network=replace(base.network, nat_mode=mode))
    stack = NetworkStack(bare_app(), "Network", config=config, env=environment(config))
    template = Template.from_stack(stack)
    gateways = template.find_resources("AWS::EC2::NatGateway")
    instances = template.find_resources("AWS::EC2::Instance")
    assert (len(gateways), len(instances)) == NAT_COUNTS[mode]

    private_subnets = {
        logical_id
        for logical_id, subnet in template.find_resources("AWS::EC2::Subnet").items()
        if subnet["Properties"]["CidrBlock"] in config.network.private_subnet_cidrs
    }
    assert len(private_subnets) == 2
    associations = template.find_resources("AWS::EC2::SubnetRouteTableAssociation").values()
    table_of = {
        a["Properties"]["SubnetId"]["Ref"]: a["Properties"]["RouteTableId"]["Ref"]
        for a in associations
    }
    nat_targets = set(gateways) | set(instances)
    for subnet in private_subnets:
        (default,) = (
            route["Properties"]
            for route in template.find_resources("AWS::EC2::Route").values()
            if route["Properties"]["RouteTableId"]["Ref"] == table_of[subnet]
            and route["Properties"].get("DestinationCidrBlock") == "0.0.0.0/0"
        )
        target = default.get("NatGatewayId") or default.get("InstanceId")
        assert target["Ref"] in nat_targets, default
