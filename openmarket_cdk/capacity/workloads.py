"""Where a stage's pods come from, and what each one requests.

Two places: the stage's rendered charts (Deployments, StatefulSets, DaemonSets, their HPAs
and PodDisruptionBudgets) and the config for everything else (EKS add-ons, Helm releases:
the controllers, the Cluster Autoscaler, kube-prometheus-stack).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from charts.stage import render_stage
from openmarket_cdk.chart_values import placeholder_chart_values
from openmarket_cdk.config import ControllerRelease, Resources, StageConfig
from openmarket_cdk.config.quantities import cpu_millicores, memory_mebibytes

Manifest = Mapping[str, Any]
_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


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
    m = config.kubernetes.monitoring
    pods = {
        "prometheus": (_sum(m.prometheus.resources, m.config_reloader), "StatefulSet"),
        "alertmanager": (_sum(m.alertmanager.resources, m.config_reloader), "StatefulSet"),
        "grafana": (
            _sum(m.grafana.resources, m.grafana.sidecar_resources, m.grafana.sidecar_resources),
            "Deployment",
        ),
        "kube-state-metrics": (_sum(m.kube_state_metrics.resources), "Deployment"),
        "prometheus-operator": (_sum(m.operator), "Deployment"),
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
    for name, resources in (
        ("node-exporter", m.node_exporter.resources),
        ("fluent-bit", m.log_agent),
    ):
        cpu, memory = _sum(resources)
        out.append(Workload(name, "DaemonSet", cpu, memory, 1, 1, per_node=True))
    return out


def helm_controllers(config: StageConfig) -> list[tuple[str, int, Resources]]:
    """(release's Deployment, replicas, resources) of every controller the cluster installs
    with Helm: each field of ControllersConfig (which names its Deployment), and the node
    autoscaler. The capacity model's side of what the cluster stack installs."""
    controllers = config.kubernetes.controllers
    found: list[tuple[str, int, Resources]] = []
    for spec in fields(controllers):
        if "deployment" not in spec.metadata:
            raise TypeError(f"ControllersConfig.{spec.name} does not name its Deployment")
        if spec.metadata["with_domain_only"] and config.edge is None:
            continue
        value = getattr(controllers, spec.name)
        if isinstance(value, ControllerRelease):
            found.append((spec.metadata["deployment"], value.replicas, value.resources))
        else:
            found.append((spec.metadata["deployment"], 1, value))
    autoscaler = config.kubernetes.node_autoscaler
    found.append(("cluster-autoscaler", autoscaler.replicas, autoscaler.resources))
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
