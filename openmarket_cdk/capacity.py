"""The capacity model of a stage's cluster: does everything fit on the nodes, and when?

Pods come from two places: the stage's rendered charts (Deployments, StatefulSets,
DaemonSets, their HPAs and PodDisruptionBudgets) and the config for everything else (EKS
add-ons, Helm releases: the controllers, the Cluster Autoscaler, kube-prometheus-stack). A
node offers what the kubelet leaves allocatable on the stage's instance type, computed as
AL2023's nodeadm computes it (awslabs/amazon-eks-ami ``nodeadm/internal/kubelet/config.go``):

- kube-reserved CPU: 6 % of the first core, 1 % of the second, 0.5 % of cores 3-4, 0.25 %
  of the rest;
- kube-reserved memory: ``255Mi + 11Mi x maxPods``;
- hard eviction threshold ``memory.available`` 100Mi (no system-reserved is set);
- at most ``maxPods`` pods.

Packing is first-fit decreasing per node, with every DaemonSet's pod on every node first,
the way the scheduler must place them: a sum of requests can fit while no single node has
room for the largest pod, and this model catches that.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from charts.stage import render_stage
from openmarket_cdk.chart_values import placeholder_chart_values
from openmarket_cdk.config import INSTANCE_SHAPES, InstanceShape, Resources, StageConfig

Manifest = Mapping[str, Any]

EVICTION_HARD_MEMORY_MI = 100
# (range start, range end, reserved fraction of the range in 1/10,000): nodeadm's table.
_CPU_RESERVE_RANGES = ((0, 1000, 600), (1000, 2000, 100), (2000, 4000, 50), (4000, None, 25))
_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def cpu_millicores(quantity: str) -> int:
    """``250m`` -> 250, ``1`` -> 1000, ``0.5`` -> 500."""
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return math.ceil(float(quantity) * 1000)


_MEMORY_UNITS = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024, "M": 10**6 / 2**20}
_MEMORY_UNITS |= {"G": 10**9 / 2**20, "k": 10**3 / 2**20, "": 1 / 2**20}


def memory_mebibytes(quantity: str) -> int:
    """``512Mi`` -> 512, ``2Gi`` -> 2048, ``128M`` -> 123 (rounded up)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i|[kMG]|)", quantity)
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return math.ceil(float(match.group(1)) * _MEMORY_UNITS[match.group(2)])


def kube_reserved_cpu_millicores(vcpus: int) -> int:
    total = vcpus * 1000
    reserved = 0
    for start, end, per_10000 in _CPU_RESERVE_RANGES:
        top = total if end is None else min(total, end)
        if top > start:
            reserved += (top - start) * per_10000 // 10000
    return reserved


def kube_reserved_memory_mebibytes(max_pods: int) -> int:
    return 255 + 11 * max_pods


@dataclass(frozen=True)
class NodeShape:
    """What one node offers to pods."""

    cpu_m: int
    memory_mi: int
    pods: int


def allocatable(shape: InstanceShape, max_pods: int) -> NodeShape:
    return NodeShape(
        cpu_m=shape.vcpus * 1000 - kube_reserved_cpu_millicores(shape.vcpus),
        memory_mi=shape.memory_mib
        - kube_reserved_memory_mebibytes(max_pods)
        - EVICTION_HARD_MEMORY_MI,
        pods=max_pods,
    )


def node_shape(config: StageConfig) -> NodeShape:
    k8s = config.kubernetes
    return allocatable(INSTANCE_SHAPES[k8s.node_instance_type], k8s.max_pods_per_node)


@dataclass(frozen=True)
class Pod:
    """One pod's requests (the scheduler's view: max of init containers and the sum)."""

    workload: str
    cpu_m: int
    memory_mi: int


