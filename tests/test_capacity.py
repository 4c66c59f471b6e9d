"""Capacity is a test (the original design, "Deploy day"; docs/requirements.md): at minimum
replicas everything fits the minimum nodes with room for a rolling update; at every HPA's
maximum it fits what the Cluster Autoscaler can add; every PodDisruptionBudget lets a node
drain; the original design's 10,000-DAU plan (backend 2 -> 6 pods, nodes 2 -> 6) fits prod.

The model (openmarket_cdk/capacity/) packs pods per node, first-fit decreasing, over the
rendered charts of each stage plus the config's table of add-ons and Helm releases.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from charts.stage import render_stage
from openmarket_cdk.capacity import (
    ORIGINAL_PLAN_NODES,
    NodeShape,
    Pod,
    StageWorkloads,
    Workload,
    allocatable,
    at_maximum,
    at_minimum,
    blocked_drains,
    capacity_report,
    cpu_millicores,
    helm_controllers,
    kube_reserved_cpu_millicores,
    kube_reserved_memory_mebibytes,
    memory_mebibytes,
    original_plan,
    pack,
    pack_zones,
    stage_workloads,
    with_hpa_max,
    zonal_scale_up,
)
from openmarket_cdk.chart_values import placeholder_chart_values
from openmarket_cdk.config import (
    INSTANCE_SHAPES,
    STAGE_NAMES,
    StageConfigError,
    all_stage_configs,
    stage_config,
    validate_stage,
)
from tests.cfn import of_type
from tests.conftest import Synthesized

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stages() -> dict[str, StageWorkloads]:
    return {name: stage_workloads(stage_config(name)) for name in STAGE_NAMES}


def _unplaced(names: object) -> str:
    return f"pods that found no node: {names}"


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_minimum_replicas_fit_the_minimum_nodes_with_a_rolling_update(
    stages: dict[str, StageWorkloads], stage: str
) -> None:
    packing = at_minimum(stages[stage])
    assert packing.fits, _unplaced([p.workload for p in packing.unplaced])
    assert len(packing.nodes) == stage_config(stage).kubernetes.node_min_size


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_hpa_at_its_maximum_fits_the_autoscalers_maximum(
    stages: dict[str, StageWorkloads], stage: str
) -> None:
    packing = at_maximum(stages[stage])
    assert packing.fits, _unplaced([p.workload for p in packing.unplaced])
    backend = stages[stage].named("backend")
    assert backend.max_replicas == stage_config(stage).kubernetes.backend.hpa_max_replicas


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_disruption_budget_lets_one_node_drain(
    stages: dict[str, StageWorkloads], stage: str
) -> None:
    assert stages[stage].budgets, "the charts define PodDisruptionBudgets"
    assert blocked_drains(stages[stage]) == []
    # A drained node's pods need somewhere to go: the autoscaler can add a node.
    k8s = stage_config(stage).kubernetes
    assert k8s.node_max_size > k8s.node_min_size


def test_original_capacity_plan_fits_prod(stages: dict[str, StageWorkloads]) -> None:
    k8s = stage_config("prod").kubernetes
    # The original design: nodes 2 -> 6, backend 2 -> 6 pods. Prod starts at 3 nodes: two do
    # not hold the minimum (config/kubernetes.py, node_min_size); the plan's six is the autoscaler's
    # maximum.
    assert k8s.node_min_size <= 3 and k8s.node_max_size >= ORIGINAL_PLAN_NODES
    assert k8s.backend.hpa_min_replicas == 2 and k8s.backend.hpa_max_replicas >= 6
    packing = original_plan(stages["prod"])
    assert packing.fits, _unplaced([p.workload for p in packing.unplaced])


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_the_model_rejects_an_hpa_maximum_of_40(stage: str) -> None:
    """The probe: 40 backend pods (10 vCPU of requests) cannot fit any stage's maximum."""
    probe = stage_workloads(with_hpa_max(stage_config(stage), "backend", 40))
    assert probe.named("backend").max_replicas == 40
    packing = at_maximum(probe)
    # First-fit decreasing places the large pods first: what is left over may be any pod.
    assert not packing.fits


