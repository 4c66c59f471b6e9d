"""Draws the architecture of one stage from the synthesized app (``make diagram``).

Reads the cloud assembly that ``make synth`` wrote (``cdk.out``) through ``tools.assembly``:
the stage's stacks, their CloudFormation templates and the Kubernetes manifests the cluster
stack applies. Each stack is a box; inside it, the resources a reader looks for
(VPC and subnets, NAT, buckets, repositories, Aurora, the cache, functions, EKS, node group,
workloads, alarms, ...), several of a kind folded into one node. The edges come from the
templates too:

- traffic allowed by security-group rules (source group -> target group, with the port),
  the internet -> ALB rule included; the ALB is the one the Ingress manifest asks the AWS
  Load Balancer Controller for, so it appears although it is no CloudFormation resource;
- the Ingress's routes (ALB -> backend / frontend);
- triggers: S3 notifications, EventBridge rules, EventBridge Scheduler schedules;
- references from functions, workloads and alarms to buckets, buses, tables, secrets,
  topics and data stores (cross-stack references included).

So the picture changes when the infrastructure does, and only then. Writes Graphviz dot and,
with ``--png``, renders it with ``dot`` (Debian package graphviz). Nothing in the output
depends on the machine (the account becomes ``<account>``, tokens ``…``), so the committed
``docs/architecture.dot`` is checked against the test session's assembly
(tests/tools/test_diagram.py); the PNG carries the SHA-256 of the dot source it was
rendered from, so a stale picture is caught too.

Both files are written to temporary files next to their targets and moved into place only
when everything succeeded: a missing or failing ``dot`` leaves the old pair untouched and
exits 1 with a one-line message.

    .venv/bin/python -m tools.diagram --cdk-out cdk.out --stage prod \\
        --dot docs/architecture.dot --png docs/architecture.png
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import os
import re
import secrets
import shutil
import struct
import subprocess
import sys
import zlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openmarket_cdk.config import stage_config
from openmarket_cdk.stage_sleep.runtime.contract import ZONE_TAG
from tools.assembly import (
    AssemblyError,
    Resource,
    ResourceKey,
    StackTemplate,
    StageAssembly,
    flatten,
    load_stage,
)

# Node colours by stack kind (the part of the construct path after the stage).
STACK_COLOURS = {
    "Network": "#e3f2fd",
    "Storage": "#e8f5e9",
    "Data": "#fff3e0",
    "Functions": "#fffde7",
    "Cluster": "#f3e5f5",
    "Observability": "#eceff1",
}
DEFAULT_COLOUR = "#fafafa"
# Resources whose references are followed one more step to find their security groups.
_SG_HOPS = {"AWS::EC2::LaunchTemplate"}
# Consumers and targets of "uses" edges (references in properties).
_CONSUMERS = {"function", "workload", "alarms", "alb"}
_TARGET_TYPES = {
    "AWS::S3::Bucket",
    "AWS::Events::EventBus",
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::SNS::Topic",
    "AWS::RDS::DBCluster",
    "AWS::ElastiCache::ReplicationGroup",
}
_HASH_SUFFIX = re.compile(r"[0-9A-F]{8}$")
_ACCOUNT = re.compile(r"\b\d{12}\b")
# Followed one more step to find where a resource is placed (subnets, VPC).
_PLACEMENT_HOPS = {
    "AWS::RDS::DBSubnetGroup",
    "AWS::ElastiCache::SubnetGroup",
    "AWS::EC2::LaunchTemplate",
}


@dataclass
class Node:
    key: str
    stack: str  # CloudFormation stack name: node ids and box labels use it
    kind: str  # what the node is, e.g. "function", "subnets"
    lines: list[str]
    members: set[ResourceKey] = field(default_factory=set)
    group: str | None = None  # a sub-box inside the stack's box (e.g. the EKS cluster)

    @property
    def id(self) -> str:
        return "n_" + re.sub(r"\W", "_", f"{self.stack}_{self.key}")


@dataclass
class Diagram:
    assembly: StageAssembly
    nodes: dict[str, Node] = field(default_factory=dict)  # by Node.id
    edges: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    dashed: set[tuple[str, str]] = field(default_factory=set)
    placement: set[tuple[str, str]] = field(default_factory=set)  # (subnets or VPC, resource)

    @property
    def stage(self) -> str:
        return self.assembly.name


def literal(value: Any, placeholder: str = "…") -> str:
    """A property as label text: a token (or anything not string-like) is ``placeholder``.

    A label shows what a reader can check, so an ARN built at deploy time is just "…".
    """
    text = flatten(value, token=placeholder)
    return placeholder if text is None else text


def short_name(logical_id: str) -> str:
    return _HASH_SUFFIX.sub("", logical_id)


# --- nodes -----------------------------------------------------------------------------------


def build(assembly: StageAssembly) -> Diagram:
    """The nodes and edges of one stage's diagram."""
    diagram = Diagram(assembly)
    prefix = f"{stage_config(assembly.name).names.prefix}-"
    sg_of: dict[str, set[ResourceKey]] = defaultdict(set)  # node id -> security groups

    def add(
        stack: StackTemplate, key: str, kind: str, line: str, lid: str, group: str | None = None
    ) -> Node:
        node = Node(key, stack.stack_name, kind, [], group=group)
        node = diagram.nodes.setdefault(node.id, node)
        if line and line not in node.lines:
            node.lines.append(line)
        node.members.add((stack.name, lid))
        return node

    for stack in assembly.stacks:
        counts: dict[str, int] = defaultdict(int)
        for resource in stack.resources():
            counts[resource.type] += 1
        for resource in stack.resources():
            lid, rtype, props = resource.logical_id, resource.type, resource.properties

            def name(prop: str, props: Mapping[str, Any] = props, lid: str = lid) -> str:
                text = literal(props.get(prop, short_name(lid))).replace(prefix, "")
                return _ACCOUNT.sub("<account>", text)

            if rtype == "AWS::EC2::VPC":
                add(stack, "vpc", "vpc", f"VPC {literal(props.get('CidrBlock'))}", lid)
            elif rtype == "AWS::EC2::Subnet":
                tags = {t["Key"]: t["Value"] for t in props.get("Tags", []) if "Key" in t}
                group = tags.get("aws-cdk:subnet-name", "subnets")
                node = add(stack, f"subnets-{group}", "subnets", f"{group} subnets", lid)
                zone = literal(props.get("AvailabilityZone"))[-2:]
                node.lines.append(f"{literal(props.get('CidrBlock'))} ({zone})")
            elif rtype == "AWS::EC2::NatGateway":
                count = counts[rtype]
                add(stack, "nat", "nat", f"NAT gateway{f' x{count}' if count > 1 else ''}", lid)
            elif rtype == "AWS::EC2::Instance":
                is_nat = props.get("SourceDestCheck") is False
                label = "NAT instance" if is_nat else "EC2 instance"
                add(
                    stack,
                    f"ec2-{lid}",
                    "nat" if is_nat else "instance",
                    f"{label} {literal(props.get('InstanceType'))}",
                    lid,
                )
            elif rtype == "AWS::EC2::VPCEndpoint":
                service = literal(props.get("ServiceName")).rsplit(".", 1)[-1]
                add(stack, "endpoints", "endpoint", "VPC endpoints", lid).lines.append(service)
            elif rtype == "AWS::EC2::FlowLog":
                add(stack, "flowlogs", "logs", "VPC flow logs", lid)
            elif rtype == "AWS::EC2::NetworkAcl":
                add(stack, "nacl", "nacl", "network ACL (database subnets)", lid)
            elif rtype == "AWS::S3::Bucket":
                add(stack, lid, "bucket", f"S3 {name('BucketName')}", lid)
            elif rtype == "AWS::ECR::Repository":
                add(stack, lid, "repository", f"ECR {name('RepositoryName')}", lid)
            elif rtype == "AWS::RDS::DBCluster":
                version = literal(props.get("EngineVersion")).split("mysql_aurora.")[-1]
                node = add(stack, lid, "database", f"Aurora MySQL {version}", lid)
                scaling = props.get("ServerlessV2ScalingConfiguration")
                if isinstance(scaling, dict):
                    low, high = scaling.get("MinCapacity"), scaling.get("MaxCapacity")
                    node.lines.append(f"Serverless v2, {low}-{high} ACU")
            elif rtype == "AWS::ElastiCache::ReplicationGroup":
                engine = literal(props.get("Engine", "redis")).capitalize()
                nodes = props.get("NumCacheClusters", 1)
                add(
                    stack,
                    lid,
                    "cache",
                    f"ElastiCache {engine} {literal(props.get('EngineVersion'))}",
                    lid,
                ).lines.append(f"{literal(props.get('CacheNodeType'))} x{nodes}")
            elif rtype in ("AWS::SecretsManager::Secret", "AWS::Serverless::Application"):
                add(stack, "secrets", "secrets", "Secrets Manager", lid)
            elif rtype == "AWS::SecretsManager::RotationSchedule":
                add(stack, "secrets", "secrets", "rotation schedule", lid)
            elif rtype == "AWS::Lambda::Function" and "FunctionName" in props:
                node = add(stack, lid, "function", f"λ {name('FunctionName')}", lid)
                node.lines.append(f"{props.get('MemorySize', 128)} MB, {props.get('Timeout', 3)} s")
            elif rtype == "AWS::Events::EventBus":
                add(stack, lid, "bus", f"EventBridge bus {name('Name')}", lid)
            elif rtype == "AWS::Scheduler::Schedule":
                node = add(stack, lid, "schedule", "schedule", lid)
                node.lines.append(literal(props.get("ScheduleExpression")))
            elif rtype == "AWS::SQS::Queue":
                add(stack, "queues", "queue", f"SQS queues x{counts[rtype]}", lid)
            elif rtype in ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"):
                add(stack, lid, "table", f"DynamoDB {name('TableName')}", lid)
            elif rtype == "AWS::EKS::Cluster":
                add(
                    stack, "eks", "eks", f"EKS {literal(props.get('Name'))}", lid, "eks"
                ).lines.append(f"Kubernetes {literal(props.get('Version'))}")
            elif rtype == "AWS::EKS::Nodegroup":
                # One group per zone, drawn as one box; the bounds are in the group's
                # Custom::NodegroupScaling (the group itself carries no scaling config).
                types = ", ".join(literal(t) for t in props.get("InstanceTypes", []))
                bounds = next(
                    (
                        r.properties
                        for r in stack.resources()
                        if r.type == "Custom::NodegroupScaling"
                        and r.properties.get("NodegroupName")
                        in ({"Ref": lid}, {"Fn::GetAtt": [lid, "NodegroupName"]})
                    ),
                    {},
                )
                tags = props.get("Tags", {})
                zone = literal(tags.get(ZONE_TAG, "?"))[-2:] if isinstance(tags, dict) else "?"
                node = add(
                    stack,
                    "nodegroups",
                    "nodegroup",
                    "managed node groups (one per zone)",
                    lid,
                    "eks",
                )
                node.lines.append(
                    f"{zone}: {types} x{bounds.get('MinSize')}-{bounds.get('MaxSize')}"
                )
            elif rtype == "AWS::EKS::Addon":
                add(stack, "addons", "addons", "EKS add-ons", lid, "eks").lines.append(
                    literal(props.get("AddonName"))
                )
            elif rtype == "Custom::AWSCDK-EKS-HelmChart":
                add(stack, "helm", "helm", "Helm charts", lid, "eks").lines.append(
                    literal(props.get("Chart"))
                )
            elif rtype == "Custom::AWSCDK-EKS-KubernetesResource":
                for obj in assembly.kubernetes_manifests[resource.key].objects or ():
                    _kubernetes_object(diagram, stack, lid, obj, add)
            elif rtype == "AWS::WAFv2::WebACL":
                add(stack, lid, "waf", "WAF web ACL", lid)
            elif rtype == "AWS::CloudWatch::Dashboard":
                add(stack, "dashboard", "dashboard", "CloudWatch dashboard", lid)
            elif rtype in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
                total = counts["AWS::CloudWatch::Alarm"] + counts["AWS::CloudWatch::CompositeAlarm"]
                add(stack, "alarms", "alarms", f"CloudWatch alarms x{total}", lid)
            elif rtype == "AWS::SNS::Topic":
                add(stack, lid, "topic", "SNS topic", lid)
            elif rtype == "AWS::SNS::Subscription":
                for target in assembly.references(stack.name, props.get("TopicArn")):
                    topic = Node(target[1], stack.stack_name, "topic", [])
                    if topic.id in diagram.nodes:
                        diagram.nodes[topic.id].lines.append(f"{literal(props.get('Protocol'))}")
            elif rtype == "AWS::Budgets::Budget":
                limit = props.get("Budget", {}).get("BudgetLimit", {})
                add(stack, lid, "budget", "AWS Budgets", lid).lines.append(
                    f"{literal(limit.get('Amount'))} {literal(limit.get('Unit'))}/month"
                )

    for resource in assembly.of_type("AWS::RDS::DBInstance"):
        _database_instance(diagram, assembly, resource)
    owner = {member: node for node in diagram.nodes.values() for member in node.members}
    _security_group_edges(diagram, assembly, owner, sg_of)
    _trigger_edges(diagram, assembly, owner)
    _use_edges(diagram, assembly, owner)
    _placement_edges(diagram, assembly, owner)
    return diagram


