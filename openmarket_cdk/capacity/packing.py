"""Packing a stage's pods on its nodes: first-fit decreasing, per node and per zone.

Packing is first-fit decreasing per node, with every DaemonSet's pod on every node first,
the way the scheduler must place them: a sum of requests can fit while no single node has
room for the largest pod, and this model catches that. The scenarios (minimum replicas with
a rolling update, every HPA at its maximum, the original design's plan, PDBs that block a
drain, the autoscaler's zonal scale-up) are built on ``pack`` and ``pack_zones``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from openmarket_cdk.capacity.quantities import NodeShape, node_shape
from openmarket_cdk.capacity.workloads import Pod, StageWorkloads, Workload
from openmarket_cdk.config import StageConfig

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
    if base_cpu > node.cpu_m or base_memory > node.memory_mi or len(daemonsets) > node.pods:
        return Packing(node, tuple(NodeUse(*u) for u in used), tuple(pods))

    unplaced = _first_fit_decreasing(pods, used, node)
    return Packing(node, tuple(NodeUse(*u) for u in used), tuple(unplaced))


def _first_fit_decreasing(
    pods: Sequence[Pod], slots: list[list[int]], node: NodeShape
) -> list[Pod]:
    """Places ``pods``, largest first (by its larger share of a node's CPU or memory), on the
    first slot (used CPU, memory, pods of one node, updated in place) with room for it; returns
    the pods that found none."""

    def size(pod: Pod) -> float:
        return max(pod.cpu_m / node.cpu_m, pod.memory_mi / node.memory_mi)

    unplaced: list[Pod] = []
    for pod in sorted(pods, key=size, reverse=True):
        for slot in slots:
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
    return unplaced


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
    unplaced = _first_fit_decreasing(free, leftovers, node)
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
