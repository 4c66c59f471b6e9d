"""Checks of the ``kubernetes`` section (cluster, nodes, autoscaler, workloads, monitoring):
the first bad value raises ``StageConfigError`` naming its field, e.g.
``kubernetes.backend.hpa_min_replicas``."""

from __future__ import annotations

import re

from openmarket_cdk.config.checks import DNS_LABEL, check_port, check_retention, network
from openmarket_cdk.config.errors import fail
from openmarket_cdk.config.facts import INSTANCE_SHAPES, KUBERNETES_VERSION
from openmarket_cdk.config.kubernetes import (
    KubernetesConfig,
    MonitoringConfig,
    NodeAutoscalerConfig,
    NodeCapacity,
    Resources,
    WorkloadConfig,
)
from openmarket_cdk.config.policy import StagePolicy
from openmarket_cdk.config.quantities import (
    CPU_FORM,
    MEMORY_FORM,
    VOLUME_FORM,
    memory_bytes,
    prometheus_size_bytes,
)

_DURATION = re.compile(r"\d+(ms|s|m|h|d|w|y)")


def validate_kubernetes(k8s: KubernetesConfig, stage: str, policy: StagePolicy) -> None:
    if k8s.version != KUBERNETES_VERSION:
        fail("kubernetes.version", f"{k8s.version!r}: the project pins {KUBERNETES_VERSION}")
    if not 1 <= k8s.node_min_size <= k8s.node_desired_size <= k8s.node_max_size:
        fail("kubernetes.node_desired_size", "need 1 <= min <= desired <= max nodes")
    if policy.production_like and k8s.node_capacity is not NodeCapacity.ON_DEMAND:
        fail("kubernetes.node_capacity", f"{stage} runs on-demand nodes (production-like)")
    _validate_node_density(k8s)
    _validate_node_autoscaler(k8s.node_autoscaler, k8s.node_min_size, k8s.node_max_size)
    if policy.serves_customers and k8s.public_endpoint_cidrs:
        fail("kubernetes.public_endpoint_cidrs", f"{stage}'s API endpoint must stay private")
    for index, cidr in enumerate(k8s.public_endpoint_cidrs):
        net = network(cidr, f"kubernetes.public_endpoint_cidrs[{index}]")
        if net.prefixlen == 0:
            fail(f"kubernetes.public_endpoint_cidrs[{index}]", "0.0.0.0/0 is not a restriction")
    if policy.production_like and not k8s.all_control_plane_logs:
        fail("kubernetes.all_control_plane_logs", f"{stage} must log all five log types")
    check_retention(
        k8s.control_plane_log_retention_days, "kubernetes.control_plane_log_retention_days"
    )
    check_retention(k8s.application_log_retention_days, "kubernetes.application_log_retention_days")
    if not re.fullmatch(r"[\w+=,.@-]{1,64}", k8s.admin_role_name):
        fail("kubernetes.admin_role_name", f"{k8s.admin_role_name!r} is not an IAM role name")
    if k8s.waf_rate_limit_per_5min < 10:
        fail("kubernetes.waf_rate_limit_per_5min", "WAF rate limits start at 10")
    if not DNS_LABEL.fullmatch(k8s.secret_store_name):
        fail("kubernetes.secret_store_name", "must be a DNS label")
    for key, workload in (("backend", k8s.backend), ("frontend", k8s.frontend)):
        _validate_workload(workload, f"kubernetes.{key}")
    if k8s.backend.name == k8s.frontend.name:
        fail("kubernetes.frontend.name", "backend and frontend need different names")
    if k8s.backend.port == k8s.frontend.port:
        fail("kubernetes.frontend.port", "backend and frontend need different ports")
    _validate_monitoring(k8s.monitoring, "kubernetes.monitoring")