def _references_via(assembly: StageAssembly, key: ResourceKey, hops: set[str]) -> set[ResourceKey]:
    """What a resource references, plus what its referenced ``hops`` types reference.

    A node group reaches its security groups through its launch template, a database its
    subnets through its subnet group: one step further finds them.
    """
    seen = assembly.references(key[0], assembly[key].properties)
    for hop in list(seen):
        if assembly[hop].type in hops:
            seen |= assembly.references(hop[0], assembly[hop].properties)
    return seen


def _placement_edges(
    diagram: Diagram, assembly: StageAssembly, owner: dict[ResourceKey, Node]
) -> None:
    """Dotted edges from the VPC to its subnets and from subnets to what runs in them."""
    for node in list(diagram.nodes.values()):
        if node.kind in ("subnets", "vpc"):
            containers = {"vpc"} if node.kind == "subnets" else set()
        else:
            containers = {"subnets"}
        places: set[str] = set()
        for member in node.members:
            seen = _references_via(assembly, member, _PLACEMENT_HOPS)
            places |= {
                owner[key].id
                for key in seen
                if key in owner and owner[key].kind in containers and owner[key].id != node.id
            }
        for place in places:
            diagram.placement.add((place, node.id))


def _database_instance(diagram: Diagram, assembly: StageAssembly, instance: Resource) -> None:
    """A line on the Aurora node per instance: writer/reader, class, AZ."""
    stack, lid, props = instance.stack, instance.logical_id, instance.properties
    for cluster in assembly.references(stack, props.get("DBClusterIdentifier")):
        cluster_stack = assembly.stack(cluster[0]).stack_name
        node = diagram.nodes.get(Node(cluster[1], cluster_stack, "database", []).id)
        if node is None:
            continue
        name = short_name(lid).lower()
        role = "writer" if "writer" in name else "reader" if "reader" in name else "instance"
        zone = literal(props.get("AvailabilityZone"), "")[-2:]
        node.lines.append(f"{role} {literal(props.get('DBInstanceClass'))} {zone}".rstrip())
        node.members.add((stack, lid))