@dataclass(frozen=True)
class Workload:
    """A set of identical pods: a Deployment/StatefulSet (with its HPA range) or a DaemonSet."""

    name: str
    kind: str
    cpu_m: int
    memory_mi: int
    min_replicas: int
    max_replicas: int
    per_node: bool = False
    # Extra pods a rolling update starts before old ones go (Deployment maxSurge).
    surge: int = 0
    labels: tuple[tuple[str, str], ...] = ()
    # Where the scheduler may put its pods: "any" zone, "spread" evenly over the zones
    # (a zone topology spread that must be satisfied), or "zonal" (a volume in one zone).
    placement: str = "any"

    def pods(self, count: int) -> list[Pod]:
        return [Pod(self.name, self.cpu_m, self.memory_mi)] * count


@dataclass(frozen=True)
class DisruptionBudget:
    name: str
    match_labels: tuple[tuple[str, str], ...]
    min_available: str | None
    max_unavailable: str | None

    def allowed_disruptions(self, replicas: int) -> int:
        """Pods of ``replicas`` healthy ones that may be evicted at once."""
        if self.max_unavailable is not None:
            return _resolve(self.max_unavailable, replicas, round_up=True)
        if self.min_available is not None:
            return replicas - _resolve(self.min_available, replicas, round_up=True)
        return replicas


