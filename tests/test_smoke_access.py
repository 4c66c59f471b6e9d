"""`make smoke` into a stage whose ALB admits listed ranges only (dev): the caller's address is
added to the ALB's security group for the test and every such rule is removed after; stages
open to the internet are left alone (emulated EC2, moto)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from openmarket_cdk.config import SMOKE_ACCESS_TAG, stage_config
from scripts.aws_access import OperatorError
from scripts.smoke_access import RULE_DESCRIPTION, close, open_for

REGION = "ap-northeast-2"
DEV = stage_config("dev")
RUNNER = "198.51.100.7"  # outside dev's office range (TEST-NET-2)


@pytest.fixture
def ec2(emulated_aws: None) -> Any:
    return boto3.client("ec2", region_name=REGION)


def alb_group(ec2: Any, tagged: bool = True) -> str:
    """dev's ALB security group as the network stack makes it: the office range on 80/443."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    tags = [{"Key": SMOKE_ACCESS_TAG, "Value": "dev"}] if tagged else []
    group = ec2.create_security_group(
        GroupName=DEV.names.alb_security_group_name,
        Description="ALB",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}] if tags else [],
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "IpRanges": [{"CidrIp": cidr, "Description": f"{cidr} to ALB {port}"}],
            }
            for cidr in DEV.network.alb_ingress_cidrs
            for port in (80, 443)
        ],
    )
    return str(group)


def ingress(ec2: Any, group: str) -> set[tuple[str, int, str]]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return {
        (r["CidrIpv4"], r["FromPort"], r.get("Description", ""))
        for r in rules["SecurityGroupRules"]
        if not r["IsEgress"]
    }


def smoke_rules(ec2: Any, group: str) -> set[tuple[str, int]]:
    return {
        (cidr, port)
        for cidr, port, description in ingress(ec2, group)
        if description.startswith(RULE_DESCRIPTION)
    }


def test_open_admits_the_caller_on_the_listener_and_close_removes_it(ec2: Any) -> None:
    group = alb_group(ec2)
    office = ingress(ec2, group)
    assert open_for(DEV, ec2, RUNNER) == f"{RUNNER}/32"
    # dev has no domain: HTTP on 80 only.
    assert smoke_rules(ec2, group) == {(f"{RUNNER}/32", 80)}
    assert close(DEV, ec2) == [f"{RUNNER}/32"]
    assert ingress(ec2, group) == office  # the office rules are untouched


def test_a_rule_left_by_a_dead_run_is_removed_by_the_next(ec2: Any) -> None:
    group = alb_group(ec2)
    open_for(DEV, ec2, "192.0.2.99")  # this run died before closing
    open_for(DEV, ec2, RUNNER)
    assert smoke_rules(ec2, group) == {(f"{RUNNER}/32", 80)}


def test_an_address_inside_the_office_range_needs_nothing(ec2: Any) -> None:
    group = alb_group(ec2)
    inside = DEV.network.alb_ingress_cidrs[0].replace("0/24", "10")
    assert open_for(DEV, ec2, inside) is None
    assert smoke_rules(ec2, group) == set()


def test_a_stage_open_to_the_internet_is_left_alone(ec2: Any) -> None:
    staging = stage_config("staging")
    assert not staging.alb_is_restricted
    assert open_for(staging, ec2, RUNNER) is None
    assert close(staging, ec2) == []
    # No security group was even looked up: emulated EC2 has only the default one.
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]] == ["default"]


def test_an_untagged_group_is_not_opened(ec2: Any) -> None:
    """The deploy role may only change groups tagged for it: the script looks for the tag
    too, and says what it did not find."""
    alb_group(ec2, tagged=False)
    with pytest.raises(OperatorError, match=f"tagged {SMOKE_ACCESS_TAG}=dev, found 0"):
        open_for(DEV, ec2, RUNNER)
