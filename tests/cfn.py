"""Small readers for synthesized CloudFormation templates (plain dicts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def only(template: dict[str, Any], resource_type: str) -> dict[str, Any]:
    """The properties of the single resource of a type (fails if there are 0 or 2+)."""
    found = of_type(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.values())).get("Properties", {})


def nodegroup_launch_template(template: dict[str, Any]) -> dict[str, Any]:
    """The LaunchTemplateData of the launch template the node groups share (one)."""
    ids = {
        ref_id(group["Properties"]["LaunchTemplate"]["Id"])
        for group in of_type(template, "AWS::EKS::Nodegroup").values()
    }
    assert len(ids) == 1, ids
    (logical_id,) = ids
    assert logical_id is not None
    data: dict[str, Any] = template["Resources"][logical_id]["Properties"]["LaunchTemplateData"]
    return data


def ref_id(value: Any) -> str | None:
    """The logical id a Ref / Fn::GetAtt / cross-stack import points at, if any."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        if "Fn::ImportValue" in value:
            return str(value["Fn::ImportValue"])
    return None


@dataclass(frozen=True)
class IngressRule:
    group: str  # logical id of the security group the rule belongs to
    protocol: str
    from_port: int | None
    to_port: int | None
    cidr: str | None
    cidr_ipv6: str | None
    source_group: str | None


def ingress_rules(template: dict[str, Any]) -> list[IngressRule]:
    """Inline and standalone ingress rules of every security group in a template."""
    rules: list[IngressRule] = []

    def add(group: str, props: dict[str, Any]) -> None:
        rules.append(
            IngressRule(
                group=group,
                protocol=str(props.get("IpProtocol")),
                from_port=props.get("FromPort"),
                to_port=props.get("ToPort"),
                cidr=props.get("CidrIp"),
                cidr_ipv6=props.get("CidrIpv6"),
                source_group=ref_id(props.get("SourceSecurityGroupId")),
            )
        )

    for logical_id, sg in of_type(template, "AWS::EC2::SecurityGroup").items():
        for props in sg.get("Properties", {}).get("SecurityGroupIngress", []):
            add(logical_id, props)
    for rule in of_type(template, "AWS::EC2::SecurityGroupIngress").values():
        props = rule["Properties"]
        add(ref_id(props["GroupId"]) or "?", props)
    return rules


def logical_id_of(template: dict[str, Any], resource_type: str, **props: Any) -> str:
    """The logical id of the one resource of a type whose properties include ``props``."""
    matches = [
        logical_id
        for logical_id, resource in of_type(template, resource_type).items()
        if all(resource.get("Properties", {}).get(k) == v for k, v in props.items())
    ]
    assert len(matches) == 1, f"{resource_type} with {props}: {matches}"
    return matches[0]


def as_list(value: Any) -> list[Any]:
    """An IAM ``Action``/``Resource`` (a string or a list) as a list."""
    return value if isinstance(value, list) else [value]


def role_statements(template: dict[str, Any], role_id: str | None) -> list[dict[str, Any]]:
    """Every statement of the inline policies attached to the role ``role_id``."""
    return [
        statement
        for policy in of_type(template, "AWS::IAM::Policy").values()
        if any(ref_id(r) == role_id for r in policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def pod_identity(template: dict[str, Any], namespace: str, account: str) -> dict[str, Any]:
    """The properties of the one Pod Identity association of ``namespace/account``."""
    (association,) = [
        a["Properties"]
        for a in of_type(template, "AWS::EKS::PodIdentityAssociation").values()
        if a["Properties"]["Namespace"] == namespace
        and a["Properties"]["ServiceAccount"] == account
    ]
    result: dict[str, Any] = association
    return result