def _kubernetes_object(
    diagram: Diagram, stack: StackTemplate, lid: str, obj: dict[str, Any], add: Any
) -> None:
    kind = obj.get("kind")
    metadata = obj.get("metadata", {})
    name = str(metadata.get("name", ""))
    if kind == "Deployment":
        replicas = obj.get("spec", {}).get("replicas")
        node = add(stack, f"workload-{name}", "workload", f"{name} pods", lid, "eks")
        if replicas:
            node.lines.append(f"Deployment x{replicas}")
    elif kind == "Ingress":
        annotations = metadata.get("annotations", {})
        alb = annotations.get("alb.ingress.kubernetes.io/load-balancer-name", "ALB")
        node = add(stack, "alb", "alb", f"ALB {alb}", lid)
        node.lines.append("(from the Ingress)")
        for rule in obj.get("spec", {}).get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                service = path.get("backend", {}).get("service", {})
                target = Node(f"workload-{service.get('name')}", stack.stack_name, "workload", [])
                port = service.get("port", {}).get("number")
                label = f"{path.get('path')} :{port}" if port else str(path.get("path"))
                diagram.edges[(node.id, target.id)].add(label)


def _security_groups(assembly: StageAssembly, node: Node) -> set[ResourceKey]:
    groups: set[ResourceKey] = set()
    for member in node.members:
        resource = assembly[member]
        seen = _references_via(assembly, member, _SG_HOPS)
        if node.kind == "alb" or resource.type != "Custom::AWSCDK-EKS-KubernetesResource":
            groups |= {k for k in seen if assembly[k].type == "AWS::EC2::SecurityGroup"}
    return groups