def test_packing_is_per_node_not_a_sum() -> None:
    """Three pods of 60 % of a node: the sum (180 %) is below two nodes, but no two of them
    share a node, so the third finds none."""
    node = NodeShape(cpu_m=1000, memory_mi=1000, pods=110)
    pods = [Pod("big", 600, 100)] * 3
    packing = pack(pods, [], node, 2)
    assert [p.workload for p in packing.unplaced] == ["big"]
    # DaemonSets take their share on every node first.
    daemon = Workload("agent", "DaemonSet", 500, 0, 1, 1, per_node=True)
    assert not pack([Pod("half", 600, 0)], [daemon], node, 3).fits
    # The pod limit counts too.
    assert not pack([Pod("tiny", 1, 1)] * 3, [], NodeShape(1000, 1000, 1), 2).fits


def test_allocatable_follows_nodeadm() -> None:
    """awslabs/amazon-eks-ami nodeadm: kube-reserved CPU 6 % / 1 % / 0.5 % / 0.25 % by core,
    memory 255Mi + 11Mi per pod, 100Mi hard eviction."""
    assert kube_reserved_cpu_millicores(2) == 70
    assert kube_reserved_cpu_millicores(4) == 80
    assert kube_reserved_cpu_millicores(8) == 90
    assert kube_reserved_memory_mebibytes(17) == 442
    assert kube_reserved_memory_mebibytes(110) == 1465
    node = allocatable(INSTANCE_SHAPES["t3.medium"], 110)
    assert node == NodeShape(cpu_m=1930, memory_mi=3860 - 1465 - 100, pods=110)
    assert stage_config("prod").kubernetes.max_pods_per_node == 24
    assert allocatable(INSTANCE_SHAPES["t3.medium"], 24).memory_mi == 3860 - 519 - 100


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_eks_default_110_pods_would_not_fit_a_t3_medium_stage(stage: str) -> None:
    """Why max pods is 24, not EKS's 110 for prefix delegation: 110 pods reserve 1,465Mi of a
    t3.medium's memory, and the HPA maxima no longer fit the node group's maximum."""
    config = stage_config(stage)
    dense = replace(config, kubernetes=replace(config.kubernetes, max_pods_per_node=110))
    assert not at_maximum(stage_workloads(dense)).fits
    assert memory_mebibytes("2Gi") == 2048 and memory_mebibytes("128M") == 123


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_the_model_sees_the_rendered_workloads_and_the_add_ons(
    stages: dict[str, StageWorkloads], stage: str
) -> None:
    workloads = stages[stage]
    k8s = stage_config(stage).kubernetes
    for web in k8s.workloads:
        pods = workloads.named(web.name)
        assert (pods.min_replicas, pods.max_replicas) == (
            web.hpa_min_replicas,
            web.hpa_max_replicas,
        )
        assert (pods.cpu_m, pods.memory_mi) == (250, 512)
    daemonsets = {w.name for w in workloads.daemonsets}
    assert {"node-exporter", "fluent-bit", "aws-node", "kube-proxy", "ebs-csi-node"} <= daemonsets
    names = {w.name for w in workloads.workloads}
    assert {"prometheus", "grafana", "coredns", "cluster-autoscaler"} <= names


def test_node_density_settings_are_checked() -> None:
    dev = stage_config("dev")
    k8s = dev.kubernetes
    without_prefixes = replace(k8s, prefix_delegation=False)
    with pytest.raises(StageConfigError, match="max_pods_per_node"):
        validate_stage(replace(dev, kubernetes=without_prefixes))
    # Without prefix delegation a t3.medium holds 3 x (6 - 1) + 2 = 17 pods.
    validate_stage(replace(dev, kubernetes=replace(without_prefixes, max_pods_per_node=17)))
    with pytest.raises(StageConfigError, match="node_max_size"):
        validate_stage(replace(dev, kubernetes=replace(k8s, node_max_size=k8s.node_min_size)))


