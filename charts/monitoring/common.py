"""What every monitoring chart shares: labels, security contexts, pod patches, RBAC shapes.

cdk8s-plus 28 has no field for a few things the monitoring pods need (a projected
service-account token, volumeClaimTemplates, pod-level seccomp): ``PodPatches`` adds them
to the rendered object, the way charts/workload.py does for the apps.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import cdk8s
import cdk8s_plus_28 as kplus
from cdk8s_plus_28 import k8s
from constructs import Construct

from charts.labels import NAME_LABEL, chart_labels, selector_labels
from charts.values import ContainerResources
from charts.workload import container_resources

# The unprivileged user (and group) of the Prometheus project's images ("nobody"); used for
# every monitoring container that needs no host access. >= 10000, so no node user has it.
NOBODY = 65534
COMPONENT_LABEL = "app.kubernetes.io/component"
MONITORING = "monitoring"

# Where client-go, Prometheus and Fluent Bit look for the service-account credentials.
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
KUBE_API_ACCESS_VOLUME = "kube-api-access"
# The kubelet refreshes the projected token well before it expires; readers reload it.
TOKEN_EXPIRATION_SECONDS = 3607

__all__ = [
    "COMPONENT_LABEL",
    "MONITORING",
    "NAME_LABEL",
    "NOBODY",
    "PodPatches",
    "config_checksum",
    "monitoring_labels",
    "pod_labels",
    "resources",
    "restricted_container",
    "restricted_pod",
    "selector_labels",
]


def monitoring_labels(component: str) -> dict[str, str]:
    """Metadata labels of every object of a monitoring chart."""
    return chart_labels(**{COMPONENT_LABEL: MONITORING, NAME_LABEL: component})


def pod_labels(name: str) -> dict[str, str]:
    """Pod template labels: the one selector label plus the component label."""
    return {**selector_labels(name), COMPONENT_LABEL: MONITORING}


def resources(spec: ContainerResources) -> kplus.ContainerResources:
    return container_resources(spec)


def restricted_pod(
    user: int = NOBODY,
    fs_group: int | None = None,
    fs_group_change_policy: kplus.FsGroupChangePolicy | None = None,
) -> kplus.PodSecurityContextProps:
    """Pod Security "restricted": a numeric non-root user; fsGroup only where a volume needs it."""
    return kplus.PodSecurityContextProps(
        ensure_non_root=True,
        user=user,
        group=user,
        fs_group=fs_group,
        fs_group_change_policy=fs_group_change_policy,
    )


def restricted_container(user: int = NOBODY) -> kplus.ContainerSecurityContextProps:
    """The strictest container context: non-root, read-only root, no capability, seccomp."""
    return kplus.ContainerSecurityContextProps(
        ensure_non_root=True,
        user=user,
        group=user,
        read_only_root_filesystem=True,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=kplus.ContainerSecutiryContextCapabilities(drop=[kplus.Capability.ALL]),
        seccomp_profile=kplus.SeccompProfile(type=kplus.SeccompProfileType.RUNTIME_DEFAULT),
    )


def config_checksum(*documents: object) -> str:
    """A hash of the configuration a pod reads at start: as a pod annotation, a change of
    configuration rolls the pods (none of these components reloads it on its own)."""
    digest = hashlib.sha256()
    for document in documents:
        digest.update(json.dumps(document, sort_keys=True).encode())
    return digest.hexdigest()


class PodPatches:
    """JSON patches on one workload's rendered pod template."""

    def __init__(self, workload: kplus.AbstractPod, template: str = "/spec/template") -> None:
        self._workload = workload
        self._object = cdk8s.ApiObject.of(workload)
        self._spec = f"{template}/spec"
        self._template = template

    def common(self, *, fs_group: bool) -> PodPatches:
        self._object.add_json_patch(
            # The pod-level default as well as the per-container one.
            cdk8s.JsonPatch.add(
                f"{self._spec}/securityContext/seccompProfile", {"type": "RuntimeDefault"}
            ),
            # No <SERVICE>_PORT=tcp://… variables for every Service in the namespace.
            cdk8s.JsonPatch.add(f"{self._spec}/enableServiceLinks", False),
        )
        if not fs_group:
            # cdk8s-plus sets it although no fsGroup is set.
            self._object.add_json_patch(
                cdk8s.JsonPatch.remove(f"{self._spec}/securityContext/fsGroupChangePolicy")
            )
        return self

    def annotate(self, annotations: Mapping[str, str]) -> PodPatches:
        self._object.add_json_patch(
            cdk8s.JsonPatch.add(f"{self._template}/metadata/annotations", dict(annotations))
        )
        return self

    def service_account_token(self, containers: Sequence[int]) -> PodPatches:
        """Mount the API credentials explicitly (automountServiceAccountToken stays false):
        a bound, expiring token, the cluster CA and the namespace, only in ``containers``
        (indexes) of the pods that call the Kubernetes API."""
        # Typed structs, not dicts: the k8s classes map their TypeScript field names
        # (downwardApi, Quantity, ...) to JSON after the patches are applied.
        volume = k8s.Volume(
            name=KUBE_API_ACCESS_VOLUME,
            projected=k8s.ProjectedVolumeSource(
                default_mode=0o444,
                sources=[
                    k8s.VolumeProjection(
                        service_account_token=k8s.ServiceAccountTokenProjection(
                            path="token", expiration_seconds=TOKEN_EXPIRATION_SECONDS
                        )
                    ),
                    k8s.VolumeProjection(
                        config_map=k8s.ConfigMapProjection(
                            name="kube-root-ca.crt",
                            items=[k8s.KeyToPath(key="ca.crt", path="ca.crt")],
                        )
                    ),
                    k8s.VolumeProjection(
                        downward_api=k8s.DownwardApiProjection(
                            items=[
                                k8s.DownwardApiVolumeFile(
                                    path="namespace",
                                    field_ref=k8s.ObjectFieldSelector(
                                        api_version="v1", field_path="metadata.namespace"
                                    ),
                                )
                            ]
                        )
                    ),
                ],
            ),
        )
        mount = k8s.VolumeMount(
            name=KUBE_API_ACCESS_VOLUME, mount_path=SERVICE_ACCOUNT_DIR, read_only=True
        )
        # Append to the lists cdk8s-plus renders, or create them where it renders none (it
        # renders the pod's volumes from its own list and its containers' mounts).
        mounted = any(container.mounts for container in self._workload.containers)
        if self._workload.volumes or mounted:
            self.add("/volumes/-", volume)
        else:
            self.add("/volumes", [volume])
        for index in containers:
            if self._workload.containers[index].mounts:
                self.add(f"/containers/{index}/volumeMounts/-", mount)
            else:
                self.add(f"/containers/{index}/volumeMounts", [mount])
        return self

    def add(self, path: str, value: Any) -> PodPatches:
        """Any other field cdk8s-plus lacks, relative to the pod spec. Objects must be typed
        ``k8s`` structs wherever their JSON and TypeScript field names differ."""
        self._object.add_json_patch(cdk8s.JsonPatch.add(f"{self._spec}{path}", value))
        return self

    def add_to_object(self, path: str, value: Any) -> PodPatches:
        """A field of the workload object itself (``/spec/volumeClaimTemplates`` …)."""
        self._object.add_json_patch(cdk8s.JsonPatch.add(path, value))
        return self

    def data_volume(
        self, *, name: str, mount_path: str, storage_class: str, size: str, app: str
    ) -> PodPatches:
        """A StatefulSet's persistent volume (one claim per pod), mounted in container 0."""
        return self.add(
            "/containers/0/volumeMounts/-", k8s.VolumeMount(name=name, mount_path=mount_path)
        ).add_to_object(
            "/spec/volumeClaimTemplates",
            [
                k8s.KubePersistentVolumeClaimProps(
                    metadata=k8s.ObjectMeta(name=name, labels=selector_labels(app)),
                    spec=k8s.PersistentVolumeClaimSpec(
                        access_modes=["ReadWriteOnce"],
                        storage_class_name=storage_class,
                        resources=k8s.ResourceRequirements(
                            requests={"storage": k8s.Quantity.from_string(size)}
                        ),
                    ),
                )
            ],
        )