def _security_group_edges(
    diagram: Diagram,
    assembly: StageAssembly,
    owner: dict[ResourceKey, Node],
    sg_of: dict[str, set[ResourceKey]],
) -> None:
    holders: dict[ResourceKey, set[str]] = defaultdict(set)
    for node in diagram.nodes.values():
        if node.kind == "workload":
            continue  # pods use their nodes' groups; the node group carries them
        for group in _security_groups(assembly, node):
            holders[group].add(node.id)
            sg_of[node.id].add(group)
    internet = "n_internet"
    routed_from_alb = any(
        diagram.nodes.get(source) is not None and diagram.nodes[source].kind == "alb"
        for source, _ in diagram.edges
    )
    for resource in assembly.resources:
        (stack, lid), rtype, props = resource.key, resource.type, resource.properties
        rules: list[tuple[Any, Mapping[str, Any]]] = []
        if rtype == "AWS::EC2::SecurityGroupIngress":
            rules.append((props.get("GroupId"), props))
        elif rtype == "AWS::EC2::SecurityGroup":
            rules += [({"Ref": lid}, rule) for rule in props.get("SecurityGroupIngress", [])]
        for target_ref, rule in rules:
            targets = assembly.references(stack, target_ref)
            port = str(rule.get("FromPort", "all"))
            sources: set[str] = set()
            cidr = rule.get("CidrIp")
            if cidr == "0.0.0.0/0" or rule.get("CidrIpv6") == "::/0":
                sources.add(internet)
            elif isinstance(cidr, str) and not any(
                ipaddress.IPv4Network(cidr).subnet_of(private) for private in _RFC1918
            ):
                # Users from listed ranges only (dev's ALB without WAF: the office/VPN).
                sources.add(internet)
                port = f"{port} from {cidr}"
            for group in assembly.references(stack, rule.get("SourceSecurityGroupId")):
                sources |= holders.get(group, set())
            for target in targets:
                for destination in holders.get(target, set()):
                    for source in sources:
                        if source == destination:
                            continue
                        if (
                            routed_from_alb
                            and diagram.nodes[destination].kind == "nodegroup"
                            and source in diagram.nodes
                            and diagram.nodes[source].kind == "alb"
                        ):
                            continue  # the Ingress routes say it more precisely
                        diagram.edges[(source, destination)].add(f"tcp {port}")