# What each Helm release and EKS add-on the cluster stack installs runs (its pods' names in
# the capacity model). A release or add-on missing here fails the test below: a new
# controller cannot be left out of the model.
RELEASE_WORKLOADS = {
    "aws-load-balancer-controller": {"aws-load-balancer-controller"},
    "external-secrets": {
        "external-secrets",
        "external-secrets-webhook",
        "external-secrets-cert-controller",
    },
    "cluster-autoscaler": {"cluster-autoscaler"},
    "external-dns": {"external-dns"},
    # CRDs only: no pod.
    "prometheus-operator-crds": set(),
    "kube-prometheus-stack": {
        "prometheus",
        "alertmanager",
        "grafana",
        "kube-state-metrics",
        "prometheus-operator",
        "node-exporter",
    },
}
ADDON_WORKLOADS = {
    "vpc-cni": {"aws-node"},
    "kube-proxy": {"kube-proxy"},
    "eks-pod-identity-agent": {"eks-pod-identity-agent"},
    "coredns": {"coredns"},
    "metrics-server": {"metrics-server"},
    "aws-ebs-csi-driver": {"ebs-csi-node", "ebs-csi-controller"},
    "amazon-cloudwatch-observability": {"cloudwatch-agent", "cloudwatch-operator", "fluent-bit"},
}


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_pod_the_stage_runs_is_in_the_capacity_model(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "cluster")
    modelled = {w.name for w in stage_workloads(stage_config(stage)).workloads}
    releases = {
        r["Properties"]["Release"]
        for r in of_type(template, "Custom::AWSCDK-EKS-HelmChart").values()
    }
    addons = {a["Properties"]["AddonName"] for a in of_type(template, "AWS::EKS::Addon").values()}
    assert releases <= RELEASE_WORKLOADS.keys(), releases - RELEASE_WORKLOADS.keys()
    assert addons <= ADDON_WORKLOADS.keys(), addons - ADDON_WORKLOADS.keys()
    for name in releases:
        assert RELEASE_WORKLOADS[name] <= modelled, name
    for name in addons:
        assert ADDON_WORKLOADS[name] <= modelled, name
    # ExternalDNS exactly where a domain is.
    assert ("external-dns" in releases) is (stage_config(stage).edge is not None)
    assert ("external-dns" in modelled) is (stage_config(stage).edge is not None)
    # Every workload of the rendered charts is counted.
    rendered = render_stage(placeholder_chart_values(stage_config(stage)))
    kinds = ("Deployment", "StatefulSet", "DaemonSet")
    names = {
        o["metadata"]["name"] for objs in rendered.values() for o in objs if o["kind"] in kinds
    }
    assert names and names <= modelled


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_controller_has_requests_and_limits(synthesized: Synthesized, stage: str) -> None:
    """Without requests the scheduler packs them anywhere and the kubelet evicts them first."""
    for name, _, resources in helm_controllers(stage_config(stage)):
        assert cpu_millicores(resources.cpu_request) > 0, name
        assert memory_mebibytes(resources.memory_request) > 0, name
        assert cpu_millicores(resources.cpu_limit) >= cpu_millicores(resources.cpu_request)
        assert memory_mebibytes(resources.memory_limit) >= memory_mebibytes(
            resources.memory_request
        )
    releases = {
        r["Properties"]["Release"]: r["Properties"]
        for r in of_type(
            synthesized.template(stage, "cluster"), "Custom::AWSCDK-EKS-HelmChart"
        ).values()
    }
    for name, props in releases.items():
        if not RELEASE_WORKLOADS[name]:
            continue  # no pod (CRDs only)
        values = props["Values"]
        text = values if isinstance(values, str) else json.dumps(values)
        assert '"resources"' in text or '\\"resources\\"' in text, name
    eso = releases["external-secrets"]["Values"]
    eso_values = json.loads(eso) if isinstance(eso, str) else None
    if eso_values is not None:
        assert eso_values["webhook"]["resources"]["requests"]
        assert eso_values["certController"]["resources"]["requests"]


def test_the_capacity_page_is_current() -> None:
    page = (ROOT / "docs" / "capacity.md").read_text()
    assert page == capacity_report(all_stage_configs()), "run `make capacity`"


# --- per zone: one node group per zone ----------------------------------------------------


