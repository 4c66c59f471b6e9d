"""The metric exporters: kube-state-metrics (a Deployment) and node-exporter (a DaemonSet)."""

from __future__ import annotations

import cdk8s
import cdk8s_plus_28 as kplus
from constructs import Construct

from charts.monitoring import common
from charts.monitoring.common import (
    NOBODY,
    PodPatches,
    http_probe,
    monitoring_labels,
    pod_labels,
    restricted_container,
    restricted_pod,
    selector_labels,
)
from charts.monitoring.prometheus import KUBE_STATE_METRICS, NODE_EXPORTER_PORT
from charts.monitoring.values import MonitoringValues

KSM_NAME, KSM_PORT = KUBE_STATE_METRICS
KSM_TELEMETRY_PORT = 8081
# What kube-state-metrics watches, and so all it may read: the objects the rules and the
# dashboards use. Not secrets or configmaps (their metadata is nobody's business here).
KSM_RESOURCES: dict[str, tuple[str, ...]] = {
    "": ("nodes", "pods", "namespaces", "services", "persistentvolumeclaims", "persistentvolumes"),
    "apps": ("deployments", "daemonsets", "statefulsets", "replicasets"),
    "batch": ("jobs", "cronjobs"),
    "autoscaling": ("horizontalpodautoscalers",),
    "policy": ("poddisruptionbudgets",),
}

NODE_EXPORTER = "node-exporter"
# Filesystems and interfaces of the container runtime and the VPC CNI, not of the node.
MOUNT_POINTS_EXCLUDE = (
    "^/(dev|proc|sys|run/containerd/.+|var/lib/containerd/.+|var/lib/kubelet/.+)($|/)"
)
NETDEV_EXCLUDE = "^(lo|veth.*|eni.*|vlan.*)$"

# checkov's in-manifest suppression: the check and why it does not apply to this object.
HOST_NETWORK_SUPPRESSION = {
    "checkov.io/skip1": "CKV_K8S_19=node-exporter reports the node's own network interfaces, "
    "which only the host network namespace shows; it serves nothing else there."
}


class KubeStateMetricsChart(cdk8s.Chart):
    """Deploys kube-state-metrics, for the rules and dashboards that count Kubernetes
    objects (node readiness, crash loops, replicas, HPAs, volumes).

    Read-only (list/watch) on exactly the kinds it is told to export (``KSM_RESOURCES``).
    """

    def __init__(self, scope: Construct, id: str, values: MonitoringValues) -> None:
        super().__init__(
            scope,
            id,
            namespace=values.namespace,
            labels=monitoring_labels(KSM_NAME),
            disable_resource_name_hashes=True,
        )
        self.service_account = common.service_account(self, KSM_NAME)
        common.cluster_role(
            self,
            "cluster-role",
            KSM_NAME,
            [
                common.read_rule(group, *kinds, verbs=("list", "watch"))
                for group, kinds in KSM_RESOURCES.items()
            ],
        )
        common.bind_cluster_role(
            self,
            "cluster-role-binding",
            role_name=KSM_NAME,
            service_account_name=KSM_NAME,
            namespace=values.namespace,
        )
        self.service = common.cluster_ip_service(
            self, KSM_NAME, [("http-metrics", KSM_PORT), ("telemetry", KSM_TELEMETRY_PORT)]
        )
        deployment = kplus.Deployment(
            self,
            "deployment",
            metadata=cdk8s.ApiObjectMetadata(name=KSM_NAME),
            pod_metadata=cdk8s.ApiObjectMetadata(labels=pod_labels(KSM_NAME)),
            select=False,
            replicas=1,
            service_account=self.service_account,
            automount_service_account_token=False,
            security_context=restricted_pod(fs_group=NOBODY),
        )
        deployment.select(kplus.LabelSelector.of(labels=selector_labels(KSM_NAME)))
        kinds = sorted(kind for group in KSM_RESOURCES.values() for kind in group)
        deployment.add_container(
            name=KSM_NAME,
            image=values.images.kube_state_metrics,
            args=[
                f"--port={KSM_PORT}",
                f"--telemetry-port={KSM_TELEMETRY_PORT}",
                f"--resources={','.join(kinds)}",
            ],
            ports=[
                kplus.ContainerPort(number=KSM_PORT, name="http-metrics"),
                kplus.ContainerPort(number=KSM_TELEMETRY_PORT, name="telemetry"),
            ],
            resources=common.resources(values.resources.kube_state_metrics),
            security_context=restricted_container(),
            liveness=http_probe("/livez", KSM_PORT),
            readiness=http_probe("/readyz", KSM_TELEMETRY_PORT),
        )
        PodPatches(deployment).common(fs_group=True).service_account_token([0])
        self.deployment = deployment


