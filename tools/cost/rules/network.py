"""Network: NAT, public IPv4 addresses, VPC endpoints, flow logs, load balancers, egress.

The load balancers the AWS Load Balancer Controller creates from Ingress objects are priced
with the same ALB/NLB items as a CloudFormation load balancer (see ``kubernetes.py``), for
the hours it exists when a scheduled function deletes it at night.
Data transfer out belongs to no single resource: it is the stage-level item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tools.assembly import Resource, flatten
from tools.cost.context import StageContext
from tools.cost.hours import HOURS_PER_MONTH
from tools.cost.model import Free, LineItem, Outcome, Unpriced
from tools.cost.rules.base import Service


def nat_gateway(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    hourly = c.price("vpc.nat_gateway_hour") * HOURS_PER_MONTH
    gigabytes = c.assume("nat_processed_gb") / max(ctx.nat_gateway_count, 1)
    processing = gigabytes * c.price("vpc.nat_gateway_gb")
    private = r.prop("ConnectivityType") == "private"
    return [
        c.item(
            r,
            "NAT",
            "NAT gateway" + (" (private)" if private else ""),
            f"{HOURS_PER_MONTH:.0f} h + {gigabytes:.0f} GB processed",
            hourly + processing,
        )
    ]


def eip(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    usd = c.price("vpc.public_ipv4_hour") * HOURS_PER_MONTH
    for_nat = r.address in ctx.nat_eips
    return [
        c.item(
            r,
            "NAT" if for_nat else "other",
            "Elastic IP" + (" of a NAT gateway" if for_nat else ""),
            f"1 public IPv4 x {HOURS_PER_MONTH:.0f} h",
            usd,
        )
    ]


def vpc_endpoint(r: Resource, ctx: StageContext) -> list[Outcome]:
    kind = r.prop("VpcEndpointType", default="Gateway")
    if kind == "Gateway":
        return [Free(r.address, r.type, "gateway endpoints (S3, DynamoDB) are free")]
    if kind != "Interface":
        return [Unpriced(r.address, r.type, f"VPC endpoint type {kind}: no price rule")]
    azs = len(r.prop("SubnetIds", default=[]) or []) or len(ctx.config.availability_zones)
    c = ctx.calc()
    usd = azs * c.price("vpc.interface_endpoint_hour") * HOURS_PER_MONTH
    usd += c.assume("interface_endpoint_gb") * c.price("vpc.interface_endpoint_gb")
    service = flatten(r.prop("ServiceName")) or "?"
    return [c.item(r, "other", f"interface endpoint {service}", f"{azs} AZ x 730 h", usd)]


def flow_log(r: Resource, ctx: StageContext) -> list[Outcome]:
    destination = r.prop("LogDestinationType", default="cloud-watch-logs")
    if destination == "cloud-watch-logs":
        return [
            Free(
                r.address,
                r.type,
                "delivery to CloudWatch Logs is billed as vended-log ingestion on its log group",
            )
        ]
    if destination != "s3":
        return [Unpriced(r.address, r.type, f"flow log destination {destination}")]
    c = ctx.calc()
    gigabytes = c.assume("logs_vpc_flow_gb")
    usd = gigabytes * c.price("s3.vended_log_delivery_gb")
    return [c.item(r, "CloudWatch", "VPC flow logs to S3", f"{gigabytes:g} GB", usd)]


@dataclass(frozen=True)
class _BalancerKind:
    """What differs between pricing an ALB and an NLB: their keys, unit and category."""

    capacity_assumption: str
    price_prefix: str  # <prefix>_hour and <prefix>_lcu_hour in the price table
    capacity_unit: str
    category: str
    address_note: str


_ALB = _BalancerKind("alb_average_lcu", "elb.alb", "LCU", "ALB", " (one per AZ)")
_NLB = _BalancerKind("nlb_average_lcu", "elb.nlb", "NLCU", "other", "")


def _balancer_item(
    r: Resource,
    ctx: StageContext,
    kind: _BalancerKind,
    label: str,
    internet_facing: bool,
    hours: float = HOURS_PER_MONTH,
    notes: Sequence[str] = (),
) -> LineItem:
    """Hours plus average capacity units, plus a public IPv4 per AZ when internet-facing,
    all for the ``hours`` the load balancer exists (a deleted one bills nothing)."""
    c = ctx.calc()
    lcu = c.assume(kind.capacity_assumption)
    hourly = c.price(f"{kind.price_prefix}_hour")
    usd = (hourly + lcu * c.price(f"{kind.price_prefix}_lcu_hour")) * hours
    hours_text = f"{HOURS_PER_MONTH:.0f}" if hours == HOURS_PER_MONTH else f"{hours:.1f}"
    quantity = f"{hours_text} h + {lcu:g} {kind.capacity_unit} avg"
    if internet_facing:
        addresses = len(ctx.config.availability_zones)
        usd += addresses * c.price("vpc.public_ipv4_hour") * hours
        quantity += f" + {addresses} public IPv4{kind.address_note}"
    # No minimum_usd: an ALB is floor (FLOOR_CATEGORIES) at its expected cost, so a deleted
    # one's floor follows its schedules' hours, as the nodes' floor follows theirs.
    return c.item(r, kind.category, label, quantity, usd, notes)


def alb_item(
    r: Resource,
    ctx: StageContext,
    label: str,
    internet_facing: bool,
    hours: float = HOURS_PER_MONTH,
    notes: Sequence[str] = (),
) -> LineItem:
    """An Application Load Balancer, from CloudFormation or from an Ingress, for ``hours``."""
    return _balancer_item(r, ctx, _ALB, label, internet_facing, hours, notes)


def nlb_item(r: Resource, ctx: StageContext, label: str, internet_facing: bool) -> LineItem:
    """A Network Load Balancer, from CloudFormation or from a Service of type LoadBalancer."""
    return _balancer_item(r, ctx, _NLB, label, internet_facing)


def load_balancer(r: Resource, ctx: StageContext) -> list[Outcome]:
    kind = r.prop("Type", default="application")
    internet_facing = r.prop("Scheme", default="internet-facing") == "internet-facing"
    name = flatten(r.prop("Name")) or r.logical_id
    if kind == "application":
        return [alb_item(r, ctx, f"ALB {name}", internet_facing)]
    if kind == "network":
        return [nlb_item(r, ctx, f"NLB {name}", internet_facing)]
    return [Unpriced(r.address, r.type, f"load balancer type {kind}: no price rule")]


def data_transfer_out(ctx: StageContext) -> list[LineItem]:
    """Costs of the stage that belong to no one resource: data transfer out."""
    c = ctx.calc()
    gigabytes = c.assume("data_transfer_out_gb")
    usd = gigabytes * c.price("data_transfer.internet_out_gb")
    return [
        c.item(
            None,
            "data transfer",
            "data transfer out to the internet",
            f"{gigabytes:g} GB",
            usd,
            [
                "CloudFront in front (the original design's optimisation) would move this to "
                "CloudFront's tiers"
            ],
        )
    ]


SERVICE = Service(
    name="network",
    rules={
        "AWS::EC2::NatGateway": nat_gateway,
        "AWS::EC2::EIP": eip,
        "AWS::EC2::VPCEndpoint": vpc_endpoint,
        "AWS::EC2::FlowLog": flow_log,
        "AWS::ElasticLoadBalancingV2::LoadBalancer": load_balancer,
    },
    free={
        "AWS::EC2::VPC": "VPCs have no charge",
        "AWS::EC2::Subnet": "subnets have no charge",
        "AWS::EC2::RouteTable": "route tables have no charge",
        "AWS::EC2::Route": "routes have no charge",
        "AWS::EC2::SubnetRouteTableAssociation": "no charge",
        "AWS::EC2::InternetGateway": "no charge for the gateway (traffic: data transfer line)",
        "AWS::EC2::VPCGatewayAttachment": "no charge",
        "AWS::EC2::SecurityGroup": "security groups have no charge",
        "AWS::EC2::SecurityGroupIngress": "security group rules have no charge",
        "AWS::EC2::SecurityGroupEgress": "security group rules have no charge",
        "AWS::EC2::NetworkAcl": "network ACLs have no charge",
        "AWS::EC2::NetworkAclEntry": "network ACL rules have no charge",
        "AWS::EC2::SubnetNetworkAclAssociation": "no charge",
        "AWS::ElasticLoadBalancingV2::Listener": "no charge (the load balancer is priced)",
        "AWS::ElasticLoadBalancingV2::ListenerRule": "no charge (the load balancer is priced)",
        "AWS::ElasticLoadBalancingV2::TargetGroup": "no charge (the load balancer is priced)",
    },
    stage_items=(data_transfer_out,),
)
