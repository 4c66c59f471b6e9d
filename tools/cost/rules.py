"""Pricing rules: one function per priced CloudFormation resource type, and the free list.

A rule reads one resource (and, through the ``StageContext``, the rest of the stage) and
returns outcomes: ``LineItem`` (priced, from the price table and the usage assumptions),
``Free`` (costs nothing by itself, with the reason) or ``Unpriced`` (no price: listed, never
counted as zero). A type in neither ``RULES`` nor ``FREE_TYPES`` is unpriced, so a new kind
of resource always shows up in the report until someone prices it or says why it is free.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from tools.assembly import Resource, as_number, flatten
from tools.cost.context import Calc, StageContext
from tools.cost.hours import DAYS_PER_MONTH, HOURS_PER_MONTH, schedule_fires_per_month
from tools.cost.model import Free, LineItem, Outcome, Unpriced

Rule = Callable[[Resource, StageContext], list[Outcome]]

_DEPLOY_TIME = "runs only while CloudFormation deploys: a few invocations per deploy"

# Genuinely free resource types, each with the reason.
FREE_TYPES: Mapping[str, str] = {
    "AWS::CDK::Metadata": "CDK version metadata; creates nothing in AWS",
    "AWS::CloudFormation::WaitConditionHandle": "CloudFormation bookkeeping; no charge",
    "AWS::IAM::Role": "IAM has no charge",
    "AWS::IAM::Policy": "IAM has no charge",
    "AWS::IAM::ManagedPolicy": "IAM has no charge",
    "AWS::IAM::InstanceProfile": "IAM has no charge",
    "AWS::IAM::OIDCProvider": "IAM has no charge",
    "AWS::IAM::ServiceLinkedRole": "IAM has no charge",
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
    "AWS::EC2::LaunchTemplate": "no charge; the instances it launches are priced (nodes line)",
    "AWS::EKS::AccessEntry": "EKS access entries have no charge",
    "AWS::EKS::Addon": "add-ons have no charge; their pods run on the node group",
    "AWS::EKS::PodIdentityAssociation": "EKS Pod Identity has no charge",
    "AWS::ElastiCache::SubnetGroup": "no charge",
    "AWS::ElastiCache::ParameterGroup": "no charge",
    "AWS::RDS::DBSubnetGroup": "no charge",
    "AWS::RDS::DBClusterParameterGroup": "no charge",
    "AWS::RDS::DBParameterGroup": "no charge",
    "AWS::KMS::Alias": "aliases have no charge (the key is priced)",
    "AWS::Lambda::Permission": "no charge",
    "AWS::Lambda::EventInvokeConfig": "no charge (retries are invocations of the function)",
    "AWS::Lambda::EventSourceMapping": "no charge for the mapping (the function is priced)",
    "AWS::Lambda::LayerVersion": "layers count toward the free 75 GB of function storage",
    "AWS::S3::BucketPolicy": "no charge",
    "AWS::SQS::QueuePolicy": "no charge",
    "AWS::SNS::Topic": (
        "no charge per topic; alarm and budget notifications ($0.50/M publishes, e-mail "
        "$2/100k after the free 1,000) round to $0"
    ),
    "AWS::SNS::TopicPolicy": "no charge",
    "AWS::SNS::Subscription": "no charge (deliveries: see the topic)",
    "AWS::SecretsManager::ResourcePolicy": "no charge",
    "AWS::SecretsManager::RotationSchedule": (
        "no charge; the rotation function runs once per rotation period"
    ),
    "AWS::SecretsManager::SecretTargetAttachment": "no charge",
    "AWS::Serverless::Application": (
        "the hosted rotation application: its function runs once per rotation period"
    ),
    "AWS::Events::Rule": "rules have no charge (custom events are priced on the event bus)",
    "AWS::Scheduler::ScheduleGroup": "no charge",
    "AWS::WAFv2::WebACLAssociation": "no charge (the web ACL is priced)",
    "AWS::ElasticLoadBalancingV2::Listener": "no charge (the load balancer is priced)",
    "AWS::ElasticLoadBalancingV2::ListenerRule": "no charge (the load balancer is priced)",
    "AWS::ElasticLoadBalancingV2::TargetGroup": "no charge (the load balancer is priced)",
    "AWS::Logs::ResourcePolicy": "no charge",
    "Custom::AWS": f"AwsCustomResource: one SDK call that {_DEPLOY_TIME}",
    "Custom::AWSCDKCfnJson": f"CDK JSON helper that {_DEPLOY_TIME}",
    "Custom::S3AutoDeleteObjects": f"empties a bucket on stack deletion; {_DEPLOY_TIME}",
    "Custom::S3BucketNotifications": f"configures bucket notifications; {_DEPLOY_TIME}",
    "Custom::VpcRestrictDefaultSG": f"strips the default security group; {_DEPLOY_TIME}",
}

# Helm charts whose workloads only run on the node group (no AWS resources of their own).
KNOWN_HELM_CHARTS: Mapping[str, str] = {
    "aws-load-balancer-controller": (
        "controller pods on the node group; the load balancers it creates are priced from "
        "the Ingress objects"
    ),
    "external-secrets": "operator pods on the node group; Secrets Manager reads are priced",
    "metrics-server": "pods on the node group",
    "cert-manager": "pods on the node group",
    "cluster-autoscaler": "pods on the node group",
}

# Kubernetes kinds that create nothing billable in AWS by themselves.
FREE_KUBERNETES_KINDS = frozenset(
    {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "Deployment",
        "DaemonSet",
        "ReplicaSet",
        "Pod",
        "Job",
        "CronJob",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "StorageClass",
        "PriorityClass",
        "LimitRange",
        "ResourceQuota",
        "CustomResourceDefinition",
        "IngressClass",
        "IngressClassParams",
        "TargetGroupBinding",
        "SecretStore",
        "ClusterSecretStore",
        "ExternalSecret",
    }
)

_PAID_WAF_RULE_GROUPS = frozenset(
    {
        "AWSManagedRulesBotControlRuleSet",
        "AWSManagedRulesATPRuleSet",
        "AWSManagedRulesACFPRuleSet",
        "AWSManagedRulesAntiDDoSRuleSet",
    }
)


# --- compute -------------------------------------------------------------------------------


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


def _node_hours(name: str, desired: int, ctx: StageContext) -> tuple[float, int, list[str]]:
    """Hours the node group runs, nodes while it runs, and notes; warns on a mismatch."""
    schedule = ctx.nodegroup_schedules.get(name)
    enabled = ctx.working_hours.enabled
    if enabled and schedule and schedule.scaled_to_zero_by:
        nodes = schedule.desired_when_started or desired
        hours = ctx.working_hours_per_month
        wh = ctx.working_hours
        note = (
            f"scaled to 0 outside {wh.weekdays} {wh.start_hour:02d}:00-{wh.stop_hour:02d}:00 "
            f"{wh.time_zone} ({wh.hours_per_week} h/week -> {hours:.1f} h/month) by "
            + ", ".join(schedule.scaled_to_zero_by)
        )
        return hours, nodes, [note]
    if enabled:
        ctx.warnings.append(
            f"working hours are enabled in config, but no enabled Scheduler schedule in the "
            f"templates scales node group '{name}' to 0: counted {HOURS_PER_MONTH:.0f} h/month"
        )
    elif schedule and schedule.scaled_to_zero_by:
        ctx.warnings.append(
            f"node group '{name}' is scaled to 0 by {', '.join(schedule.scaled_to_zero_by)} "
            f"but working hours are disabled in config: counted {HOURS_PER_MONTH:.0f} h/month"
        )
    return HOURS_PER_MONTH, desired, []


def eks_nodegroup(r: Resource, ctx: StageContext) -> list[Outcome]:
    name = flatten(r.prop("NodegroupName")) or r.logical_id
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
    desired = int(as_number(r.prop("ScalingConfig", "DesiredSize"), 0)) or int(
        as_number(r.prop("ScalingConfig", "MinSize"), 1)
    )
    hours, nodes, notes = _node_hours(name, desired, ctx)
    if len(instance_types) > 1:
        notes.append(f"priced as the first of {instance_types}")
    if r.prop("CapacityType") == "SPOT":
        notes.append("Spot capacity priced at on-demand (upper bound)")
    c = ctx.calc()
    usd = nodes * c.price("ec2.instance_hour", instance_type) * hours
    items: list[Outcome] = [
        c.item(
            r,
            "nodes",
            f"node group {name}: {nodes} x {instance_type}",
            f"{nodes} x {hours:.1f} h",
            usd,
            notes,
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
    usd = nodes * size * c.price("ebs.gb_month", volume_type) * hours / HOURS_PER_MONTH
    items.append(
        c.item(
            r,
            "nodes",
            f"node root volumes: {nodes} x {size:.0f} GB {volume_type}",
            f"{nodes * size:.0f} GB x {hours:.1f}/{HOURS_PER_MONTH:.0f} of a month",
            usd,
        )
    )
    return items


def ec2_instance(r: Resource, ctx: StageContext) -> list[Outcome]:
    instance_type = flatten(r.prop("InstanceType")) or "m1.small"
    is_nat = r.prop("SourceDestCheck") is False
    category = "NAT" if is_nat else "other"
    c = ctx.calc()
    usd = c.price("ec2.instance_hour", instance_type) * HOURS_PER_MONTH
    role = "NAT instance" if is_nat else "EC2 instance"
    items: list[Outcome] = [
        c.item(r, category, f"{role} {instance_type}", f"1 x {HOURS_PER_MONTH:.0f} h", usd)
    ]
    c = ctx.calc()
    size = c.assume("ec2_root_volume_gb")
    usd = size * c.price("ebs.gb_month", "gp3")
    items.append(c.item(r, category, f"{role} root volume", f"{size:.0f} GB gp3", usd))
    public = is_nat or any(
        bool(ni.get("AssociatePublicIpAddress"))
        for ni in r.prop("NetworkInterfaces", default=[]) or []
        if isinstance(ni, dict)
    )
    if public:
        c = ctx.calc()
        usd = c.price("vpc.public_ipv4_hour") * HOURS_PER_MONTH
        items.append(
            c.item(r, category, f"{role} public IPv4 address", f"1 x {HOURS_PER_MONTH:.0f} h", usd)
        )
    return items


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


# --- load balancers ------------------------------------------------------------------------


def _alb_items(r: Resource, ctx: StageContext, label: str, internet_facing: bool) -> LineItem:
    c = ctx.calc()
    lcu = c.assume("alb_average_lcu")
    usd = (c.price("elb.alb_hour") + lcu * c.price("elb.alb_lcu_hour")) * HOURS_PER_MONTH
    quantity = f"{HOURS_PER_MONTH:.0f} h + {lcu:g} LCU avg"
    if internet_facing:
        addresses = len(ctx.config.availability_zones)
        usd += addresses * c.price("vpc.public_ipv4_hour") * HOURS_PER_MONTH
        quantity += f" + {addresses} public IPv4 (one per AZ)"
    return c.item(r, "ALB", label, quantity, usd)


def _nlb_item(r: Resource, ctx: StageContext, label: str, internet_facing: bool) -> LineItem:
    c = ctx.calc()
    lcu = c.assume("nlb_average_lcu")
    usd = (c.price("elb.nlb_hour") + lcu * c.price("elb.nlb_lcu_hour")) * HOURS_PER_MONTH
    quantity = f"{HOURS_PER_MONTH:.0f} h + {lcu:g} NLCU avg"
    if internet_facing:
        addresses = len(ctx.config.availability_zones)
        usd += addresses * c.price("vpc.public_ipv4_hour") * HOURS_PER_MONTH
        quantity += f" + {addresses} public IPv4"
    return c.item(r, "other", label, quantity, usd)


def load_balancer(r: Resource, ctx: StageContext) -> list[Outcome]:
    kind = r.prop("Type", default="application")
    internet_facing = r.prop("Scheme", default="internet-facing") == "internet-facing"
    name = flatten(r.prop("Name")) or r.logical_id
    if kind == "application":
        return [_alb_items(r, ctx, f"ALB {name}", internet_facing)]
    if kind == "network":
        return [_nlb_item(r, ctx, f"NLB {name}", internet_facing)]
    return [Unpriced(r.address, r.type, f"load balancer type {kind}: no price rule")]


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$")
_GIB = {"Ki": 1 / 1024**2, "Mi": 1 / 1024, "Gi": 1.0, "Ti": 1024.0}
_GB = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def _gib(quantity: Any) -> float | None:
    match = _QUANTITY.match(str(quantity or ""))
    if not match:
        return None
    number, unit = float(match.group(1)), match.group(2)
    if unit in _GIB:
        return number * _GIB[unit]
    if unit in _GB:
        return number * _GB[unit] / 1024**3
    return number / 1024**3  # bytes


def _volume_item(r: Resource, ctx: StageContext, what: str, gib: float, count: int) -> LineItem:
    c = ctx.calc()
    usd = count * gib * c.price("ebs.gb_month", "gp3")
    return c.item(
        r,
        "other",
        f"EBS volume for {what}",
        f"{count} x {gib:g} GiB gp3",
        usd,
        ["storage class assumed gp3 (the cluster default)"],
    )


def kubernetes_resource(r: Resource, ctx: StageContext) -> list[Outcome]:
    objects = ctx.assembly.kubernetes_manifests[r.key].objects
    if objects is None:
        return [Unpriced(r.address, r.type, "manifest could not be read")]
    outcomes: list[Outcome] = []
    free_kinds: set[str] = set()
    for obj in objects:
        kind = str(obj.get("kind", "?"))
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        ident = f"{kind} {meta.get('namespace', 'default')}/{meta.get('name', '?')}"
        if kind == "Ingress":
            annotations = meta.get("annotations") or {}
            ingress_class = spec.get("ingressClassName") or annotations.get(
                "kubernetes.io/ingress.class"
            )
            if ingress_class != "alb":
                outcomes.append(
                    Unpriced(r.address, r.type, f"{ident}: ingress class {ingress_class}")
                )
                continue
            group = (
                annotations.get("alb.ingress.kubernetes.io/group.name") or f"{r.address}/{ident}"
            )
            if group in ctx.alb_groups:
                outcomes.append(Free(r.address, r.type, f"{ident} shares the ALB of {group}"))
                continue
            ctx.alb_groups[group] = r.address
            internet_facing = (
                annotations.get("alb.ingress.kubernetes.io/scheme") == "internet-facing"
            )
            name = annotations.get("alb.ingress.kubernetes.io/load-balancer-name", "")
            label = f"ALB {name} from {ident} (AWS Load Balancer Controller)".replace("  ", " ")
            outcomes.append(_alb_items(r, ctx, label, internet_facing))
        elif kind == "Service" and spec.get("type") == "LoadBalancer":
            annotations = meta.get("annotations") or {}
            scheme = annotations.get("service.beta.kubernetes.io/aws-load-balancer-scheme")
            outcomes.append(_nlb_item(r, ctx, f"NLB from {ident}", scheme == "internet-facing"))
        elif kind == "PersistentVolumeClaim":
            gib = _gib((spec.get("resources") or {}).get("requests", {}).get("storage"))
            if gib is None:
                outcomes.append(Unpriced(r.address, r.type, f"{ident}: size unreadable"))
            else:
                outcomes.append(_volume_item(r, ctx, ident, gib, 1))
        elif kind == "StatefulSet":
            replicas = int(as_number(spec.get("replicas"), 1))
            for claim in spec.get("volumeClaimTemplates") or []:
                claim_spec = claim.get("spec") or {}
                storage = (claim_spec.get("resources") or {}).get("requests", {}).get("storage")
                gib = _gib(storage)
                if gib is None:
                    outcomes.append(Unpriced(r.address, r.type, f"{ident}: volume size unreadable"))
                else:
                    outcomes.append(_volume_item(r, ctx, ident, gib, replicas))
            free_kinds.add(kind)
        elif kind in FREE_KUBERNETES_KINDS or kind == "Service":
            free_kinds.add(kind)
        else:
            outcomes.append(
                Unpriced(r.address, r.type, f"{ident}: Kubernetes kind with no price rule")
            )
    if free_kinds:
        outcomes.append(
            Free(
                r.address,
                r.type,
                "Kubernetes objects that run on or are stored in the cluster ("
                + ", ".join(sorted(free_kinds))
                + "): no AWS charge of their own; load balancers and volumes are priced",
            )
        )
    return outcomes


def helm_chart(r: Resource, ctx: StageContext) -> list[Outcome]:
    chart = flatten(r.prop("Chart")) or "?"
    reason = KNOWN_HELM_CHARTS.get(chart)
    if reason is None:
        return [
            Unpriced(
                r.address,
                r.type,
                f"Helm chart '{chart}' may create AWS resources (volumes, load balancers): "
                "price them or add the chart to KNOWN_HELM_CHARTS with a reason",
            )
        ]
    return [Free(r.address, r.type, f"Helm chart '{chart}': {reason}")]


# --- data ------------------------------------------------------------------------------------


def _db_cluster(r: Resource, ctx: StageContext) -> Resource | None:
    return ctx.resolve(r.stack, r.prop("DBClusterIdentifier"))


def rds_db_instance(r: Resource, ctx: StageContext) -> list[Outcome]:
    engine = flatten(r.prop("Engine")) or ""
    cluster = _db_cluster(r, ctx)
    if cluster is None or not engine.startswith("aurora-mysql"):
        return [
            Unpriced(
                r.address, r.type, f"RDS instance ({engine or 'no engine'}) outside Aurora MySQL"
            )
        ]
    instance_class = flatten(r.prop("DBInstanceClass")) or "?"
    if instance_class == "db.serverless":
        return [_aurora_serverless(r, cluster, ctx)]
    identifier = flatten(cluster.prop("DBClusterIdentifier")) or cluster.logical_id
    stopped_by = ctx.stopped_db_clusters.get(identifier, [])
    hours, notes = HOURS_PER_MONTH, []
    if stopped_by and ctx.working_hours.enabled:
        hours = ctx.working_hours_per_month
        notes.append("stopped outside working hours by " + ", ".join(stopped_by))
    c = ctx.calc()
    usd = c.price("rds.aurora_mysql_instance_hour", instance_class) * hours
    return [
        c.item(
            r, "Aurora", f"Aurora MySQL instance {instance_class}", f"1 x {hours:.1f} h", usd, notes
        )
    ]


def _aurora_serverless(r: Resource, cluster: Resource, ctx: StageContext) -> LineItem:
    scaling = cluster.prop("ServerlessV2ScalingConfiguration", default={}) or {}
    minimum = as_number(scaling.get("MinCapacity"), 0.5)
    maximum = as_number(scaling.get("MaxCapacity"), 1.0)
    c = ctx.calc()
    acu_price = c.price("rds.aurora_serverless_v2_acu_hour")
    if minimum == 0:
        active_hours = c.assume("aurora_serverless_active_hours")
        active_acu = min(c.assume("aurora_serverless_active_acu"), maximum)
        wake_hours = c.assume("aurora_serverless_wake_hours")
        wake_acu = min(c.assume("aurora_serverless_wake_acu"), maximum)
        acu_hours = active_hours * active_acu + wake_hours * wake_acu
        pause = as_number(scaling.get("SecondsUntilAutoPause"), 300) / 60
        quantity = (
            f"{active_hours:g} h x {active_acu:g} ACU + {wake_hours:g} h x {wake_acu:g} ACU "
            f"= {acu_hours:.0f} ACU-h"
        )
        notes = [
            f"min 0 ACU, auto-pause after {pause:g} min: paused hours cost nothing; "
            "active hours are an assumption (see assumptions)"
        ]
    else:
        average = min(max(c.assume("aurora_serverless_average_acu"), minimum), maximum)
        acu_hours = average * HOURS_PER_MONTH
        quantity = f"{average:g} ACU x {HOURS_PER_MONTH:.0f} h"
        notes = [f"{minimum:g}-{maximum:g} ACU"]
    return c.item(
        r, "Aurora", "Aurora Serverless v2 instance", quantity, acu_hours * acu_price, notes
    )


def rds_db_cluster(r: Resource, ctx: StageContext) -> list[Outcome]:
    engine = flatten(r.prop("Engine")) or ""
    if not engine.startswith("aurora-mysql") or r.prop("EngineMode") == "serverless":
        return [Unpriced(r.address, r.type, f"DB cluster engine {engine}: no price rule")]
    c = ctx.calc()
    storage = c.assume("aurora_storage_gb")
    ios = c.assume("aurora_io_million")
    usd = storage * c.price("rds.aurora_storage_gb_month") + ios * c.price("rds.aurora_io_million")
    notes = ["backups within the retention period are free up to the cluster's size"]
    if r.prop("StorageType") == "aurora-iopt1":
        notes.append("I/O-Optimized storage priced as Aurora Standard")
    items: list[Outcome] = [
        c.item(r, "Aurora", "Aurora storage and I/O", f"{storage:g} GB + {ios:g} M I/O", usd, notes)
    ]
    window_hours = as_number(r.prop("BacktrackWindow"), 0) / 3600
    if window_hours > 0:
        c = ctx.calc()
        per_hour = c.assume("aurora_backtrack_change_records_per_hour")
        kept_million = per_hour * window_hours / 1e6
        usd = (
            kept_million
            * HOURS_PER_MONTH
            * c.price("rds.aurora_backtrack_million_change_record_hours")
        )
        items.append(
            c.item(
                r,
                "Aurora",
                f"Aurora backtrack ({window_hours:g} h window)",
                f"{kept_million:.2f} M change records x {HOURS_PER_MONTH:.0f} h",
                usd,
            )
        )
    return items


def _cache_node_price(c: Calc, engine: str, node_type: str) -> tuple[float, str]:
    price = c.price("elasticache.node_hour", node_type)
    if engine == "valkey":
        return price * (1 - c.price("elasticache.valkey_node_discount")), "Valkey"
    return price, engine


def elasticache_replication_group(r: Resource, ctx: StageContext) -> list[Outcome]:
    node_type = flatten(r.prop("CacheNodeType")) or "?"
    engine = str(r.prop("Engine", default="redis")).lower()
    if r.prop("NumNodeGroups") is not None or r.prop("NodeGroupConfiguration"):
        groups = int(as_number(r.prop("NumNodeGroups"), 1))
        nodes = groups * (int(as_number(r.prop("ReplicasPerNodeGroup"), 0)) + 1)
    else:
        nodes = int(as_number(r.prop("NumCacheClusters"), 1))
    c = ctx.calc()
    node_price, label = _cache_node_price(c, engine, node_type)
    usd = nodes * node_price * HOURS_PER_MONTH
    return [
        c.item(
            r,
            "ElastiCache",
            f"{label} {nodes} x {node_type}",
            f"{nodes} node(s) x {HOURS_PER_MONTH:.0f} h",
            usd,
            ["snapshot storage within one snapshot per node is not charged"],
        )
    ]


def elasticache_cache_cluster(r: Resource, ctx: StageContext) -> list[Outcome]:
    node_type = flatten(r.prop("CacheNodeType")) or "?"
    engine = str(r.prop("Engine", default="redis")).lower()
    nodes = int(as_number(r.prop("NumCacheNodes"), 1))
    c = ctx.calc()
    node_price, label = _cache_node_price(c, engine, node_type)
    usd = nodes * node_price * HOURS_PER_MONTH
    return [c.item(r, "ElastiCache", f"{label} {nodes} x {node_type}", f"{nodes} x 730 h", usd)]


def dynamodb_table(r: Resource, ctx: StageContext) -> list[Outcome]:
    mode = r.prop("BillingMode", default="PROVISIONED")
    if mode != "PAY_PER_REQUEST":
        return [Unpriced(r.address, r.type, "provisioned capacity: no price rule (on-demand only)")]
    replicas = r.prop("Replicas") if r.type == "AWS::DynamoDB::GlobalTable" else None
    copies = len(replicas) if isinstance(replicas, list) and replicas else 1
    if replicas:
        pitr = any(
            (rep.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
            for rep in replicas
            if isinstance(rep, dict)
        )
    else:
        pitr = bool(r.prop("PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"))
    c = ctx.calc()
    writes = c.assume("dynamodb_writes_million")
    reads = c.assume("dynamodb_reads_million")
    storage = c.assume("dynamodb_storage_gb")
    usd = copies * (
        writes * c.price("dynamodb.write_request_million")
        + storage * c.price("dynamodb.storage_gb_month")
    )
    usd += reads * c.price("dynamodb.read_request_million")
    if pitr:
        usd += copies * storage * c.price("dynamodb.pitr_gb_month")
    name = flatten(r.prop("TableName")) or r.logical_id
    return [
        c.item(
            r,
            "other",
            f"DynamoDB on-demand table {name}" + (" + PITR" if pitr else ""),
            f"{writes:g} M writes, {reads:g} M reads, {storage:g} GB x {copies} replica(s)",
            usd,
        )
    ]


# --- storage ---------------------------------------------------------------------------------


def s3_bucket(r: Resource, ctx: StageContext) -> list[Outcome]:
    name = flatten(r.prop("BucketName")) or r.logical_id
    lowered = name.lower()
    c = ctx.calc()
    if "upload" in lowered:
        gigabytes = c.assume("s3_uploads_gb")
        puts = c.assume("s3_uploads_put_thousand")
        gets = c.assume("s3_uploads_get_thousand")
    else:
        gigabytes = c.assume("s3_logs_gb" if "log" in lowered else "s3_other_bucket_gb")
        puts = gets = 0.0
    usd = gigabytes * c.price("s3.standard_gb_month")
    if puts or gets:
        usd += puts * c.price("s3.put_thousand") + gets * c.price("s3.get_thousand")
    quantity = f"{gigabytes:g} GB" + (f" + {puts:g}k PUT + {gets:g}k GET" if puts or gets else "")
    notes = ["all counted as S3 Standard: lifecycle tiering only lowers it"]
    return [c.item(r, "S3", f"S3 bucket {name}", quantity, usd, notes)]


def ecr_repository(r: Resource, ctx: StageContext) -> list[Outcome]:
    name = flatten(r.prop("RepositoryName")) or r.logical_id
    c = ctx.calc()
    gigabytes = c.assume("ecr_gb_per_repository")
    usd = gigabytes * c.price("ecr.storage_gb_month")
    notes = ["basic scan on push is free"]
    return [c.item(r, "ECR", f"ECR repository {name}", f"{gigabytes:g} GB", usd, notes)]


# --- observability -------------------------------------------------------------------------------

EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
_EKS_CONTROL_PLANE = re.compile(r"^/aws/eks/(?P<cluster>[^/]+)/cluster$")
_LOG_KINDS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"^/aws/eks/[^/]+/application"), "logs_eks_application_gb", "container logs"),
    (re.compile(r"^/aws/vpc/|flow-?logs?", re.IGNORECASE), "logs_vpc_flow_gb", "VPC flow logs"),
    (re.compile(r"^/aws/lambda/"), "logs_lambda_app_gb", "function logs"),
    (re.compile(r"^/aws/rds/.*/audit$"), "logs_rds_audit_gb", "Aurora audit log"),
    (re.compile(r"^/aws/rds/"), "logs_rds_other_gb", "Aurora log"),
    (re.compile(r"^/aws/elasticache/"), "logs_elasticache_gb", "cache log"),
)


def log_group(r: Resource, ctx: StageContext) -> list[Outcome]:
    name = flatten(r.prop("LogGroupName")) or f"(generated) {r.logical_id}"
    c = ctx.calc()
    vended = r.address in ctx.flow_log_groups
    notes: list[str] = []
    if any(
        target.address in ctx.deploy_time_functions
        for target in ctx.assembly.targets(r.stack, r.prop("LogGroupName"))
    ):
        kind, gigabytes = "deploy-time function log", c.assume("logs_deploy_time_lambda_gb")
    elif vended:
        kind, gigabytes = "VPC flow logs", c.assume("logs_vpc_flow_gb")
    elif match := _EKS_CONTROL_PLANE.match(name):
        types = ctx.eks_log_types.get(match.group("cluster"))
        if types is None:
            types = list(EKS_LOG_TYPES)
            notes.append("cluster not found in the stage: all five log types assumed")
        gigabytes = 0.0
        for log_type in types:
            if log_type in EKS_LOG_TYPES:
                gigabytes += c.assume(f"eks_log_{log_type}_gb")
            else:
                gigabytes += c.assume("logs_default_gb")
                notes.append(f"log type {log_type!r} has no figure of its own: default used")
        kind = "EKS control plane (" + ", ".join(types) + ")"
    else:
        for pattern, key, label in _LOG_KINDS:
            if pattern.search(name):
                kind, gigabytes = label, c.assume(key)
                vended = key == "logs_vpc_flow_gb"
                break
        else:
            kind, gigabytes = "log group of no known kind", c.assume("logs_default_gb")
    if r.prop("LogGroupClass") == "INFREQUENT_ACCESS":
        ingest_key = "logs.ingestion_gb_infrequent_access"
    elif vended:
        ingest_key = "logs.vended_ingestion_gb"
    else:
        ingest_key = "logs.ingestion_gb"
    retention = as_number(r.prop("RetentionInDays"), 0)
    kept_days = min(retention, 365.0) if retention else 365.0
    if not retention or retention > 365:
        notes.append("storage counted for the first year of retention")
    stored = gigabytes * kept_days / DAYS_PER_MONTH
    usd = gigabytes * c.price(ingest_key) + stored * c.price("logs.storage_gb_month")
    return [
        c.item(
            r,
            "CloudWatch",
            f"log group {name} ({kind})",
            f"{gigabytes:g} GB/month in, ~{stored:.1f} GB kept ({retention:g} d)",
            usd,
            notes,
        )
    ]


def cloudwatch_alarm(r: Resource, ctx: StageContext) -> list[Outcome]:
    metrics = r.prop("Metrics")
    high_resolution = as_number(r.prop("Period"), 60) < 60
    if isinstance(metrics, list) and metrics:
        stats = [m for m in metrics if isinstance(m, dict) and "MetricStat" in m]
        count = len(stats) or 1
        high_resolution = high_resolution or any(
            as_number(m["MetricStat"].get("Period"), 60) < 60 for m in stats
        )
        if any("ANOMALY_DETECTION_BAND" in str(m.get("Expression", "")) for m in metrics):
            count *= 3
    else:
        count = 1
    c = ctx.calc()
    key = "cloudwatch.alarm_metric_month" + ("_high_resolution" if high_resolution else "")
    usd = count * c.price(key)
    name = flatten(r.prop("AlarmName")) or r.logical_id
    return [c.item(r, "CloudWatch", f"alarm {name}", f"{count} metric(s)", usd)]


def composite_alarm(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    name = flatten(r.prop("AlarmName")) or r.logical_id
    usd = c.price("cloudwatch.composite_alarm_month")
    return [c.item(r, "CloudWatch", f"composite alarm {name}", "1", usd)]


def dashboard(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    usd = c.price("cloudwatch.dashboard_month")
    name = flatten(r.prop("DashboardName")) or r.logical_id
    return [c.item(r, "CloudWatch", f"dashboard {name}", "1", usd)]


def budget(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    usd = c.price("budgets.budget_day") * DAYS_PER_MONTH
    return [
        c.item(
            r,
            "other",
            "AWS Budgets budget",
            f"{DAYS_PER_MONTH:.1f} days",
            usd,
            ["free if it is one of the account's first two budgets"],
        )
    ]


# --- serverless and messaging ------------------------------------------------------------------


def lambda_function(r: Resource, ctx: StageContext) -> list[Outcome]:
    if r.address in ctx.deploy_time_functions:
        return [Free(r.address, r.type, f"serves a custom resource: {_DEPLOY_TIME}")]
    plan = ctx.invocations[r.address]
    memory_gb = as_number(r.prop("MemorySize"), 128) / 1024
    architectures = r.prop("Architectures") or ["x86_64"]
    architecture = str(architectures[0])
    c = ctx.calc()
    duration = c.assume("lambda_average_duration_s")
    c.assume("lambda_invocations")
    gb_seconds = plan.per_month * duration * memory_gb
    usd = gb_seconds * c.price("lambda.gb_second", architecture)
    usd += plan.per_month / 1e6 * c.price("lambda.request_million")
    name = flatten(r.prop("FunctionName")) or r.logical_id
    return [
        c.item(
            r,
            "Lambda",
            f"function {name} ({memory_gb * 1024:.0f} MB, {architecture})",
            f"{plan.per_month:,.0f} invocations x {duration:g} s = {gb_seconds:,.0f} GB-s",
            usd,
            [plan.how],
        )
    ]


def sqs_queue(r: Resource, ctx: StageContext) -> list[Outcome]:
    fifo = bool(r.prop("FifoQueue"))
    c = ctx.calc()
    requests = c.assume("sqs_requests_million")
    usd = requests * c.price("sqs.request_million", "fifo" if fifo else "standard")
    name = flatten(r.prop("QueueName")) or r.logical_id
    return [c.item(r, "other", f"SQS queue {name}", f"{requests:g} M requests", usd)]


def event_bus(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    events = c.assume("eventbridge_custom_events_million")
    usd = events * c.price("events.custom_event_million")
    name = flatten(r.prop("Name")) or r.logical_id
    return [c.item(r, "other", f"EventBridge bus {name}", f"{events:g} M custom events", usd)]


def scheduler_schedule(r: Resource, ctx: StageContext) -> list[Outcome]:
    expression = flatten(r.prop("ScheduleExpression")) or ""
    fires = schedule_fires_per_month(expression)
    notes = []
    if fires is None:
        fires = HOURS_PER_MONTH
        notes.append(f"{expression!r} not modelled: counted hourly")
    c = ctx.calc()
    usd = fires / 1e6 * c.price("scheduler.invocation_million")
    name = flatten(r.prop("Name")) or r.logical_id
    return [c.item(r, "other", f"schedule {name} ({expression})", f"{fires:,.0f} runs", usd, notes)]


def ssm_parameter(r: Resource, ctx: StageContext) -> list[Outcome]:
    if r.prop("Tier") != "Advanced":
        return [Free(r.address, r.type, "standard parameters have no charge")]
    c = ctx.calc()
    usd = c.price("ssm.advanced_parameter_month")
    return [c.item(r, "other", "advanced SSM parameter", "1", usd)]


# --- security ----------------------------------------------------------------------------------


def kms_key(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    requests = c.assume("kms_requests_thousand_per_key")
    usd = c.price("kms.key_month") + requests / 10 * c.price("kms.request_10k")
    description = flatten(r.prop("Description")) or r.logical_id
    notes = []
    if r.prop("EnableKeyRotation"):
        notes.append("each of the first two yearly rotations adds $1/month from year two")
    return [
        c.item(
            r,
            "KMS/Secrets",
            f"KMS key: {description}",
            f"1 key + {requests:g}k requests",
            usd,
            notes,
        )
    ]


def secret(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    calls = c.assume("secrets_api_thousand_per_secret")
    usd = c.price("secretsmanager.secret_month") + calls / 10 * c.price("secretsmanager.api_10k")
    name = flatten(r.prop("Name")) or r.logical_id
    return [c.item(r, "KMS/Secrets", f"secret {name}", f"1 secret + {calls:g}k API calls", usd)]


def web_acl(r: Resource, ctx: StageContext) -> list[Outcome]:
    rules = [rule for rule in r.prop("Rules", default=[]) or [] if isinstance(rule, dict)]
    outcomes: list[Outcome] = []
    for rule in rules:
        group = (rule.get("Statement") or {}).get("ManagedRuleGroupStatement") or {}
        if group and (
            group.get("VendorName") != "AWS" or group.get("Name") in _PAID_WAF_RULE_GROUPS
        ):
            outcomes.append(
                Unpriced(
                    r.address,
                    r.type,
                    f"rule group {group.get('VendorName')}/{group.get('Name')} has its own "
                    "subscription or request fee",
                )
            )
    c = ctx.calc()
    requests = c.assume("waf_requests_million")
    usd = c.price("waf.web_acl_month") + len(rules) * c.price("waf.rule_month")
    usd += requests * c.price("waf.request_million")
    name = flatten(r.prop("Name")) or r.logical_id
    outcomes.insert(
        0,
        c.item(
            r,
            "WAF",
            f"WAF web ACL {name}",
            f"1 ACL + {len(rules)} rules + {requests:g} M requests",
            usd,
            ["a managed rule group counts as one rule"],
        ),
    )
    return outcomes


RULES: Mapping[str, Rule] = {
    "AWS::EKS::Cluster": eks_cluster,
    "AWS::EKS::Nodegroup": eks_nodegroup,
    "AWS::EC2::Instance": ec2_instance,
    "AWS::EC2::NatGateway": nat_gateway,
    "AWS::EC2::EIP": eip,
    "AWS::EC2::VPCEndpoint": vpc_endpoint,
    "AWS::EC2::FlowLog": flow_log,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": load_balancer,
    "Custom::AWSCDK-EKS-KubernetesResource": kubernetes_resource,
    "Custom::AWSCDK-EKS-HelmChart": helm_chart,
    "AWS::RDS::DBCluster": rds_db_cluster,
    "AWS::RDS::DBInstance": rds_db_instance,
    "AWS::ElastiCache::ReplicationGroup": elasticache_replication_group,
    "AWS::ElastiCache::CacheCluster": elasticache_cache_cluster,
    "AWS::DynamoDB::Table": dynamodb_table,
    "AWS::DynamoDB::GlobalTable": dynamodb_table,
    "AWS::S3::Bucket": s3_bucket,
    "AWS::ECR::Repository": ecr_repository,
    "AWS::Logs::LogGroup": log_group,
    "AWS::CloudWatch::Alarm": cloudwatch_alarm,
    "AWS::CloudWatch::CompositeAlarm": composite_alarm,
    "AWS::CloudWatch::Dashboard": dashboard,
    "AWS::Budgets::Budget": budget,
    "AWS::Lambda::Function": lambda_function,
    "AWS::SQS::Queue": sqs_queue,
    "AWS::Events::EventBus": event_bus,
    "AWS::Scheduler::Schedule": scheduler_schedule,
    "AWS::SSM::Parameter": ssm_parameter,
    "AWS::KMS::Key": kms_key,
    "AWS::SecretsManager::Secret": secret,
    "AWS::WAFv2::WebACL": web_acl,
}


def stage_level_items(ctx: StageContext) -> list[LineItem]:
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
            ["CloudFront in front (SPEC's optimisation) would move this to CloudFront's tiers"],
        )
    ]


_OVERLAP = set(FREE_TYPES) & set(RULES)
if _OVERLAP:  # pragma: no cover - guarded by a test as well
    raise RuntimeError(f"types both free and priced: {sorted(_OVERLAP)}")