_RFC1918 = tuple(
    ipaddress.IPv4Network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


def _trigger_edges(
    diagram: Diagram, assembly: StageAssembly, owner: dict[ResourceKey, Node]
) -> None:
    def nodes(stack: str, value: Any) -> list[Node]:
        return [owner[k] for k in sorted(assembly.references(stack, value)) if k in owner]

    for resource in assembly.resources:
        (stack, lid), rtype, props = resource.key, resource.type, resource.properties
        if rtype == "Custom::S3BucketNotifications":
            config = props.get("NotificationConfiguration", {})
            for bucket in nodes(stack, props.get("BucketName")):
                for entry in config.get("LambdaFunctionConfigurations", []):
                    for function in nodes(stack, entry.get("LambdaFunctionArn")):
                        diagram.edges[(bucket.id, function.id)].add("object created")
        elif rtype == "AWS::Events::Rule":
            detail = ", ".join(props.get("EventPattern", {}).get("detail-type", []))
            for bus in nodes(stack, props.get("EventBusName")):
                for target in props.get("Targets", []):
                    for function in nodes(stack, target.get("Arn")):
                        diagram.edges[(bus.id, function.id)].add(detail or "rule")
        elif rtype == "AWS::Scheduler::Schedule" and (stack, lid) in owner:
            for function in nodes(stack, props.get("Target", {}).get("Arn")):
                diagram.edges[(owner[(stack, lid)].id, function.id)].add("invokes")


def _use_edges(diagram: Diagram, assembly: StageAssembly, owner: dict[ResourceKey, Node]) -> None:
    for node in list(diagram.nodes.values()):
        if node.kind not in _CONSUMERS:
            continue
        for stack, lid in node.members:
            resource = assembly[(stack, lid)]
            # One manifest resource holds a whole chart: a workload uses its own chart's refs.
            chart = short_name(lid).lower()
            if node.kind == "workload" and not chart.endswith(node.key.removeprefix("workload-")):
                continue
            for key in assembly.references(stack, resource.properties):
                target = owner.get(key)
                if target is None or target.id == node.id:
                    continue
                if node.kind == "alb" and target.kind == "waf":
                    diagram.edges[(target.id, node.id)].add("filters")
                    continue
                if assembly[key].type not in _TARGET_TYPES and target.kind != "secrets":
                    continue
                edge = (node.id, target.id)
                if edge not in diagram.edges:
                    diagram.dashed.add(edge)
                diagram.edges.setdefault(edge, set())


# --- output ----------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(diagram: Diagram) -> str:
    out = [
        f"// Generated by tools/diagram.py from cdk.out (stage {diagram.stage}); do not edit.",
        "digraph openmarket {",
        "  graph [rankdir=LR, fontname=Helvetica, fontsize=12, compound=true, newrank=true,",
        f"         nodesep=0.25, ranksep=0.6, label={_quote(_title(diagram))}, labelloc=t];",
        '  node [shape=box, style="rounded,filled", fontname=Helvetica, fontsize=10];',
        '  edge [fontname=Helvetica, fontsize=9, color="#555555"];',
        '  n_internet [label="Users\\n(internet)", shape=ellipse, fillcolor="#ffffff"];',
    ]
    for stack in diagram.assembly.stacks:
        nodes = sorted(
            (n for n in diagram.nodes.values() if n.stack == stack.stack_name), key=lambda n: n.id
        )
        if not nodes:
            continue
        colour = STACK_COLOURS.get(stack.kind, DEFAULT_COLOUR)
        cluster = re.sub(r"\W", "_", stack.stack_name)
        out.append(f"  subgraph cluster_{cluster} {{")
        out.append(f'    label={_quote(stack.stack_name)}; style=rounded; color="#90a4ae";')
        groups: dict[str | None, list[Node]] = defaultdict(list)
        for node in nodes:
            groups[node.group].append(node)
        for group, members in sorted(groups.items(), key=lambda item: item[0] or ""):
            indent = "    "
            if group:
                out.append(f"    subgraph cluster_{cluster}_{group} {{")
                out.append(f"      label={_quote(group.upper())}; style=dashed;")
                indent = "      "
            for node in members:
                label = "\\n".join(node.lines).replace('"', '\\"')
                out.append(f'{indent}{node.id} [label="{label}", fillcolor="{colour}"];')
            if group:
                out.append("    }")
        out.append("  }")
    known = set(diagram.nodes) | {"n_internet"}
    for (source, target), labels in sorted(diagram.edges.items()):
        if source not in known or target not in known:
            continue
        attributes = []
        if labels:
            attributes.append(f"label={_quote(', '.join(sorted(labels)))}")
        if (source, target) in diagram.dashed:
            attributes.append("style=dashed")
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        out.append(f"  {source} -> {target}{suffix};")
    for source, target in sorted(diagram.placement):
        out.append(f'  {source} -> {target} [style=dotted, arrowhead=none, color="#90a4ae"];')
    out.append("}")
    return "\n".join(out) + "\n"


def _title(diagram: Diagram) -> str:
    return (
        f"OpenMarket, stage {diagram.stage}: stacks and main resources "
        "(solid: traffic, routes, triggers; dashed: references; dotted: placed in)"
    )


# --- writing ---------------------------------------------------------------------------------

# The stage ``make diagram`` draws, and the committed files it writes.
DEFAULT_STAGE = "prod"
DEFAULT_DOT = Path("docs/architecture.dot")
DEFAULT_PNG = Path("docs/architecture.png")
# The PNG text chunk that names the dot source the picture was rendered from.
PNG_SOURCE_KEY = "openmarket:dot-sha256"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Graphviz draws this diagram in a second or two; a hung ``dot`` must not hang make.
DOT_TIMEOUT_S = 120


class DiagramError(RuntimeError):
    """Rendering or writing failed; nothing was written."""


def dot_digest(dot_text: str) -> str:
    return hashlib.sha256(dot_text.encode()).hexdigest()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def with_source_digest(png: bytes, dot_text: str) -> bytes:
    """``png`` with a tEXt chunk after its header naming the SHA-256 of ``dot_text``."""
    if not png.startswith(_PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise DiagramError("`dot` did not write a PNG")
    header_end = 8 + 12 + struct.unpack(">I", png[8:12])[0]
    text = _png_chunk(b"tEXt", f"{PNG_SOURCE_KEY}\0{dot_digest(dot_text)}".encode("latin-1"))
    return png[:header_end] + text + png[header_end:]


def png_source_digest(png: bytes) -> str | None:
    """The dot source's SHA-256 that :func:`with_source_digest` put into ``png``, if any."""
    if not png.startswith(_PNG_SIGNATURE):
        return None
    offset = len(_PNG_SIGNATURE)
    while offset + 8 <= len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        data = png[offset + 8 : offset + 8 + length]
        if kind == b"tEXt":
            key, _, value = data.partition(b"\0")
            if key.decode("latin-1") == PNG_SOURCE_KEY:
                return value.decode("latin-1")
        if kind == b"IEND":
            break
        offset += 12 + length
    return None


def find_dot() -> str:
    """Graphviz's ``dot`` on PATH, or a :class:`DiagramError` that says how to get it."""
    dot = shutil.which("dot")
    if dot is None:
        raise DiagramError(
            "Graphviz's `dot` is not on PATH: install graphviz (apt-get install graphviz, "
            "brew install graphviz); nothing was written"
        )
    return dot


def render_png(dot_text: str, png: Path, dot: str) -> None:
    """Render ``dot_text`` to ``png`` with Graphviz, the source's digest embedded."""
    try:
        result = subprocess.run(
            [dot, "-Tpng", "-Gdpi=96", "-o", str(png)],
            # UTF-8 whatever the locale: labels hold "…" and "λ".
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=DOT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DiagramError(
            f"`{dot}` did not finish within {DOT_TIMEOUT_S} s; nothing was written"
        ) from None
    except OSError as error:
        raise DiagramError(f"could not run `{dot}`: {error}; nothing was written") from None
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", errors="replace")
        reason = next((line for line in stderr.splitlines() if line.strip()), "no message")
        raise DiagramError(
            f"`{dot}` failed (exit {result.returncode}): {reason.strip()}; nothing was written"
        )
    try:
        png.write_bytes(with_source_digest(png.read_bytes(), dot_text))
    except FileNotFoundError:
        raise DiagramError(f"`{dot}` wrote no PNG; nothing was written") from None


def _temporary(target: Path) -> Path:
    """A new file name next to ``target`` (same file system, so the final move is atomic)."""
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def write_outputs(dot_text: str, dot_path: Path, png_path: Path | None = None) -> list[Path]:
    """Write the dot source (and the PNG rendered from it) all or nothing.

    Both go to temporary files next to their targets; only when both are complete are they
    moved into place, so a failure leaves the previous pair as it was.
    """
    dot = find_dot() if png_path is not None else None
    staged: list[tuple[Path, Path]] = []
    try:
        dot_path.parent.mkdir(parents=True, exist_ok=True)
        staged.append((_temporary(dot_path), dot_path))
        staged[-1][0].write_text(dot_text, encoding="utf-8")
        if png_path is not None and dot is not None:
            png_path.parent.mkdir(parents=True, exist_ok=True)
            staged.append((_temporary(png_path), png_path))
            render_png(dot_text, staged[-1][0], dot)
        for temporary, target in staged:
            temporary.replace(target)
    except OSError as error:
        raise DiagramError(f"{error}; nothing was written") from None
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
    return [target for _, target in staged]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.diagram", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--cdk-out", type=Path, default=Path("cdk.out"))
    parser.add_argument("--stage", default=DEFAULT_STAGE)
    parser.add_argument("--dot", type=Path, required=True)
    parser.add_argument("--png", type=Path)
    args = parser.parse_args(argv)

    try:
        assembly = load_stage(args.cdk_out, args.stage)
        written = write_outputs(to_dot(build(assembly)), args.dot, args.png)
    except (AssemblyError, DiagramError) as error:
        # One line on stderr and exit 1: the message says what is missing.
        raise SystemExit(f"diagram: {error}") from None
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
