"""What one node offers pods: the allocatable AL2023's nodeadm leaves.

A node offers what the kubelet leaves allocatable on the stage's instance type, computed as
AL2023's nodeadm computes it (awslabs/amazon-eks-ami ``nodeadm/internal/kubelet/config.go``):

- kube-reserved CPU: 6 % of the first core, 1 % of the second, 0.5 % of cores 3-4, 0.25 %
  of the rest;
- kube-reserved memory: ``255Mi + 11Mi x maxPods``;
- hard eviction threshold ``memory.available`` 100Mi (no system-reserved is set);
- at most ``maxPods`` pods.
"""

from __future__ import annotations

from dataclasses import dataclass

from openmarket_cdk.config import INSTANCE_SHAPES, InstanceShape, StageConfig

EVICTION_HARD_MEMORY_MI = 100
# (range start, range end, reserved fraction of the range in 1/10,000): nodeadm's table.
_CPU_RESERVE_RANGES = ((0, 1000, 600), (1000, 2000, 100), (2000, 4000, 50), (4000, None, 25))


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