def _validate_node_density(k8s: KubernetesConfig) -> None:
    shape = INSTANCE_SHAPES.get(k8s.node_instance_type)
    for index, alternative in enumerate(k8s.spot_alternative_instance_types):
        path = f"kubernetes.spot_alternative_instance_types[{index}]"
        if k8s.node_capacity is not NodeCapacity.SPOT:
            fail(path, "alternative instance types are for Spot node groups")
        if INSTANCE_SHAPES.get(alternative) != shape:
            fail(path, f"{alternative!r} must have {k8s.node_instance_type}'s shape (capacity)")
    if shape is None:
        fail(
            "kubernetes.node_instance_type",
            f"{k8s.node_instance_type!r} has no InstanceShape (config/facts.py INSTANCE_SHAPES)",
        )
    # Without prefix delegation every pod needs one secondary address: ENIs x (IPs - 1) + 2.
    # With it, EKS recommends 110 below 30 vCPUs and 250 above (max-pods-calculator.sh).
    ceiling = (
        (110 if shape.vcpus < 30 else 250)
        if k8s.prefix_delegation
        else shape.enis * (shape.ipv4_per_eni - 1) + 2
    )
    if k8s.prefix_delegation and not shape.nitro:
        fail("kubernetes.prefix_delegation", "prefix delegation needs a Nitro instance type")
    if not 10 <= k8s.max_pods_per_node <= ceiling:
        fail(
            "kubernetes.max_pods_per_node",
            f"{k8s.max_pods_per_node} is outside 10..{ceiling} for {k8s.node_instance_type}"
            f" (prefix delegation {'on' if k8s.prefix_delegation else 'off'})",
        )
    names = [component.name for component in k8s.system_components]
    if len(set(names)) != len(names):
        fail("kubernetes.system_components", "component names must be unique")
    for index, component in enumerate(k8s.system_components):
        path = f"kubernetes.system_components[{index}]"
        if component.replicas is not None and component.replicas < 1:
            fail(f"{path}.replicas", "a Deployment runs at least one replica (None: DaemonSet)")
        if not re.fullmatch(r"\d+m", component.cpu_request):
            fail(f"{path}.cpu_request", "CPU in millicores ('100m')")
        if not re.fullmatch(r"\d+Mi", component.memory_request):
            fail(f"{path}.memory_request", "memory in Mi ('70Mi')")


def _validate_node_autoscaler(
    autoscaler: NodeAutoscalerConfig, node_min: int, node_max: int
) -> None:
    path = "kubernetes.node_autoscaler"
    if not re.fullmatch(r"\d+\.\d+\.\d+", autoscaler.chart_version):
        fail(f"{path}.chart_version", f"{autoscaler.chart_version!r} is not a chart version")
    # The autoscaler's minor is the cluster's: it simulates the scheduler of that release.
    if not autoscaler.image_tag.startswith(f"v{KUBERNETES_VERSION}."):
        fail(f"{path}.image_tag", f"must be a v{KUBERNETES_VERSION}.x release")
    if not 1 <= autoscaler.replicas <= 2:
        fail(f"{path}.replicas", "1 (or 2 with leader election) replicas")
    if autoscaler.expander not in ("least-waste", "random", "most-pods", "priority"):
        fail(f"{path}.expander", f"{autoscaler.expander!r} is not an expander this stack uses")
    if not 0 < autoscaler.scale_down_utilization_threshold < 1:
        fail(f"{path}.scale_down_utilization_threshold", "a fraction in (0, 1)")
    if autoscaler.scale_down_unneeded_minutes < 1:
        fail(f"{path}.scale_down_unneeded_minutes", "at least a minute")
    if node_max <= node_min:
        fail("kubernetes.node_max_size", "must exceed node_min_size: the autoscaler needs room")
    _validate_resources(autoscaler.resources, f"{path}.resources")


