"""NetworkStack invariants, per stage: what the original design says the network must be."""

from __future__ import annotations

import json

import pytest

from openmarket_cdk.config import SMOKE_ACCESS_TAG, STAGE_NAMES, NatMode, stage_config
from tests.cfn import ingress_rules, of_type, only, ref_id
from tests.conftest import Synthesized

ORIGINAL_SUBNETS = {
    # CIDR -> AZ, exactly as the original design lists them (docs/requirements.md).
    "10.0.1.0/24": "ap-northeast-2a",
    "10.0.2.0/24": "ap-northeast-2c",
    "10.0.11.0/24": "ap-northeast-2a",
    "10.0.12.0/24": "ap-northeast-2c",
    "10.0.21.0/24": "ap-northeast-2a",
    "10.0.22.0/24": "ap-northeast-2c",
}
PUBLIC = {"10.0.1.0/24", "10.0.2.0/24"}
PRIVATE = {"10.0.11.0/24", "10.0.12.0/24"}
DATABASE = {"10.0.21.0/24", "10.0.22.0/24"}

pytestmark = pytest.mark.parametrize("stage", STAGE_NAMES)


def _subnets_by_cidr(synthesized: Synthesized, stage: str) -> dict[str, str]:
    """CIDR -> logical id of the subnet."""
    subnets = of_type(synthesized.template(stage, "network"), "AWS::EC2::Subnet")
    return {s["Properties"]["CidrBlock"]: logical_id for logical_id, s in subnets.items()}


def _default_routes(synthesized: Synthesized, stage: str) -> dict[str, dict[str, object]]:
    """Route table logical id -> properties of its 0.0.0.0/0 route."""
    routes = of_type(synthesized.template(stage, "network"), "AWS::EC2::Route").values()
    return {
        str(ref_id(r["Properties"]["RouteTableId"])): r["Properties"]
        for r in routes
        if r["Properties"].get("DestinationCidrBlock") == "0.0.0.0/0"
    }


def _route_table_of(synthesized: Synthesized, stage: str, subnet_id: str) -> str:
    template = synthesized.template(stage, "network")
    for assoc in of_type(template, "AWS::EC2::SubnetRouteTableAssociation").values():
        if ref_id(assoc["Properties"]["SubnetId"]) == subnet_id:
            return str(ref_id(assoc["Properties"]["RouteTableId"]))
    raise AssertionError(f"no route table for {subnet_id}")


def test_vpc_and_subnets_have_spec_cidrs_and_azs(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "network")
    assert only(template, "AWS::EC2::VPC")["CidrBlock"] == "10.0.0.0/16"
    subnets = of_type(template, "AWS::EC2::Subnet").values()
    placed = {s["Properties"]["CidrBlock"]: s["Properties"]["AvailabilityZone"] for s in subnets}
    assert placed == ORIGINAL_SUBNETS


def test_public_subnets_do_not_hand_out_public_ips(synthesized: Synthesized, stage: str) -> None:
    subnets = of_type(synthesized.template(stage, "network"), "AWS::EC2::Subnet").values()
    for subnet in subnets:
        assert subnet["Properties"].get("MapPublicIpOnLaunch") is False


def test_database_subnets_have_no_route_to_the_internet(
    synthesized: Synthesized, stage: str
) -> None:
    by_cidr = _subnets_by_cidr(synthesized, stage)
    default_routes = _default_routes(synthesized, stage)
    for cidr in DATABASE:
        assert _route_table_of(synthesized, stage, by_cidr[cidr]) not in default_routes


def test_private_subnets_reach_the_internet_through_nat(
    synthesized: Synthesized, stage: str
) -> None:
    by_cidr = _subnets_by_cidr(synthesized, stage)
    default_routes = _default_routes(synthesized, stage)
    for cidr in PRIVATE:
        route = default_routes[_route_table_of(synthesized, stage, by_cidr[cidr])]
        assert "NatGatewayId" in route or "InstanceId" in route, route
    for cidr in PUBLIC:
        route = default_routes[_route_table_of(synthesized, stage, by_cidr[cidr])]
        assert "GatewayId" in route  # the internet gateway


def test_nat_count_matches_the_stage(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "network")
    gateways = of_type(template, "AWS::EC2::NatGateway")
    instances = of_type(template, "AWS::EC2::Instance")
    # prod: a gateway per AZ (the original design); staging and dev: one NAT instance (issue
    # 14's budget).
    expected = {"prod": (2, 0), "staging": (0, 1), "dev": (0, 1)}[stage]
    assert (len(gateways), len(instances)) == expected
    if stage == "prod":
        # One gateway per AZ: each private subnet routes through the NAT of its own AZ.
        by_cidr = _subnets_by_cidr(synthesized, stage)
        default_routes = _default_routes(synthesized, stage)
        nat_targets = {
            str(
                ref_id(
                    default_routes[_route_table_of(synthesized, stage, by_cidr[c])]["NatGatewayId"]
                )
            )
            for c in PRIVATE
        }
        assert len(nat_targets) == 2