class NodeExporterChart(cdk8s.Chart):
    """Deploys node-exporter on every node, for the node rules and dashboards.

    The one monitoring pod on the host network (its interface counters are the node's),
    with the node's /proc, /sys and / mounted read-only; it listens on the node's own
    address only. Unprivileged user, no capability, read-only root filesystem, no API
    token. Lives in the agents namespace, whose Pod Security level allows host access.
    """

    def __init__(self, scope: Construct, id: str, values: MonitoringValues) -> None:
        super().__init__(
            scope,
            id,
            namespace=values.agents_namespace,
            labels=monitoring_labels(NODE_EXPORTER),
            disable_resource_name_hashes=True,
        )
        self.service_account = common.service_account(self, NODE_EXPORTER)
        daemon_set = kplus.DaemonSet(
            self,
            "daemon-set",
            metadata=cdk8s.ApiObjectMetadata(
                name=NODE_EXPORTER, annotations=HOST_NETWORK_SUPPRESSION
            ),
            pod_metadata=cdk8s.ApiObjectMetadata(labels=pod_labels(NODE_EXPORTER)),
            select=False,
            service_account=self.service_account,
            automount_service_account_token=False,
            host_network=True,
            security_context=restricted_pod(),
        )
        daemon_set.select(kplus.LabelSelector.of(labels=selector_labels(NODE_EXPORTER)))
        host = {
            "proc": ("/proc", "/host/proc"),
            "sys": ("/sys", "/host/sys"),
            "root": ("/", "/host/root"),
        }
        mounts = [
            kplus.VolumeMount(
                path=target,
                volume=kplus.Volume.from_host_path(
                    self, f"host-{name}", name, path=source, type=kplus.HostPathVolumeType.DIRECTORY
                ),
                read_only=True,
                # Filesystems the node mounts later (volumes) become visible too.
                propagation=kplus.MountPropagation.HOST_TO_CONTAINER if name == "root" else None,
            )
            for name, (source, target) in host.items()
        ]
        daemon_set.add_container(
            name=NODE_EXPORTER,
            image=values.images.node_exporter,
            args=[
                "--path.procfs=/host/proc",
                "--path.sysfs=/host/sys",
                "--path.rootfs=/host/root",
                "--path.udev.data=/host/root/run/udev/data",
                # The node's address only, not every interface of the host.
                f"--web.listen-address=$(HOST_IP):{NODE_EXPORTER_PORT}",
                f"--collector.filesystem.mount-points-exclude={MOUNT_POINTS_EXCLUDE}",
                f"--collector.netdev.device-exclude={NETDEV_EXCLUDE}",
                f"--collector.netclass.ignored-devices={NETDEV_EXCLUDE}",
            ],
            env_variables={"HOST_IP": kplus.EnvValue.from_field_ref(kplus.EnvFieldPaths.NODE_IP)},
            ports=[kplus.ContainerPort(number=NODE_EXPORTER_PORT, name="metrics")],
            resources=common.resources(values.resources.node_exporter),
            security_context=restricted_container(),
            liveness=http_probe("/", NODE_EXPORTER_PORT),
            readiness=http_probe("/", NODE_EXPORTER_PORT),
            volume_mounts=mounts,
        )
        (
            PodPatches(daemon_set)
            .common(fs_group=False)
            # On every node, whatever its taints, and evicted last.
            .add("/tolerations", [{"operator": "Exists"}])
            .add("/priorityClassName", "system-node-critical")
            .add("/dnsPolicy", "ClusterFirstWithHostNet")
        )
        self.daemon_set = daemon_set
