"""Kubernetes: what the manifests and Helm charts the EKS construct applies cost in AWS.

Most objects run on (or are stored in) the cluster and cost nothing of their own; an
Ingress of class alb becomes an ALB (one per ingress group; counted only for the hours it
exists when a scheduled function deletes it at night), a Service of type
LoadBalancer an NLB, and a PersistentVolumeClaim or a StatefulSet's volume claim
templates EBS volumes. A kind or a chart the rules do not know is unpriced, never free.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from openmarket_cdk.config.quantities import gibibytes
from tools.assembly import Resource, as_number, flatten
from tools.cost.context import StageContext
from tools.cost.hours import HOURS_PER_MONTH
from tools.cost.model import Free, LineItem, Outcome, Unpriced
from tools.cost.rules.base import Service
from tools.cost.rules.network import alb_item, nlb_item

# Helm charts whose workloads only run on the node group (no AWS resources of their own).
KNOWN_HELM_CHARTS: Mapping[str, str] = {
    "aws-load-balancer-controller": (
        "controller pods on the node group; the load balancers it creates are priced from "
        "the Ingress objects"
    ),
    "external-secrets": "operator pods on the node group; Secrets Manager reads are priced",
    "external-dns": (
        "one controller pod on the node group; Route 53 alias queries are free and the "
        "hosted zone exists outside the stage"
    ),
    "metrics-server": "pods on the node group",
    "cert-manager": "pods on the node group",
    "cluster-autoscaler": "pods on the node group",
    "prometheus-operator-crds": "CustomResourceDefinitions only",
}
# Helm charts whose values claim EBS volumes: chart -> (what, path of the claim spec).
HELM_CHART_VOLUMES: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "kube-prometheus-stack": (
        (
            "Prometheus (kube-prometheus-stack)",
            ("prometheus", "prometheusSpec", "storageSpec", "volumeClaimTemplate", "spec"),
        ),
        (
            "Alertmanager (kube-prometheus-stack)",
            ("alertmanager", "alertmanagerSpec", "storage", "volumeClaimTemplate", "spec"),
        ),
    ),
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
        # The Prometheus Operator's configuration kinds.
        "PrometheusRule",
        "ServiceMonitor",
        "PodMonitor",
    }
)


def _gib(quantity: Any) -> float | None:
    try:
        return gibibytes(str(quantity or ""))
    except ValueError:
        return None


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
            # Deleted at night by stage sleep (its Ingress leaves the class), made again after
            # the wake.
            sleep = ctx.alb_sleeps.get(name) if name else None
            hours = sleep.hours_per_month if sleep else HOURS_PER_MONTH
            notes = [sleep.note] if sleep else []
            outcomes.append(alb_item(r, ctx, label, internet_facing, hours, notes))
        elif kind == "Service" and spec.get("type") == "LoadBalancer":
            annotations = meta.get("annotations") or {}
            scheme = annotations.get("service.beta.kubernetes.io/aws-load-balancer-scheme")
            outcomes.append(nlb_item(r, ctx, f"NLB from {ident}", scheme == "internet-facing"))
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


def _chart_volumes(
    r: Resource, ctx: StageContext, chart: str, claims: tuple[tuple[str, tuple[str, ...]], ...]
) -> list[Outcome]:
    """One EBS volume per claim the chart's values make (one replica each)."""
    try:
        values = json.loads(flatten(r.prop("Values")) or "{}")
    except ValueError:
        return [Unpriced(r.address, r.type, f"Helm chart '{chart}': values unreadable")]
    outcomes: list[Outcome] = []
    for what, path in claims:
        node: Any = values
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        storage = ((node or {}).get("resources") or {}).get("requests", {}).get("storage")
        gib = _gib(storage)
        if gib is None:
            outcomes.append(Unpriced(r.address, r.type, f"{what}: volume size unreadable"))
        else:
            outcomes.append(_volume_item(r, ctx, what, gib, 1))
    return outcomes


def helm_chart(r: Resource, ctx: StageContext) -> list[Outcome]:
    chart = flatten(r.prop("Chart")) or "?"
    if chart in HELM_CHART_VOLUMES:
        return _chart_volumes(r, ctx, chart, HELM_CHART_VOLUMES[chart])
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


SERVICE = Service(
    name="kubernetes",
    rules={
        "Custom::AWSCDK-EKS-KubernetesResource": kubernetes_resource,
        "Custom::AWSCDK-EKS-HelmChart": helm_chart,
    },
)