def test_flow_logs_capture_all_traffic_with_retention(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "network")
    flow_log = only(template, "AWS::EC2::FlowLog")
    assert flow_log["TrafficType"] == "ALL"
    assert flow_log["ResourceType"] == "VPC"
    log_group = only(template, "AWS::Logs::LogGroup")
    assert log_group["RetentionInDays"] == stage_config(stage).network.flow_log_retention_days


def test_s3_gateway_endpoint_serves_every_route_table(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "network")
    endpoint = only(template, "AWS::EC2::VPCEndpoint")
    assert endpoint["VpcEndpointType"] == "Gateway"
    assert "s3" in str(endpoint["ServiceName"])
    assert len(endpoint["RouteTableIds"]) == len(of_type(template, "AWS::EC2::RouteTable"))


def _group_id(synthesized: Synthesized, stage: str, name: str) -> str:
    groups = of_type(synthesized.template(stage, "network"), "AWS::EC2::SecurityGroup")
    matches = [
        logical_id
        for logical_id, sg in groups.items()
        if sg["Properties"].get("GroupName") == f"openmarket-{stage}-{name}"
    ]
    assert len(matches) == 1, name
    return matches[0]


def test_only_the_alb_is_open_to_the_internet_and_only_on_80_443(
    synthesized: Synthesized, stage: str
) -> None:
    config = stage_config(stage)
    alb = _group_id(synthesized, stage, "alb")
    rules = ingress_rules(synthesized.template(stage, "network"))
    open_rules = [r for r in rules if r.cidr == "0.0.0.0/0" or r.cidr_ipv6 == "::/0"]
    listeners = {(alb, 80, 80), (alb, 443, 443)}
    if not config.alb_is_restricted:
        assert {(r.group, r.from_port, r.to_port) for r in open_rules} == listeners
        return
    # dev (no WAF): nothing is open to the internet; the ALB admits its listed ranges only,
    # on the listener ports, and its group carries the tag `make smoke` may open it by.
    assert open_rules == []
    assert {(r.cidr, r.from_port, r.to_port) for r in rules if r.group == alb} == {
        (cidr, port, port) for cidr in config.network.alb_ingress_cidrs for port in (80, 443)
    }
    group = synthesized.template(stage, "network")["Resources"][alb]
    assert {"Key": SMOKE_ACCESS_TAG, "Value": stage} in group["Properties"]["Tags"]


def test_security_group_chain_is_least_privilege(synthesized: Synthesized, stage: str) -> None:
    ids = {
        name: _group_id(synthesized, stage, name)
        for name in ("alb", "app", "functions", "aurora", "cache")
    }
    rules = ingress_rules(synthesized.template(stage, "network"))

    def sources(group: str) -> set[tuple[str | None, int | None, int | None]]:
        return {
            (r.source_group, r.from_port, r.to_port)
            for r in rules
            if r.group == ids[group] and r.source_group
        }

    assert sources("app") == {(ids["alb"], 3000, 3000), (ids["alb"], 3001, 3001)}
    assert sources("aurora") == {
        (ids["app"], 3306, 3306),
        (ids["functions"], 3306, 3306),
    }
    assert sources("cache") == {
        (ids["app"], 6379, 6379),
        (ids["functions"], 6379, 6379),
        (ids["cache"], 6379, 6379),  # replica <-> primary
    }
    assert not [r for r in rules if r.group == ids["functions"]], "functions: no ingress"


def test_alb_egress_only_to_app_ports(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "network")
    alb = _group_id(synthesized, stage, "alb")
    app = _group_id(synthesized, stage, "app")
    egress = [
        e["Properties"]
        for e in of_type(template, "AWS::EC2::SecurityGroupEgress").values()
        if ref_id(e["Properties"]["GroupId"]) == alb
    ]
    assert {(ref_id(e["DestinationSecurityGroupId"]), e["FromPort"]) for e in egress} == {
        (app, 3000),
        (app, 3001),
    }
    inline = of_type(template, "AWS::EC2::SecurityGroup")[alb]["Properties"].get(
        "SecurityGroupEgress", []
    )
    assert all(rule.get("CidrIp") == "255.255.255.255/32" for rule in inline)