def _validate_workload(workload: WorkloadConfig, path: str) -> None:
    if not DNS_LABEL.fullmatch(workload.name):
        fail(f"{path}.name", f"{workload.name!r} is not a DNS label")
    check_port(workload.port, f"{path}.port")
    if not workload.health_path.startswith("/"):
        fail(f"{path}.health_path", "must start with '/'")
    if not re.fullmatch(r"[a-z0-9]+([._-][a-z0-9]+)*", workload.image_repository):
        fail(f"{path}.image_repository", f"{workload.image_repository!r} is not a repository")
    if not 1 <= workload.hpa_min_replicas <= workload.hpa_max_replicas:
        fail(f"{path}.hpa_min_replicas", "need 1 <= min <= max replicas")
    if not workload.hpa_min_replicas <= workload.replicas <= workload.hpa_max_replicas:
        fail(f"{path}.replicas", "must lie within the HPA range")
    if not 1 <= workload.hpa_cpu_utilization_percent <= 100:
        fail(f"{path}.hpa_cpu_utilization_percent", "must be 1..100")
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", workload.image_tag):
        fail(f"{path}.image_tag", f"{workload.image_tag!r} is not an image tag")
    _validate_resources(workload.resources, f"{path}.resources")


def _validate_resources(resources: Resources, path: str) -> None:
    for quantity in ("cpu_request", "cpu_limit"):
        if not CPU_FORM.fullmatch(getattr(resources, quantity)):
            fail(f"{path}.{quantity}", "CPU as millicores ('250m') or cores ('1')")
    for quantity in ("memory_request", "memory_limit"):
        if not MEMORY_FORM.fullmatch(getattr(resources, quantity)):
            fail(f"{path}.{quantity}", "memory in Mi or Gi ('512Mi')")


def _validate_monitoring(monitoring: MonitoringConfig, path: str) -> None:
    prometheus, alertmanager = monitoring.prometheus, monitoring.alertmanager
    prom = f"{path}.prometheus"
    for name in ("scrape_interval", "evaluation_interval", "retention_time"):
        if not _DURATION.fullmatch(getattr(prometheus, name)):
            fail(f"{prom}.{name}", f"{getattr(prometheus, name)!r} is not a Prometheus duration")
    try:
        retention_bytes = prometheus_size_bytes(prometheus.retention_size)
    except ValueError:
        fail(f"{prom}.retention_size", f"{prometheus.retention_size!r}: expected e.g. 90GB")
    for field_path, size in (
        (f"{prom}.storage_size", prometheus.storage_size),
        (f"{path}.alertmanager.storage_size", alertmanager.storage_size),
    ):
        if not VOLUME_FORM.fullmatch(size):
            fail(field_path, f"{size!r}: expected e.g. 100Gi")
    # Prometheus reads GB as GiB: 90GB on a 100Gi volume leaves 10 GiB for the WAL.
    if retention_bytes >= memory_bytes(prometheus.storage_size):
        fail(f"{prom}.retention_size", "must stay below storage_size")
    if monitoring.namespace == monitoring.agents_namespace:
        fail(f"{path}.agents_namespace", "must differ from namespace (Pod Security levels)")
    for field_path, name in (
        (f"{path}.namespace", monitoring.namespace),
        (f"{path}.agents_namespace", monitoring.agents_namespace),
        (f"{path}.alertmanager.service_account", alertmanager.service_account),
    ):
        if not DNS_LABEL.fullmatch(name):
            fail(field_path, "must be a DNS label")
    for field_path, resources in (
        (f"{prom}.resources", prometheus.resources),
        (f"{path}.alertmanager.resources", alertmanager.resources),
        (f"{path}.grafana.resources", monitoring.grafana.resources),
        (f"{path}.grafana.sidecar_resources", monitoring.grafana.sidecar_resources),
        (f"{path}.node_exporter.resources", monitoring.node_exporter.resources),
        (f"{path}.kube_state_metrics.resources", monitoring.kube_state_metrics.resources),
        (f"{path}.operator", monitoring.operator),
        (f"{path}.config_reloader", monitoring.config_reloader),
        (f"{path}.log_agent", monitoring.log_agent),
    ):
        _validate_resources(resources, field_path)
