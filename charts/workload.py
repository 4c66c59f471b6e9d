"""A web workload on EKS: the shape the backend and the frontend share.

``WebWorkload`` is the construct (ServiceAccount, ConfigMap, Deployment, ClusterIP Service,
HorizontalPodAutoscaler, PodDisruptionBudget); ``WebWorkloadChart`` puts one in a chart of
its own. backend.py and frontend.py are thin wrappers that only name what they deploy.
"""

from __future__ import annotations

from typing import Any

import cdk8s
import cdk8s_plus_28 as kplus
from cdk8s_plus_28 import k8s
from constructs import Construct

from charts.alb import target_group_annotations
from charts.labels import PART_OF, PART_OF_LABEL, chart_labels, selector_labels
from charts.values import WorkloadValues
from openmarket_cdk.config import Resources
from openmarket_cdk.config.quantities import (
    CPU_FORM,
    MEMORY_FORM,
    cpu_millicores,
    memory_mebibytes,
)

# The containers run as this numeric, unprivileged user and group (>= 10000, so it matches
# no user of the node). The images must not depend on their own USER line: files readable
# by any user, writes only to /tmp.
RUN_AS_USER = 10001
RUN_AS_GROUP = 10001

# Writable scratch space on a read-only root filesystem.
TMP_MOUNT_PATH = "/tmp"
TMP_SIZE_LIMIT_MIB = 512

# Probe timings. Startup allows 30 x 5 s = 150 s to boot; after that readiness takes a pod
# out of the Service after 3 x 10 s and liveness restarts it after 3 x 20 s.
STARTUP_PERIOD_S, STARTUP_FAILURES = 5, 30
READINESS_PERIOD_S, READINESS_FAILURES = 10, 3
LIVENESS_PERIOD_S, LIVENESS_FAILURES = 20, 3
PROBE_TIMEOUT_S = 3

# The name of the container and Service port (Prometheus scrapes the backend through it).
SERVICE_PORT_NAME = "http"

ZONE_TOPOLOGY_KEY = "topology.kubernetes.io/zone"
HOSTNAME_TOPOLOGY_KEY = "kubernetes.io/hostname"


def cpu(quantity: str) -> kplus.Cpu:
    """``250m`` or ``1`` as a cdk8s-plus CPU quantity, in the unit it was given."""
    if not CPU_FORM.fullmatch(quantity):
        raise ValueError(f"CPU quantity {quantity!r}: expected millicores (250m) or cores (1)")
    millicores = cpu_millicores(quantity)
    if quantity.endswith("m"):
        return kplus.Cpu.millis(millicores)
    return kplus.Cpu.units(millicores / 1000)


def memory(quantity: str) -> cdk8s.Size:
    """``512Mi`` or ``2Gi`` as a cdk8s size (rendered in Mi)."""
    if not MEMORY_FORM.fullmatch(quantity):
        raise ValueError(f"memory quantity {quantity!r}: expected Mi or Gi (512Mi, 2Gi)")
    return cdk8s.Size.mebibytes(memory_mebibytes(quantity))


def container_resources(resources: Resources) -> kplus.ContainerResources:
    return kplus.ContainerResources(
        cpu=kplus.CpuResources(request=cpu(resources.cpu_request), limit=cpu(resources.cpu_limit)),
        memory=kplus.MemoryResources(
            request=memory(resources.memory_request), limit=memory(resources.memory_limit)
        ),
    )