def _resolve(value: str, total: int, *, round_up: bool) -> int:
    text = str(value)
    if text.endswith("%"):
        exact = int(text[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(text)


def _pod_requests(pod_spec: Mapping[str, Any]) -> tuple[int, int]:
    def requests(container: Mapping[str, Any]) -> tuple[int, int]:
        req = container.get("resources", {}).get("requests", {})
        return cpu_millicores(str(req.get("cpu", "0"))), memory_mebibytes(
            str(req.get("memory", "0"))
        )

    main = [requests(c) for c in pod_spec.get("containers", [])]
    init = [requests(c) for c in pod_spec.get("initContainers", [])]
    cpu = max([sum(c for c, _ in main), *(c for c, _ in init)])
    memory = max([sum(m for _, m in main), *(m for _, m in init)])
    return cpu, memory


def _surge(spec: Mapping[str, Any], replicas: int) -> int:
    strategy = spec.get("strategy", {})
    if strategy.get("type") == "Recreate":
        return 0
    surge = strategy.get("rollingUpdate", {}).get("maxSurge", "25%")
    return _resolve(str(surge), replicas, round_up=True)


def chart_workloads(manifests: Iterable[Manifest]) -> tuple[list[Workload], list[DisruptionBudget]]:
    """The workloads and PDBs of rendered manifests, HPAs applied."""
    objects = list(manifests)
    hpas = {
        (o["metadata"].get("namespace"), o["spec"]["scaleTargetRef"]["name"]): o["spec"]
        for o in objects
        if o["kind"] == "HorizontalPodAutoscaler"
    }
    workloads: list[Workload] = []
    for obj in objects:
        if obj["kind"] not in _WORKLOAD_KINDS:
            continue
        spec = obj["spec"]
        name = obj["metadata"]["name"]
        cpu, memory = _pod_requests(spec["template"]["spec"])
        labels = tuple(sorted(spec["template"]["metadata"].get("labels", {}).items()))
        if obj["kind"] == "DaemonSet":
            workloads.append(Workload(name, "DaemonSet", cpu, memory, 1, 1, True, 0, labels))
            continue
        hpa = hpas.get((obj["metadata"].get("namespace"), name))
        replicas = int(spec.get("replicas", 1))
        low = int(hpa.get("minReplicas", 1)) if hpa else replicas
        high = int(hpa["maxReplicas"]) if hpa else replicas
        # A rolling update at minimum replicas (the tightest moment) starts this many.
        surge = _surge(spec, low) if obj["kind"] == "Deployment" else 0
        workloads.append(
            Workload(
                name, obj["kind"], cpu, memory, low, high, False, surge, labels, _placement(spec)
            )
        )
    budgets = [
        DisruptionBudget(
            name=o["metadata"]["name"],
            match_labels=tuple(
                sorted(o["spec"].get("selector", {}).get("matchLabels", {}).items())
            ),
            min_available=_optional_str(o["spec"].get("minAvailable")),
            max_unavailable=_optional_str(o["spec"].get("maxUnavailable")),
        )
        for o in objects
        if o["kind"] == "PodDisruptionBudget"
    ]
    return workloads, budgets


ZONE_KEY = "topology.kubernetes.io/zone"


def _placement(spec: Mapping[str, Any]) -> str:
    """A StatefulSet's claimed volume lives in one zone (EBS); a pod spread over zones with
    DoNotSchedule has its share in each; anything else may go anywhere."""
    if spec.get("volumeClaimTemplates"):
        return "zonal"
    constraints = spec["template"]["spec"].get("topologySpreadConstraints", [])
    if any(
        c.get("topologyKey") == ZONE_KEY and c.get("whenUnsatisfiable") == "DoNotSchedule"
        for c in constraints
    ):
        return "spread"
    return "any"


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def system_workloads(config: StageConfig) -> list[Workload]:
    """EKS add-ons from the config's table, and the Helm-installed controllers."""
    k8s = config.kubernetes
    out = [
        Workload(
            name=c.name,
            kind="DaemonSet" if c.per_node else "Deployment",
            cpu_m=cpu_millicores(c.cpu_request),
            memory_mi=memory_mebibytes(c.memory_request),
            min_replicas=c.replicas or 1,
            max_replicas=c.replicas or 1,
            per_node=c.per_node,
            surge=0 if c.per_node else 1,
        )
        for c in k8s.system_components
    ]
    # The Helm-installed controllers, sized by config (their charts' Deployments use the
    # default RollingUpdate: 25 % surge -> 1 pod).
    out += [
        Workload(
            name=name,
            kind="Deployment",
            cpu_m=cpu_millicores(resources.cpu_request),
            memory_mi=memory_mebibytes(resources.memory_request),
            min_replicas=replicas,
            max_replicas=replicas,
            surge=1,
        )
        for name, replicas, resources in helm_controllers(config)
    ]
    return out + monitoring_workloads(config)


def _sum(*parts: Resources) -> tuple[int, int]:
    """CPU (m) and memory (Mi) requested by the containers of one pod."""
    return (
        sum(cpu_millicores(r.cpu_request) for r in parts),
        sum(memory_mebibytes(r.memory_request) for r in parts),
    )


def monitoring_workloads(config: StageConfig) -> list[Workload]:
    """The pods of the kube-prometheus-stack release (one replica each, as the chart runs
    them; Prometheus and Alertmanager with their config reloader, in the zone of their
    volume; Grafana with its two sidecars), node-exporter on every node, and the log agent
    (the CloudWatch Observability add-on's Fluent Bit) on every node."""
    r = config.kubernetes.monitoring.resources
    pods = {
        "prometheus": (_sum(r.prometheus, r.config_reloader), "StatefulSet"),
        "alertmanager": (_sum(r.alertmanager, r.config_reloader), "StatefulSet"),
        "grafana": (_sum(r.grafana, r.grafana_sidecar, r.grafana_sidecar), "Deployment"),
        "kube-state-metrics": (_sum(r.kube_state_metrics), "Deployment"),
        "prometheus-operator": (_sum(r.operator), "Deployment"),
    }
    out = [
        Workload(
            name=name,
            kind=kind,
            cpu_m=cpu,
            memory_mi=memory,
            min_replicas=1,
            max_replicas=1,
            surge=1 if kind == "Deployment" else 0,
            placement="zonal" if kind == "StatefulSet" else "any",
        )
        for name, ((cpu, memory), kind) in pods.items()
    ]
    for name, resources in (("node-exporter", r.node_exporter), ("fluent-bit", r.log_agent)):
        cpu, memory = _sum(resources)
        out.append(Workload(name, "DaemonSet", cpu, memory, 1, 1, per_node=True))
    return out


def helm_controllers(config: StageConfig) -> list[tuple[str, int, Resources]]:
    """(release's Deployment, replicas, resources) of every controller the cluster installs
    with Helm: the capacity model's side of what the cluster stack installs."""
    k8s = config.kubernetes
    controllers = k8s.controllers
    autoscaler = k8s.node_autoscaler
    found = [
        (
            "aws-load-balancer-controller",
            controllers.alb_controller.replicas,
            controllers.alb_controller.resources,
        ),
        (
            "external-secrets",
            controllers.external_secrets.replicas,
            controllers.external_secrets.resources,
        ),
        ("external-secrets-webhook", 1, controllers.external_secrets_webhook),
        ("external-secrets-cert-controller", 1, controllers.external_secrets_cert_controller),
        ("cluster-autoscaler", autoscaler.replicas, autoscaler.resources),
    ]
    if config.edge is not None:
        found.append(
            ("external-dns", controllers.external_dns.replicas, controllers.external_dns.resources)
        )
    return found


@dataclass(frozen=True)
class StageWorkloads:
    """Everything one stage runs on its node group."""

    config: StageConfig
    workloads: tuple[Workload, ...]
    budgets: tuple[DisruptionBudget, ...]

    @property
    def daemonsets(self) -> list[Workload]:
        return [w for w in self.workloads if w.per_node]

    @property
    def replicated(self) -> list[Workload]:
        return [w for w in self.workloads if not w.per_node]

    def named(self, name: str) -> Workload:
        (match,) = [w for w in self.workloads if w.name == name]
        return match


def stage_workloads(config: StageConfig) -> StageWorkloads:
    rendered = render_stage(placeholder_chart_values(config))
    charts, budgets = chart_workloads(obj for objects in rendered.values() for obj in objects)
    return StageWorkloads(config, tuple(charts + system_workloads(config)), tuple(budgets))


# What a node's pods use: the same three numbers as what it offers.
NodeUse = NodeShape


@dataclass(frozen=True)
class Packing:
    """Where first-fit decreasing put the pods; ``unplaced`` is what found no node."""

    node: NodeShape
    nodes: tuple[NodeUse, ...]
    unplaced: tuple[Pod, ...]

    @property
    def fits(self) -> bool:
        return not self.unplaced

    @property
    def free(self) -> NodeUse:
        return NodeUse(
            cpu_m=sum(self.node.cpu_m - n.cpu_m for n in self.nodes),
            memory_mi=sum(self.node.memory_mi - n.memory_mi for n in self.nodes),
            pods=sum(self.node.pods - n.pods for n in self.nodes),
        )


def pack(
    pods: Sequence[Pod], daemonsets: Sequence[Workload], node: NodeShape, nodes: int
) -> Packing:
    """First-fit decreasing: DaemonSet pods on every node, then the largest pod first (by its
    larger share of a node's CPU or memory) on the first node with room for it."""
    base_cpu = sum(d.cpu_m for d in daemonsets)
    base_memory = sum(d.memory_mi for d in daemonsets)
    used = [[base_cpu, base_memory, len(daemonsets)] for _ in range(nodes)]
    unplaced: list[Pod] = []
    if base_cpu > node.cpu_m or base_memory > node.memory_mi or len(daemonsets) > node.pods:
        return Packing(node, tuple(NodeUse(*u) for u in used), tuple(pods))

    def size(pod: Pod) -> float:
        return max(pod.cpu_m / node.cpu_m, pod.memory_mi / node.memory_mi)

    for pod in sorted(pods, key=size, reverse=True):
        for slot in used:
            if (
                slot[0] + pod.cpu_m <= node.cpu_m
                and slot[1] + pod.memory_mi <= node.memory_mi
                and slot[2] + 1 <= node.pods
            ):
                slot[0] += pod.cpu_m
                slot[1] += pod.memory_mi
                slot[2] += 1
                break
        else:
            unplaced.append(pod)
    return Packing(node, tuple(NodeUse(*u) for u in used), tuple(unplaced))


@dataclass(frozen=True)
class ZonalPacking:
    """Pods placed zone by zone: each zone's nodes hold its DaemonSets, the pods bound to it
    (its share of every spread workload, the zonal pods whose volume is there) and what of
    the rest still fits."""

    nodes: dict[str, int]
    per_zone: dict[str, Packing]
    unplaced: tuple[Pod, ...]

    @property
    def fits(self) -> bool:
        return not self.unplaced and all(p.fits for p in self.per_zone.values())


def _zone_pods(
    stage: StageWorkloads, replicas: Mapping[str, int], zonal_zone: str, surge: bool
) -> tuple[dict[str, list[Pod]], list[Pod]]:
    """(pods bound to each zone, pods free to go anywhere). Spread replicas are shared out
    evenly, the odd one to ``zonal_zone`` (the worst case); zonal pods go to ``zonal_zone``."""
    zones = list(stage.config.node_group_sizes)
    ordered = [zonal_zone, *[z for z in zones if z != zonal_zone]]
    bound: dict[str, list[Pod]] = {zone: [] for zone in zones}
    free: list[Pod] = []
    node = node_shape(stage.config)
    biggest = largest_deployment(stage, node) if surge else None
    for w in stage.replicated:
        count = replicas.get(w.name, w.min_replicas)
        if biggest is not None and w.name == biggest.name:
            count += min(w.surge, w.min_replicas)
        if w.placement == "spread":
            for index in range(count):
                bound[ordered[index % len(ordered)]].append(Pod(w.name, w.cpu_m, w.memory_mi))
        elif w.placement == "zonal":
            bound[zonal_zone] += w.pods(count)
        else:
            free += w.pods(count)
    return bound, free


def pack_zones(
    stage: StageWorkloads,
    nodes: Mapping[str, int],
    *,
    zonal_zone: str,
    replicas: Mapping[str, int] | None = None,
    surge: bool = False,
) -> ZonalPacking:
    """The stage's pods on ``nodes`` per zone: bound pods first, in their zone, then the
    free ones first-fit over every zone's remaining room."""
    node = node_shape(stage.config)
    bound, free = _zone_pods(stage, replicas or {}, zonal_zone, surge)
    per_zone = {
        zone: pack(bound[zone], stage.daemonsets, node, count) for zone, count in nodes.items()
    }
    # The free pods go where room is left (any zone's nodes, first-fit decreasing).
    leftovers = [
        [u.cpu_m, u.memory_mi, u.pods] for packing in per_zone.values() for u in packing.nodes
    ]
    unplaced: list[Pod] = []

    def size(pod: Pod) -> float:
        return max(pod.cpu_m / node.cpu_m, pod.memory_mi / node.memory_mi)

    for pod in sorted(free, key=size, reverse=True):
        for slot in leftovers:
            if (
                slot[0] + pod.cpu_m <= node.cpu_m
                and slot[1] + pod.memory_mi <= node.memory_mi
                and slot[2] + 1 <= node.pods
            ):
                slot[0] += pod.cpu_m
                slot[1] += pod.memory_mi
                slot[2] += 1
                break
        else:
            unplaced.append(pod)
    # Per zone again, with the free pods in: what each zone's nodes hold now.
    index = 0
    filled: dict[str, Packing] = {}
    for zone, packing in per_zone.items():
        used = tuple(NodeUse(*leftovers[index + i]) for i in range(len(packing.nodes)))
        filled[zone] = Packing(node, used, packing.unplaced)
        index += len(packing.nodes)
    return ZonalPacking(dict(nodes), filled, tuple(unplaced))


def zonal_scale_up(
    stage: StageWorkloads,
    *,
    zonal_zone: str,
    replicas: Mapping[str, int] | None = None,
    surge: bool = False,
) -> tuple[dict[str, int], ZonalPacking]:
    """What the autoscaler does for pods that need a zone: from each zone's minimum, add a
    node in a zone whose bound pods do not fit (that zone's group: it can choose the zone),
    else anywhere for free pods, until everything fits or the groups are at their maximum.
    Returns the nodes per zone it ends with, and the packing there."""
    sizes = stage.config.node_group_sizes
    nodes = {zone: low for zone, (low, _) in sizes.items()}
    while True:
        packing = pack_zones(stage, nodes, zonal_zone=zonal_zone, replicas=replicas, surge=surge)
        if packing.fits:
            return nodes, packing
        short = [z for z, p in packing.per_zone.items() if not p.fits and nodes[z] < sizes[z][1]]
        if not short and packing.unplaced:
            short = [z for z in nodes if nodes[z] < sizes[z][1]][:1]
        if not short:
            return nodes, packing
        nodes[short[0]] += 1


def largest_deployment(stage: StageWorkloads, node: NodeShape) -> Workload:
    """The Deployment whose rolling update needs the most room (surge x pod size)."""
    deployments = [w for w in stage.replicated if w.kind == "Deployment" and w.surge]
    return max(
        deployments,
        key=lambda w: w.surge * max(w.cpu_m / node.cpu_m, w.memory_mi / node.memory_mi),
    )


def at_minimum(stage: StageWorkloads, *, with_surge: bool = True) -> Packing:
    """(a) Minimum replicas on the minimum nodes, plus one rolling update of the largest
    Deployment (its surge pods running beside the old ones)."""
    node = node_shape(stage.config)
    pods = [p for w in stage.replicated for p in w.pods(w.min_replicas)]
    if with_surge:
        biggest = largest_deployment(stage, node)
        pods += biggest.pods(min(biggest.surge, biggest.min_replicas))
    return pack(pods, stage.daemonsets, node, stage.config.kubernetes.node_min_size)


def at_maximum(stage: StageWorkloads) -> Packing:
    """(b) Every HPA at its maximum on the most nodes the autoscaler may run."""
    node = node_shape(stage.config)
    pods = [p for w in stage.replicated for p in w.pods(w.max_replicas)]
    return pack(pods, stage.daemonsets, node, stage.config.kubernetes.node_max_size)


def with_replicas(stage: StageWorkloads, replicas: Mapping[str, int], nodes: int) -> Packing:
    """Everything at minimum except the named workloads, on ``nodes`` nodes."""
    node = node_shape(stage.config)
    pods = [p for w in stage.replicated for p in w.pods(replicas.get(w.name, w.min_replicas))]
    return pack(pods, stage.daemonsets, node, nodes)


def blocked_drains(stage: StageWorkloads) -> list[str]:
    """(c) The PDBs that would block draining a node at minimum replicas: each must allow at
    least one eviction when its workload runs at its minimum."""
    blocked: list[str] = []
    for budget in stage.budgets:
        selected = [
            w for w in stage.replicated if w.labels and set(budget.match_labels) <= set(w.labels)
        ]
        replicas = sum(w.min_replicas for w in selected)
        if not selected or budget.allowed_disruptions(replicas) < 1:
            blocked.append(budget.name)
    return blocked


def with_hpa_max(config: StageConfig, workload: str, maximum: int) -> StageConfig:
    """``config`` with one web workload's HPA maximum changed (for probes and what-ifs)."""
    k8s = config.kubernetes
    backend, frontend = k8s.backend, k8s.frontend
    if backend.name == workload:
        backend = replace(backend, hpa_max_replicas=maximum)
    if frontend.name == workload:
        frontend = replace(frontend, hpa_max_replicas=maximum)
    return replace(config, kubernetes=replace(k8s, backend=backend, frontend=frontend))


# The original design's capacity plan for 10,000 daily active users (docs/requirements.md):
# backend 2 -> 6 pods, nodes 2 -> 6.
ORIGINAL_PLAN_BACKEND_PODS = 6
ORIGINAL_PLAN_NODES = 6


def original_plan(stage: StageWorkloads) -> Packing:
    """(d) The original design's 10,000-DAU plan: six backend pods (the rest at minimum) on
    six nodes."""
    backend = stage.config.kubernetes.backend.name
    return with_replicas(stage, {backend: ORIGINAL_PLAN_BACKEND_PODS}, ORIGINAL_PLAN_NODES)


def _row(label: str, nodes: int, pods: int, packing: Packing) -> str:
    free = packing.free
    node = packing.node
    total_cpu = node.cpu_m * nodes
    total_memory = node.memory_mi * nodes
    verdict = "fits" if packing.fits else f"**{len(packing.unplaced)} pods do not fit**"
    return (
        f"| {label} | {nodes} | {pods} | {free.cpu_m}m of {total_cpu}m "
        f"({free.cpu_m / total_cpu:.0%}) | {free.memory_mi}Mi of {total_memory}Mi "
        f"({free.memory_mi / total_memory:.0%}) | {free.pods} of {node.pods * nodes} | {verdict} |"
    )


def capacity_report(configs: Sequence[StageConfig]) -> str:
    """docs/capacity.md: each stage's node, and the headroom left in each scenario."""
    lines = [
        "# Capacity",
        "",
        "Generated by `make capacity` (scripts/capacity_report.py) from the stage configs and",
        "the rendered charts, with the model in `openmarket_cdk/capacity.py`. Do not edit by",
        "hand: `tests/test_capacity.py` fails when this page is stale or a scenario stops",
        "fitting.",
        "",
        "A node's allocatable is what AL2023's nodeadm leaves: capacity minus kube-reserved",
        "CPU (6 % of the first core, 1 % of the second, 0.5 % of cores 3-4), kube-reserved",
        "memory (255Mi + 11Mi x max pods) and the 100Mi hard-eviction threshold. Pods are",
        "packed first-fit decreasing, DaemonSets on every node. Free = allocatable minus",
        "requests, summed over the nodes (a pod needs its share on one node).",
        "",
        "The Cluster Autoscaler (`openmarket_cdk/constructs/node_autoscaler.py`) adds a node",
        "when a pod is Pending for want of room, up to the node group's maximum, and removes",
        "one that has stayed under its utilisation threshold, never below the minimum. A pod",
        "Pending for 10 minutes fires `OpenMarketPodsUnschedulable` (docs/monitoring.md).",
        "",
    ]
    lines += [
        "Nodes run in one managed node group per zone (the autoscaler cannot choose the zone",
        "of a multi-AZ group). A pod may be bound to a zone: its share of a workload spread",
        "over the zones (`DoNotSchedule`), or the zone of its volume (a StatefulSet's EBS",
        "claim). The zonal tables below place bound pods in their zone and the rest anywhere,",
        "and let the autoscaler add a node to the zone whose pods do not fit, up to that",
        "group's maximum.",
        "",
    ]
    for config in configs:
        hours = config.sleep
        if not hours.enabled:
            continue
        lines += [
            f"{config.name} sleeps (openmarket_cdk/stage_sleep): on {hours.weekdays} at "
            f"{hours.stop_hour:02d}:00 ({hours.time_zone}) stage sleep scales the autoscaler "
            "to 0 and then every node group to 0, so nothing scales them back and no paid "
            "node runs overnight; its wake brings the groups back to their minimum and the "
            "autoscaler with them.",
            "",
        ]
    for config in configs:
        stage = stage_workloads(config)
        k8s = config.kubernetes
        node = node_shape(config)
        minimum = at_minimum(stage)
        maximum = at_maximum(stage)
        biggest = largest_deployment(stage, node)
        min_pods = sum(w.min_replicas for w in stage.replicated) + len(stage.daemonsets) * (
            k8s.node_min_size
        )
        surge_pods = min(biggest.surge, biggest.min_replicas)
        max_pods = sum(w.max_replicas for w in stage.replicated) + len(stage.daemonsets) * (
            k8s.node_max_size
        )
        lines += [
            f"## {config.name}",
            "",
            f"{k8s.node_instance_type}, {k8s.node_min_size}-{k8s.node_max_size} nodes, "
            f"max {k8s.max_pods_per_node} pods a node (VPC CNI prefix delegation "
            f"{'on' if k8s.prefix_delegation else 'off'}): allocatable {node.cpu_m}m CPU, "
            f"{node.memory_mi}Mi memory, {node.pods} pods per node. "
            f"{len(stage.daemonsets)} DaemonSets, {len(stage.replicated)} replicated workloads; "
            f"the largest rolling update is {biggest.name}'s ({surge_pods} surge pod"
            f"{'s' if surge_pods != 1 else ''}).",
            "",
            "| scenario | nodes | pods | CPU free | memory free | pod slots free | result |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            _row(
                "minimum replicas + one rolling update",
                k8s.node_min_size,
                min_pods + surge_pods,
                minimum,
            ),
            _row("every HPA at its maximum", k8s.node_max_size, max_pods, maximum),
        ]
        if config.name == "prod":
            plan = original_plan(stage)
            plan_pods = (
                sum(w.min_replicas for w in stage.replicated)
                + ORIGINAL_PLAN_BACKEND_PODS
                - k8s.backend.hpa_min_replicas
                + len(stage.daemonsets) * ORIGINAL_PLAN_NODES
            )
            lines.append(
                _row(
                    "original design 10,000 DAU: backend 6 pods",
                    ORIGINAL_PLAN_NODES,
                    plan_pods,
                    plan,
                )
            )
        lines += zonal_rows(stage)
        lines.append("")
    return "\n".join(lines)


def zonal_rows(stage: StageWorkloads) -> list[str]:
    """The per-zone table of one stage: where the nodes are, and where they must be."""
    config = stage.config
    sizes = config.node_group_sizes
    zones = list(sizes)
    larger, smaller = zones[0], zones[-1]
    minimum = {zone: low for zone, (low, _) in sizes.items()}
    hpa_max = {w.name: w.max_replicas for w in stage.replicated}

    def short(zone: str) -> str:
        return zone.removeprefix(config.region)

    def row(label: str, nodes: Mapping[str, int], packing: ZonalPacking) -> str:
        cells = []
        for zone in zones:
            zone_packing = packing.per_zone[zone]
            cells.append(
                f"{nodes[zone]} of {sizes[zone][0]}-{sizes[zone][1]}, "
                f"{zone_packing.free.cpu_m}m / {zone_packing.free.memory_mi}Mi free"
            )
        verdict = "fits" if packing.fits else f"**{len(packing.unplaced)} pods do not fit**"
        return f"| {label} | " + " | ".join(cells) + f" | {verdict} |"

    scenarios = [
        (
            f"minimum replicas, volumes in {short(larger)}",
            minimum,
            pack_zones(stage, minimum, zonal_zone=larger),
        ),
        (
            "+ one rolling update (nodes the autoscaler runs)",
            *zonal_scale_up(stage, zonal_zone=larger, surge=True),
        ),
        (
            f"zonal scale-up: volumes in {short(smaller)}, one rolling update",
            *zonal_scale_up(stage, zonal_zone=smaller, surge=True),
        ),
        (
            f"every HPA at its maximum, volumes in {short(smaller)}",
            *zonal_scale_up(stage, zonal_zone=smaller, replicas=hpa_max),
        ),
    ]
    return [
        "",
        "Per zone (nodes run of the group's min-max; free CPU / memory on that zone's nodes):",
        "",
        "| scenario | " + " | ".join(zones) + " | result |",
        "| --- | " + " | ".join("---" for _ in zones) + " | --- |",
        *(row(label, nodes, packing) for label, nodes, packing in scenarios),
    ]
