"""Compute: the EKS control plane, managed node groups and standalone EC2 instances.

A node group's size comes from its ``Custom::NodegroupScaling`` (its own template has no
ScalingConfig): it starts at its minimum, the node autoscaler may take it to its maximum. It
runs only the hours the stage-sleep schedules leave it up (from the wake to the sleep in
dev and staging); its root volumes live and die with the nodes, so they are counted for the
same hours. An EC2 instance the stage-sleep function stops and starts (dev's NAT instance, by
its tag) is counted from the wake to the finish-sleep, with its public IPv4 address; its root
volume outlives the stop and is counted all month.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openmarket_cdk.config import CLUSTER_ACCESS_TAG
from openmarket_cdk.stage_sleep.runtime.contract import ZONE_TAG
from tools.assembly import Resource, as_number, flatten
from tools.cost.context import (
    NODEGROUP_SCALING_TYPE,
    StageContext,
    nodegroup_name,
    nodegroup_zone,
)
from tools.cost.hours import HOURS_PER_MONTH
from tools.cost.model import Outcome, Unpriced
from tools.cost.rules.base import Service
from tools.cost.rules.deployment import DEPLOY_TIME


def eks_cluster(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    usd = c.price("eks.cluster_hour") * HOURS_PER_MONTH
    notes = []
    if r.prop("UpgradePolicy", "SupportType", default="EXTENDED") == "EXTENDED":
        notes.append("extended support after standard support ends: $0.60/h")
    version = flatten(r.prop("Version")) or "?"
    name = flatten(r.prop("Name")) or r.logical_id
    return [
        c.item(
            r,
            "EKS control plane",
            f"EKS cluster {name} (Kubernetes {version})",
            f"1 cluster x {HOURS_PER_MONTH:.0f} h",
            usd,
            notes,
        )
    ]


def _node_hours(r: Resource, ctx: StageContext) -> tuple[float, list[str]]:
    """Hours the node group runs and the note saying why; warns when the templates and the
    config disagree about the stage's sleep (then it is counted all month)."""
    label = f"{nodegroup_name(r)} ({nodegroup_zone(r) or f'no {ZONE_TAG} tag'})"
    sleep = ctx.nodegroup_sleeps.get(r.address)
    enabled = ctx.sleep.enabled
    if enabled and sleep is not None:
        return sleep.hours_per_month, [sleep.note]
    if enabled:
        ctx.warnings.append(
            "stage sleep is enabled in config (sleep.enabled), but no enabled stage-sleep "
            f"schedule in the templates scales node group {label} to 0: counted "
            f"{HOURS_PER_MONTH:.0f} h/month"
        )
    elif sleep is not None:
        ctx.warnings.append(
            f"node group {label} is {sleep.by.removeprefix('by ')}, but stage sleep is "
            f"disabled in config: counted {HOURS_PER_MONTH:.0f} h/month"
        )
    return HOURS_PER_MONTH, []


def _node_counts(r: Resource, ctx: StageContext) -> tuple[int, int, int] | None:
    """(expected, minimum, maximum) nodes: the bounds of its ``Custom::NodegroupScaling``
    (which starts the group at its minimum, as the wake does; the autoscaler adds nodes up to
    the maximum), else its own ``ScalingConfig`` (desired, else min); None without either."""
    bounds = ctx.nodegroup_bounds.get(r.address)
    if bounds is not None:
        return bounds.minimum, bounds.minimum, bounds.maximum
    if not r.prop("ScalingConfig"):
        return None
    desired = int(as_number(r.prop("ScalingConfig", "DesiredSize"), 0)) or int(
        as_number(r.prop("ScalingConfig", "MinSize"), 1)
    )
    minimum = int(as_number(r.prop("ScalingConfig", "MinSize"), desired)) or desired
    maximum = max(int(as_number(r.prop("ScalingConfig", "MaxSize"), desired)), desired)
    return desired, min(minimum, desired), maximum