def service_account(scope: Construct, name: str) -> kplus.ServiceAccount:
    """A ServiceAccount whose token is never mounted unless a pod asks for it explicitly."""
    return kplus.ServiceAccount(
        scope, "service-account", metadata=cdk8s.ApiObjectMetadata(name=name), automount_token=False
    )


def cluster_scoped(obj: cdk8s.ApiObject) -> None:
    """Drop the namespace a namespaced chart gives every object from a cluster-scoped one."""
    if cdk8s.Chart.of(obj).namespace:
        obj.add_json_patch(cdk8s.JsonPatch.remove("/metadata/namespace"))


def cluster_role(
    scope: Construct, id: str, name: str, rules: Sequence[k8s.PolicyRule]
) -> k8s.KubeClusterRole:
    role = k8s.KubeClusterRole(scope, id, metadata=k8s.ObjectMeta(name=name), rules=list(rules))
    cluster_scoped(role)
    return role


def read_rule(
    api_group: str, *resources_: str, verbs: Sequence[str] = ("get", "list", "watch")
) -> k8s.PolicyRule:
    """Read-only access to ``resources_`` of one API group."""
    return k8s.PolicyRule(api_groups=[api_group], resources=list(resources_), verbs=list(verbs))


def bind_cluster_role(
    scope: Construct,
    id: str,
    *,
    role_name: str,
    service_account_name: str,
    namespace: str,
    binding_namespace: str | None = None,
) -> k8s.KubeClusterRoleBinding | k8s.KubeRoleBinding:
    """Bind a ClusterRole to a ServiceAccount: cluster-wide, or in one namespace only."""
    subject = k8s.Subject(kind="ServiceAccount", name=service_account_name, namespace=namespace)
    role_ref = k8s.RoleRef(
        api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role_name
    )
    if binding_namespace is None:
        binding = k8s.KubeClusterRoleBinding(
            scope,
            id,
            metadata=k8s.ObjectMeta(name=role_name),
            role_ref=role_ref,
            subjects=[subject],
        )
        cluster_scoped(binding)
        return binding
    return k8s.KubeRoleBinding(
        scope,
        id,
        metadata=k8s.ObjectMeta(name=role_name, namespace=binding_namespace),
        role_ref=role_ref,
        subjects=[subject],
    )