class WebWorkload(Construct):
    """One HTTP workload: pods behind a ClusterIP Service, autoscaled on CPU.

    - ServiceAccount ``values.service_account_name`` with no API token mounted: the apps never
      call the Kubernetes API, and EKS Pod Identity injects its own projected token for the
      AWS SDK, independent of ``automountServiceAccountToken``.
    - ConfigMap ``<name>-config`` from ``values.config``, loaded as environment variables;
      ``values.secret_env`` come from Secrets (synced by External Secrets) by reference only.
    - Deployment ``<name>``: restricted securityContext, read-only root filesystem with an
      emptyDir at /tmp, startup/readiness/liveness probes on ``health_path``, spread over
      zones and nodes. It has no ``spec.replicas``: the HPA owns the replica count, and a
      fixed count would reset it on every apply.
    - Service ``<name>`` (ClusterIP, port = container port), annotated as an ALB target
      group that health-checks ``health_path``.
    - HPA (autoscaling/v2) on CPU utilisation; PDB allowing one voluntary eviction at a time.
    """

    def __init__(self, scope: Construct, id: str, values: WorkloadValues) -> None:
        super().__init__(scope, id)
        self.values = values
        selector = selector_labels(values.name)

        self.service_account = kplus.ServiceAccount(
            self,
            "service-account",
            metadata=cdk8s.ApiObjectMetadata(name=values.service_account_name),
            automount_token=False,
        )
        self.config_map = kplus.ConfigMap(
            self,
            "config",
            metadata=cdk8s.ApiObjectMetadata(name=f"{values.name}-config"),
            data=dict(sorted(values.config.items())),
        )
        self.deployment = self._deployment(values, selector)
        self.service = self._service(values, selector)
        self.autoscaler = kplus.HorizontalPodAutoscaler(
            self,
            "autoscaler",
            metadata=cdk8s.ApiObjectMetadata(name=values.name),
            target=self.deployment,
            min_replicas=values.hpa_min_replicas,
            max_replicas=values.hpa_max_replicas,
            metrics=[
                kplus.Metric.resource_cpu(
                    kplus.MetricTarget.average_utilization(values.hpa_cpu_utilization_percent)
                )
            ],
        )
        self.disruption_budget = k8s.KubePodDisruptionBudget(
            self,
            "disruption-budget",
            metadata=k8s.ObjectMeta(name=values.name),
            spec=k8s.PodDisruptionBudgetSpec(
                max_unavailable=k8s.IntOrString.from_number(1),
                selector=k8s.LabelSelector(match_labels=selector),
                # A crash-looping pod must not block a node drain.
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
        )

    def _deployment(self, values: WorkloadValues, selector: dict[str, str]) -> kplus.Deployment:
        deployment = kplus.Deployment(
            self,
            "deployment",
            metadata=cdk8s.ApiObjectMetadata(name=values.name),
            pod_metadata=cdk8s.ApiObjectMetadata(labels={**selector, PART_OF_LABEL: PART_OF}),
            # Select by our own stable label, not cdk8s-plus's construct-path label.
            select=False,
            service_account=self.service_account,
            automount_service_account_token=False,
            security_context=kplus.PodSecurityContextProps(
                ensure_non_root=True, user=RUN_AS_USER, group=RUN_AS_GROUP
            ),
            strategy=kplus.DeploymentStrategy.rolling_update(
                max_surge=kplus.PercentOrAbsolute.percent(25),
                max_unavailable=kplus.PercentOrAbsolute.absolute(0),
            ),
        )
        deployment.select(kplus.LabelSelector.of(labels=selector))
        tmp = kplus.Volume.from_empty_dir(
            self, "tmp", "tmp", size_limit=cdk8s.Size.mebibytes(TMP_SIZE_LIMIT_MIB)
        )
        deployment.add_container(
            name=values.name,
            image=values.image,
            ports=[kplus.ContainerPort(number=values.port, name=SERVICE_PORT_NAME)],
            resources=container_resources(values.resources),
            env_from=[kplus.Env.from_config_map(self.config_map)],
            env_variables={
                env.env_name: kplus.EnvValue.from_secret_value(
                    kplus.SecretValue(
                        secret=kplus.Secret.from_secret_name(
                            self, f"secret-{env.env_name}", env.secret_name
                        ),
                        key=env.key,
                    ),
                    optional=False,
                )
                for env in values.secret_env
            },
            startup=self._probe(values, STARTUP_PERIOD_S, STARTUP_FAILURES),
            readiness=self._probe(values, READINESS_PERIOD_S, READINESS_FAILURES),
            liveness=self._probe(values, LIVENESS_PERIOD_S, LIVENESS_FAILURES),
            security_context=kplus.ContainerSecurityContextProps(
                ensure_non_root=True,
                user=RUN_AS_USER,
                group=RUN_AS_GROUP,
                read_only_root_filesystem=True,
                allow_privilege_escalation=False,
                privileged=False,
                capabilities=kplus.ContainerSecutiryContextCapabilities(
                    drop=[kplus.Capability.ALL]
                ),
                seccomp_profile=kplus.SeccompProfile(type=kplus.SeccompProfileType.RUNTIME_DEFAULT),
            ),
            volume_mounts=[kplus.VolumeMount(path=TMP_MOUNT_PATH, volume=tmp)],
        )
        # What cdk8s-plus 28 cannot express, added to the rendered object:
        pod_spec = "/spec/template/spec"
        cdk8s.ApiObject.of(deployment).add_json_patch(
            # Even spread over the two AZs (hard) and over nodes (best effort). matchLabelKeys
            # scopes the count to one ReplicaSet, so a rollout is not skewed by old pods.
            cdk8s.JsonPatch.add(
                f"{pod_spec}/topologySpreadConstraints",
                [
                    _spread(ZONE_TOPOLOGY_KEY, "DoNotSchedule", selector),
                    _spread(HOSTNAME_TOPOLOGY_KEY, "ScheduleAnyway", selector),
                ],
            ),
            # The pod-level default as well as the per-container one.
            cdk8s.JsonPatch.add(
                f"{pod_spec}/securityContext/seccompProfile", {"type": "RuntimeDefault"}
            ),
            # No <SERVICE>_PORT=tcp://… variables for every Service in the namespace.
            cdk8s.JsonPatch.add(f"{pod_spec}/enableServiceLinks", False),
            # cdk8s-plus sets it although no fsGroup is set (no volume needs one).
            cdk8s.JsonPatch.remove(f"{pod_spec}/securityContext/fsGroupChangePolicy"),
        )
        return deployment

    @staticmethod
    def _probe(values: WorkloadValues, period_s: int, failures: int) -> kplus.Probe:
        return kplus.Probe.from_http_get(
            values.health_path,
            port=values.port,
            period_seconds=cdk8s.Duration.seconds(period_s),
            timeout_seconds=cdk8s.Duration.seconds(PROBE_TIMEOUT_S),
            failure_threshold=failures,
            success_threshold=1,
        )

    def _service(self, values: WorkloadValues, selector: dict[str, str]) -> kplus.Service:
        service = kplus.Service(
            self,
            "service",
            metadata=cdk8s.ApiObjectMetadata(
                name=values.name, annotations=target_group_annotations(values.health_path)
            ),
            type=kplus.ServiceType.CLUSTER_IP,
            # Service port = container port: the VPC CNI policy controller only resolves a
            # ClusterIP for an egress rule when the two match.
            ports=[
                kplus.ServicePort(
                    name=SERVICE_PORT_NAME,
                    port=values.port,
                    target_port=values.port,
                    protocol=kplus.Protocol.TCP,
                )
            ],
        )
        for key, value in selector.items():
            service.select_label(key, value)
        return service


def _spread(topology_key: str, when_unsatisfiable: str, selector: dict[str, str]) -> Any:
    return {
        "maxSkew": 1,
        "topologyKey": topology_key,
        "whenUnsatisfiable": when_unsatisfiable,
        "labelSelector": {"matchLabels": selector},
        "matchLabelKeys": ["pod-template-hash"],
    }


class WebWorkloadChart(cdk8s.Chart):
    """One web workload in its own chart and namespace (see ``WebWorkload``)."""

    def __init__(self, scope: Construct, id: str, values: WorkloadValues) -> None:
        super().__init__(
            scope,
            id,
            namespace=values.namespace,
            labels=chart_labels(**selector_labels(values.name)),
            disable_resource_name_hashes=True,
        )
        self.workload = WebWorkload(self, values.name, values)
