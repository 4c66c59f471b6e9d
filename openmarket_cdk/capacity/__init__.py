"""The capacity model of a stage's cluster: does everything fit on the nodes, and when?

Pods come from two places: the stage's rendered charts and the config for everything else
(EKS add-ons, Helm releases). A node offers what the kubelet leaves allocatable on the
stage's instance type, as AL2023's nodeadm computes it. Packing is first-fit decreasing per
node, every DaemonSet's pod on every node first, the way the scheduler must place them.

- ``quantities.py``: CPU and memory quantities, nodeadm's kube-reserved and a node's
  allocatable (``NodeShape``);
- ``workloads.py``: where pods come from: the rendered charts (workloads, HPAs, PDBs), the
  config's system components, Helm controllers and monitoring pods (``stage_workloads``);
- ``packing.py``: first-fit decreasing per node and per zone, the autoscaler's zonal
  scale-up, and the scenarios (``at_minimum``, ``at_maximum``, ``original_plan``, drains);
- ``report.py``: docs/capacity.md (``capacity_report``, ``make capacity``).
"""

from __future__ import annotations

from openmarket_cdk.capacity.packing import (
    ORIGINAL_PLAN_BACKEND_PODS,
    ORIGINAL_PLAN_NODES,
    NodeUse,
    Packing,
    ZonalPacking,
    at_maximum,
    at_minimum,
    blocked_drains,
    largest_deployment,
    original_plan,
    pack,
    pack_zones,
    with_hpa_max,
    with_replicas,
    zonal_scale_up,
)
from openmarket_cdk.capacity.quantities import (
    EVICTION_HARD_MEMORY_MI,
    NodeShape,
    allocatable,
    kube_reserved_cpu_millicores,
    kube_reserved_memory_mebibytes,
    node_shape,
)
from openmarket_cdk.capacity.report import capacity_report, zonal_rows
from openmarket_cdk.capacity.workloads import (
    ZONE_KEY,
    DisruptionBudget,
    Manifest,
    Pod,
    StageWorkloads,
    Workload,
    chart_workloads,
    helm_controllers,
    monitoring_workloads,
    stage_workloads,
    system_workloads,
)
from openmarket_cdk.config.quantities import cpu_millicores, memory_mebibytes

__all__ = [
    "EVICTION_HARD_MEMORY_MI",
    "ORIGINAL_PLAN_BACKEND_PODS",
    "ORIGINAL_PLAN_NODES",
    "ZONE_KEY",
    "DisruptionBudget",
    "Manifest",
    "NodeShape",
    "NodeUse",
    "Packing",
    "Pod",
    "StageWorkloads",
    "Workload",
    "ZonalPacking",
    "allocatable",
    "at_maximum",
    "at_minimum",
    "blocked_drains",
    "capacity_report",
    "chart_workloads",
    "cpu_millicores",
    "helm_controllers",
    "kube_reserved_cpu_millicores",
    "kube_reserved_memory_mebibytes",
    "largest_deployment",
    "memory_mebibytes",
    "monitoring_workloads",
    "node_shape",
    "original_plan",
    "pack",
    "pack_zones",
    "stage_workloads",
    "system_workloads",
    "with_hpa_max",
    "with_replicas",
    "zonal_rows",
    "zonal_scale_up",
]