def eks_nodegroup(r: Resource, ctx: StageContext) -> list[Outcome]:
    name = nodegroup_name(r)
    template = ctx.resolve(r.stack, r.prop("LaunchTemplate", "Id"))
    template_data: Mapping[str, Any] = (
        template.prop("LaunchTemplateData", default={}) if template else {}
    )
    instance_types = r.prop("InstanceTypes") or (
        [template_data["InstanceType"]] if "InstanceType" in template_data else []
    )
    if not instance_types:
        return [Unpriced(r.address, r.type, "node group without an instance type")]
    instance_type = str(instance_types[0])
    counts = _node_counts(r, ctx)
    if counts is None:
        return [
            Unpriced(
                r.address,
                r.type,
                f"node group without a size: no ScalingConfig and no {NODEGROUP_SCALING_TYPE}",
            )
        ]
    # The floor runs the node group's minimum, the ceiling its maximum (the node autoscaler's
    # bound), for the same hours.
    nodes, minimum, maximum = counts
    hours, notes = _node_hours(r, ctx)
    zone = nodegroup_zone(r)
    where = f" ({zone})" if zone else ""
    if len(instance_types) > 1:
        notes.append(f"priced as the first of {instance_types}")
    c = ctx.calc()
    hourly = c.price("ec2.instance_hour", instance_type)
    if r.prop("CapacityType") == "SPOT":
        discount = c.assume("ec2_spot_discount")
        hourly *= 1 - discount
        notes.append(f"Spot: {discount:.0%} below on-demand (an average; Spot prices move)")
    items: list[Outcome] = [
        c.item(
            r,
            "nodes",
            f"node group {name}{where}: {nodes} x {instance_type}",
            f"{nodes} x {hours:.1f} h (min {minimum}, max {maximum})",
            nodes * hourly * hours,
            notes,
            minimum_usd=minimum * hourly * hours,
            maximum_usd=maximum * hourly * hours,
        )
    ]
    # Root volumes live and die with the nodes.
    c = ctx.calc()
    mappings = template_data.get("BlockDeviceMappings") or []
    ebs = mappings[0].get("Ebs", {}) if mappings else {}
    if ebs:
        size = as_number(ebs.get("VolumeSize"), 0) or c.assume("eks_node_default_disk_gb")
        volume_type = str(ebs.get("VolumeType", "gp3"))
    else:
        size = as_number(r.prop("DiskSize"), 0) or c.assume("eks_node_default_disk_gb")
        volume_type = "gp3"
    per_node = size * c.price("ebs.gb_month", volume_type) * hours / HOURS_PER_MONTH
    items.append(
        c.item(
            r,
            "nodes",
            f"node root volumes: {nodes} x {size:.0f} GB {volume_type}",
            f"{nodes * size:.0f} GB x {hours:.1f}/{HOURS_PER_MONTH:.0f} of a month",
            nodes * per_node,
            minimum_usd=minimum * per_node,
            maximum_usd=maximum * per_node,
        )
    )
    return items


def _is_true(value: Any) -> bool:
    """A CloudFormation boolean: ``true`` or the string ``"true"``."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def ec2_instance(r: Resource, ctx: StageContext) -> list[Outcome]:
    instance_type = flatten(r.prop("InstanceType")) or "m1.small"
    is_nat = r.prop("SourceDestCheck") is False
    category = "NAT" if is_nat else "other"
    # Stopped and started by the stage's sleep function (dev's NAT instance): a stopped
    # instance bills no instance hours and holds no public IPv4; its EBS volume stays.
    sleep = ctx.instance_sleeps.get(r.address)
    hours = sleep.hours_per_month if sleep else HOURS_PER_MONTH
    hours_text = f"{hours:.1f} h" if sleep else f"{HOURS_PER_MONTH:.0f} h"
    notes = [sleep.note] if sleep else []
    c = ctx.calc()
    usd = c.price("ec2.instance_hour", instance_type) * hours
    access = any(
        isinstance(tag, Mapping) and tag.get("Key") == CLUSTER_ACCESS_TAG
        for tag in r.prop("Tags", default=[]) or []
    )
    # The operators' Session Manager hop to a private cluster endpoint (make kubectl).
    role = "NAT instance" if is_nat else "cluster access instance" if access else "EC2 instance"
    items: list[Outcome] = [
        c.item(r, category, f"{role} {instance_type}", f"1 x {hours_text}", usd, notes)
    ]
    c = ctx.calc()
    size = c.assume("ec2_root_volume_gb")
    usd = size * c.price("ebs.gb_month", "gp3")
    volume_notes = ["billed all month: a stopped instance keeps its volume"] if sleep else []
    items.append(
        c.item(r, category, f"{role} root volume", f"{size:.0f} GB gp3", usd, volume_notes)
    )
    # A NAT instance needs a public IPv4 to work, whichever shape gives it one: a public
    # subnet's (SubnetId) or its network interface's (NetworkInterfaces with
    # AssociatePublicIpAddress). Another instance has one only when an interface asks.
    public = is_nat or any(
        _is_true(ni.get("AssociatePublicIpAddress"))
        for ni in r.prop("NetworkInterfaces", default=[]) or []
        if isinstance(ni, Mapping)
    )
    if public:
        c = ctx.calc()
        usd = c.price("vpc.public_ipv4_hour") * hours
        items.append(
            c.item(r, category, f"{role} public IPv4 address", f"1 x {hours_text}", usd, notes)
        )
    return items


SERVICE = Service(
    name="compute",
    rules={
        "AWS::EKS::Cluster": eks_cluster,
        "AWS::EKS::Nodegroup": eks_nodegroup,
        "AWS::EC2::Instance": ec2_instance,
    },
    free={
        "AWS::EC2::LaunchTemplate": "no charge; the instances it launches are priced (nodes line)",
        "AWS::EKS::AccessEntry": "EKS access entries have no charge",
        "AWS::EKS::Addon": "add-ons have no charge; their pods run on the node group",
        "AWS::EKS::PodIdentityAssociation": "EKS Pod Identity has no charge",
        NODEGROUP_SCALING_TYPE: (
            f"sets a node group's bounds (its nodes line reads them); {DEPLOY_TIME}"
        ),
    },
)