def _zones(config: object) -> tuple[str, str]:
    zones = list(stage_config(str(config)).node_group_sizes)
    return zones[0], zones[-1]


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_minimum_replicas_fit_each_zones_minimum(
    stages: dict[str, StageWorkloads], stage: str
) -> None:
    """Spread replicas share the zones, the volumes sit where the first pod went (the zone
    with room): the minimum nodes of each zone hold it all."""
    workloads = stages[stage]
    larger, _ = _zones(stage)
    minimum = {z: low for z, (low, _) in workloads.config.node_group_sizes.items()}
    packing = pack_zones(workloads, minimum, zonal_zone=larger)
    assert packing.fits, _unplaced([p.workload for p in packing.unplaced])


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_a_rolling_update_at_minimum(stages: dict[str, StageWorkloads], stage: str) -> None:
    """Every stage takes a rolling update on its minimum nodes, the replicas spread over
    the zones and the monitoring volumes in one (the original design's node counts)."""
    workloads = stages[stage]
    larger, _ = _zones(stage)
    sizes = workloads.config.node_group_sizes
    nodes, packing = zonal_scale_up(workloads, zonal_zone=larger, surge=True)
    assert packing.fits
    assert nodes == {z: low for z, (low, _) in sizes.items()}


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_a_zonal_pod_gets_a_node_in_its_zone(stages: dict[str, StageWorkloads], stage: str) -> None:
    """The monitoring volumes in the zone with fewer nodes, a rolling update, and a zonal
    pod (a volume) that the zone's nodes at their minimum cannot take: the autoscaler adds
    the node in that zone (its group's maximum allows it), which one multi-AZ group could
    not promise."""
    workloads = stages[stage]
    _, smaller = _zones(stage)
    sizes = workloads.config.node_group_sizes
    minimum = {z: low for z, (low, _) in sizes.items()}
    # A pod as large as half a node, bound to the smaller zone by its volume.
    bound = Workload("zonal-volume", "StatefulSet", 900, 1200, 1, 1, placement="zonal")
    bigger = StageWorkloads(workloads.config, (*workloads.workloads, bound), workloads.budgets)
    # The scenario is real: at the minimum the smaller zone cannot hold its pods.
    assert not pack_zones(bigger, minimum, zonal_zone=smaller, surge=True).fits
    nodes, packing = zonal_scale_up(bigger, zonal_zone=smaller, surge=True)
    assert packing.fits
    assert all(nodes[z] <= high for z, (_, high) in sizes.items())
    assert nodes[smaller] == minimum[smaller] + 1
    assert all(nodes[z] == minimum[z] for z in nodes if z != smaller)


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_hpa_at_its_maximum_is_served_per_zone(
    stages: dict[str, StageWorkloads], stage: str
) -> None:
    workloads = stages[stage]
    _, smaller = _zones(stage)
    hpa_max = {w.name: w.max_replicas for w in workloads.replicated}
    nodes, packing = zonal_scale_up(workloads, zonal_zone=smaller, replicas=hpa_max)
    assert packing.fits, _unplaced([p.workload for p in packing.unplaced])
    sizes = workloads.config.node_group_sizes
    assert all(nodes[z] <= high for z, (_, high) in sizes.items())


def test_the_zonal_model_can_say_no(stages: dict[str, StageWorkloads]) -> None:
    """A zonal pod bigger than any node is not served, whatever the autoscaler does."""
    workloads = stages["prod"]
    giant = Workload("giant", "StatefulSet", 5000, 100, 1, 1, placement="zonal")
    bigger = StageWorkloads(workloads.config, (*workloads.workloads, giant), workloads.budgets)
    _, smaller = _zones("prod")
    nodes, packing = zonal_scale_up(bigger, zonal_zone=smaller)
    assert not packing.fits
    assert nodes[smaller] == workloads.config.node_group_sizes[smaller][1]


def test_a_controller_that_does_not_name_its_deployment_is_refused() -> None:
    """A new ControllersConfig field without its Deployment cannot slip past the model."""
    from dataclasses import dataclass

    from openmarket_cdk.config import ControllersConfig, Resources

    small = Resources("10m", "100m", "32Mi", "64Mi")

    @dataclass(frozen=True)
    class WithANewController(ControllersConfig):
        new_controller: Resources = small

    config = stage_config("prod")
    changed = replace(
        config, kubernetes=replace(config.kubernetes, controllers=WithANewController())
    )
    with pytest.raises(TypeError, match=r"ControllersConfig\.new_controller"):
        helm_controllers(changed)


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_controller_field_is_counted(stage: str) -> None:
    config = stage_config(stage)
    counted = {name for name, _, _ in helm_controllers(config)}
    assert ("external-dns" in counted) is (config.edge is not None)
    assert {
        "aws-load-balancer-controller",
        "external-secrets",
        "external-secrets-webhook",
        "external-secrets-cert-controller",
        "cluster-autoscaler",
    } <= counted