def cluster_ip_service(
    scope: Construct, name: str, ports: Sequence[tuple[str, int]], id: str = "service"
) -> kplus.Service:
    """A ClusterIP Service selecting the pods of ``name`` (Service port = container port)."""
    service = kplus.Service(
        scope,
        id,
        metadata=cdk8s.ApiObjectMetadata(name=name),
        type=kplus.ServiceType.CLUSTER_IP,
        ports=[
            kplus.ServicePort(
                name=port_name, port=port, target_port=port, protocol=kplus.Protocol.TCP
            )
            for port_name, port in ports
        ],
    )
    for key, value in selector_labels(name).items():
        service.select_label(key, value)
    return service


def governing_service_selector(service: kplus.Service) -> None:
    """A StatefulSet given its Service adds cdk8s-plus's construct-address label to the
    Service's selector. Remove it: the selector must be exactly the pods' name label, as
    the VPC CNI policy agent resolves a ClusterIP only for that (charts/labels.py)."""
    cdk8s.ApiObject.of(service).add_json_patch(
        cdk8s.JsonPatch.remove("/spec/selector/cdk8s.io~1metadata.addr")
    )


def http_probe(path: str, port: int, period_s: int = 10, failures: int = 3) -> kplus.Probe:
    return kplus.Probe.from_http_get(
        path,
        port=port,
        period_seconds=cdk8s.Duration.seconds(period_s),
        timeout_seconds=cdk8s.Duration.seconds(5),
        failure_threshold=failures,
        success_threshold=1,
    )