def test_database_subnet_acl_admits_only_db_ports_from_private_subnets(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "network")
    entries = [e["Properties"] for e in of_type(template, "AWS::EC2::NetworkAclEntry").values()]
    inbound = [e for e in entries if not e.get("Egress")]
    from_private = {
        (e["CidrBlock"], e["PortRange"]["From"]) for e in inbound if e["CidrBlock"] in PRIVATE
    }
    assert from_private == {(c, p) for c in PRIVATE for p in (3306, 6379)}
    assert {e["CidrBlock"] for e in inbound} == PRIVATE | DATABASE
    assert all(e["RuleAction"] == "allow" for e in entries)
    associations = of_type(template, "AWS::EC2::SubnetNetworkAclAssociation").values()
    by_cidr = _subnets_by_cidr(synthesized, stage)
    assert {ref_id(a["Properties"]["SubnetId"]) for a in associations} == {
        by_cidr[c] for c in DATABASE
    }


def test_subnets_are_tagged_for_the_load_balancer_controller(
    synthesized: Synthesized, stage: str
) -> None:
    subnets = of_type(synthesized.template(stage, "network"), "AWS::EC2::Subnet").values()
    for subnet in subnets:
        tags = {t["Key"]: t["Value"] for t in subnet["Properties"]["Tags"]}
        cidr = subnet["Properties"]["CidrBlock"]
        assert (tags.get("kubernetes.io/role/elb") == "1") is (cidr in PUBLIC)
        assert (tags.get("kubernetes.io/role/internal-elb") == "1") is (cidr in PRIVATE)


def test_a_nat_instance_has_its_own_public_address(synthesized: Synthesized, stage: str) -> None:
    """The public subnets do not map addresses on launch: a NAT instance without its own
    would forward nothing (nodes could not pull images, the kubectl handler could not reach
    the EKS API)."""
    template = synthesized.template(stage, "network")
    instances = [
        r["Properties"]
        for r in of_type(template, "AWS::EC2::Instance").values()
        if r["Properties"].get("SourceDestCheck") is False
    ]
    assert len(instances) == (1 if stage_config(stage).network.nat_mode is NatMode.INSTANCE else 0)
    for instance in instances:
        (interface,) = instance["NetworkInterfaces"]
        assert interface["AssociatePublicIpAddress"] is True
        assert interface["DeviceIndex"] == "0"


def test_no_stack_imports_the_nat_instance_id(synthesized: Synthesized, stage: str) -> None:
    """A new AL2023 image replaces the NAT instance (and its id). Had another stack imported
    the id, CloudFormation would refuse the change ("export in use") and the network stack
    would stop deploying until the importer let go. The dashboard reads it from an SSM
    parameter at each of its deploys instead."""
    config = stage_config(stage)
    network = synthesized.template(stage, "network")
    instances = [
        logical_id
        for logical_id, r in of_type(network, "AWS::EC2::Instance").items()
        if r["Properties"].get("SourceDestCheck") is False
    ]
    exported = json.dumps(network.get("Outputs", {}))
    for logical_id in instances:
        assert f'"Ref": "{logical_id}"' not in exported
    if not instances:
        return
    (parameter,) = [
        r["Properties"]
        for r in of_type(network, "AWS::SSM::Parameter").values()
        if r["Properties"]["Name"] == config.names.nat_instance_ids_parameter
    ]
    assert instances[0] in json.dumps(parameter["Value"])
    observability = synthesized.template(stage, "observability")
    assert config.names.nat_instance_ids_parameter in json.dumps(
        observability.get("Parameters", {})
    )


def test_the_nat_instance_image_is_pinned_and_reachable_by_session_manager(
    synthesized: Synthesized, stage: str
) -> None:
    """The image comes from config, never "latest" (a new one would replace the instance at
    any network deploy: egress cut, a new address); Session Manager gives a shell on it with
    no inbound rule and no key."""
    config = stage_config(stage)
    template = synthesized.template(stage, "network")
    instances = [
        r
        for r in of_type(template, "AWS::EC2::Instance").values()
        if r["Properties"].get("SourceDestCheck") is False
    ]
    if not instances:
        return
    (instance,) = instances
    assert instance["Properties"]["ImageId"] == config.network.nat_instance_image_id
    assert not any(
        "ami-amazon-linux-latest" in str(p.get("Default"))
        for p in template.get("Parameters", {}).values()
    )
    profile = template["Resources"][instance["Properties"]["IamInstanceProfile"]["Ref"]]
    (role_ref,) = profile["Properties"]["Roles"]
    role = template["Resources"][role_ref["Ref"]]["Properties"]
    assert "AmazonSSMManagedInstanceCore" in json.dumps(role["ManagedPolicyArns"])
