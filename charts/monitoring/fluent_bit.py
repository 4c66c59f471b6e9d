"""Fluent Bit (aws-for-fluent-bit): container logs of every node to CloudWatch Logs."""

from __future__ import annotations

from collections.abc import Sequence

import cdk8s
import cdk8s_plus_28 as kplus
from constructs import Construct

from charts.monitoring import common
from charts.monitoring.common import (
    SERVICE_ACCOUNT_DIR,
    PodPatches,
    http_probe,
    monitoring_labels,
    pod_labels,
    selector_labels,
)
from charts.monitoring.prometheus import FLUENT_BIT
from charts.monitoring.values import MonitoringValues

NAME, HTTP_PORT = FLUENT_BIT
# The image reads its configuration from here (its default command).
CONFIG_DIR = "/fluent-bit/etc"
CONFIG_FILE = "fluent-bit.conf"
# On the node, so read positions and buffered chunks survive a pod's replacement.
STATE_DIR = "/var/fluent-bit/state"
LOG_DIR = "/var/log"
CONTAINER_LOGS = "/var/log/containers/*.log"
# The tail input names each record kube.<path with dots>; the kubernetes filter must strip
# exactly this prefix to find <pod>_<namespace>_<container>-<id>.log in the tag.
TAG = "kube.*"
KUBE_TAG_PREFIX = "kube.var.log.containers."

# (section, [(key, value), ...]) in file order: the classic format keeps repeated sections.
Section = tuple[str, list[tuple[str, str]]]

ROOT_SUPPRESSIONS = {
    "checkov.io/skip1": "CKV_K8S_23=Fluent Bit reads the node's container logs, which the "
    "container runtime writes as root with mode 0640, and keeps its read positions in a "
    "root-owned host directory; it runs as UID 0 with no capability at all.",
    "checkov.io/skip2": "CKV_K8S_40=the same: UID 0 owns the log files it reads; every "
    "capability is dropped, the root filesystem is read-only and /var/log is read-only.",
}


def fluent_bit_config(values: MonitoringValues) -> list[Section]:
    """fluent-bit.conf as data: tail (cri) -> kubernetes metadata -> CloudWatch Logs."""
    return [
        (
            "SERVICE",
            [
                ("Flush", "5"),
                ("Grace", "20"),
                ("Daemon", "off"),
                ("Log_Level", "info"),
                ("HTTP_Server", "On"),
                ("HTTP_Listen", "0.0.0.0"),
                ("HTTP_Port", str(HTTP_PORT)),
                ("Health_Check", "On"),
                ("HC_Errors_Count", "5"),
                ("HC_Retry_Failure_Count", "5"),
                ("HC_Period", "60"),
                ("storage.path", f"{STATE_DIR}/flb-storage/"),
                ("storage.sync", "normal"),
                ("storage.backlog.mem_limit", "5M"),
            ],
        ),
        (
            "INPUT",
            [
                ("Name", "tail"),
                ("Tag", TAG),
                ("Path", CONTAINER_LOGS),
                # containerd's CRI log format, with partial lines joined again.
                ("multiline.parser", "cri"),
                ("DB", f"{STATE_DIR}/flb_container.db"),
                ("DB.locking", "true"),
                ("Mem_Buf_Limit", "50MB"),
                ("storage.type", "filesystem"),
                ("Skip_Long_Lines", "On"),
                ("Refresh_Interval", "10"),
                ("Rotate_Wait", "30"),
                ("Read_from_Head", "Off"),
            ],
        ),
        (
            "FILTER",
            [
                ("Name", "kubernetes"),
                ("Match", TAG),
                ("Kube_URL", "https://kubernetes.default.svc:443"),
                ("Kube_CA_File", f"{SERVICE_ACCOUNT_DIR}/ca.crt"),
                ("Kube_Token_File", f"{SERVICE_ACCOUNT_DIR}/token"),
                # The projected token rotates: read it again every 10 minutes.
                ("Kube_Token_TTL", "600"),
                ("Kube_Tag_Prefix", KUBE_TAG_PREFIX),
                ("Merge_Log", "On"),
                ("Merge_Log_Key", "log_processed"),
                ("Keep_Log", "Off"),
                ("K8S-Logging.Parser", "Off"),
                # A pod can opt out with the annotation fluentbit.io/exclude: "true".
                ("K8S-Logging.Exclude", "On"),
                ("Labels", "On"),
                ("Annotations", "Off"),
                ("Buffer_Size", "0"),
            ],
        ),
        (
            "OUTPUT",
            [
                ("Name", "cloudwatch_logs"),
                ("Match", TAG),
                ("region", values.region),
                ("log_group_name", values.log_group_name),
                # One stream per container; the prefix is only used if metadata is missing.
                (
                    "log_stream_template",
                    "$kubernetes['namespace_name'].$kubernetes['pod_name']"
                    ".$kubernetes['container_name']",
                ),
                ("log_stream_prefix", "${NODE_NAME}."),
                # The CDK stack creates the group, with its retention; no CreateLogGroup.
                ("auto_create_group", "Off"),
                ("workers", "1"),
                ("Retry_Limit", "10"),
            ],
        ),
    ]


def render_classic(sections: Sequence[Section]) -> str:
    """Fluent Bit's classic configuration format."""
    lines: list[str] = []
    for name, entries in sections:
        width = max(len(key) for key, _ in entries)
        lines.append(f"[{name}]")
        lines += [f"    {key.ljust(width)} {value}" for key, value in entries]
        lines.append("")
    return "\n".join(lines)


class FluentBitChart(cdk8s.Chart):
    """Deploys Fluent Bit on every node, for whoever reads the application logs.

    Tails every container's log (``cri`` multiline parser), adds the pod's Kubernetes
    metadata, and ships each container to its own stream in the stage's CloudWatch Logs
    group. AWS credentials come from EKS Pod Identity (the cluster stack associates the
    ``fluent-bit`` ServiceAccount with a role limited to that log group).

    Host access: /var/log read-only, and /var/fluent-bit/state for read positions and
    buffered chunks. Runs as root (the log files are root's, mode 0640) with every
    capability dropped and a read-only root filesystem, in the agents namespace.
    """

    def __init__(self, scope: Construct, id: str, values: MonitoringValues) -> None:
        super().__init__(
            scope,
            id,
            namespace=values.agents_namespace,
            labels=monitoring_labels(NAME),
            disable_resource_name_hashes=True,
        )
        service_account_name = values.fluent_bit_service_account
        self.service_account = common.service_account(self, service_account_name)
        # The kubernetes filter reads one pod at a time (GET .../pods/<name>).
        common.cluster_role(
            self, "cluster-role", NAME, [common.read_rule("", "pods", verbs=("get",))]
        )
        common.bind_cluster_role(
            self,
            "cluster-role-binding",
            role_name=NAME,
            service_account_name=service_account_name,
            namespace=values.agents_namespace,
        )
        config = fluent_bit_config(values)
        self.config_map = kplus.ConfigMap(
            self,
            "config",
            metadata=cdk8s.ApiObjectMetadata(name=f"{NAME}-config"),
            data={CONFIG_FILE: render_classic(config)},
        )
        self.service = common.cluster_ip_service(self, NAME, [("http", HTTP_PORT)])
        daemon_set = kplus.DaemonSet(
            self,
            "daemon-set",
            metadata=cdk8s.ApiObjectMetadata(name=NAME, annotations=ROOT_SUPPRESSIONS),
            pod_metadata=cdk8s.ApiObjectMetadata(labels=pod_labels(NAME)),
            select=False,
            service_account=self.service_account,
            automount_service_account_token=False,
            termination_grace_period=cdk8s.Duration.seconds(30),
            security_context=kplus.PodSecurityContextProps(ensure_non_root=False, user=0, group=0),
        )
        daemon_set.select(kplus.LabelSelector.of(labels=selector_labels(NAME)))
        logs = kplus.Volume.from_host_path(
            self, "host-logs", "var-log", path=LOG_DIR, type=kplus.HostPathVolumeType.DIRECTORY
        )
        state = kplus.Volume.from_host_path(
            self,
            "host-state",
            "state",
            path=STATE_DIR,
            type=kplus.HostPathVolumeType.DIRECTORY_OR_CREATE,
        )
        config_volume = kplus.Volume.from_config_map(
            self, "config-volume", self.config_map, name="config"
        )
        tmp = kplus.Volume.from_empty_dir(self, "tmp", "tmp", size_limit=cdk8s.Size.mebibytes(64))
        daemon_set.add_container(
            name=NAME,
            image=values.images.fluent_bit,
            env_variables={
                "AWS_REGION": kplus.EnvValue.from_value(values.region),
                "NODE_NAME": kplus.EnvValue.from_field_ref(kplus.EnvFieldPaths.NODE_NAME),
            },
            ports=[kplus.ContainerPort(number=HTTP_PORT, name="http")],
            resources=common.resources(values.resources.fluent_bit),
            security_context=kplus.ContainerSecurityContextProps(
                ensure_non_root=False,
                user=0,
                group=0,
                read_only_root_filesystem=True,
                allow_privilege_escalation=False,
                privileged=False,
                capabilities=kplus.ContainerSecutiryContextCapabilities(
                    drop=[kplus.Capability.ALL]
                ),
                seccomp_profile=kplus.SeccompProfile(type=kplus.SeccompProfileType.RUNTIME_DEFAULT),
            ),
            readiness=http_probe("/", HTTP_PORT),
            # Unhealthy once outputs keep failing (HC_*): a restart starts a fresh
            # connection; buffered chunks wait on the node's disk meanwhile.
            liveness=http_probe("/api/v1/health", HTTP_PORT, period_s=30, failures=5),
            volume_mounts=[
                kplus.VolumeMount(path=LOG_DIR, volume=logs, read_only=True),
                kplus.VolumeMount(path=STATE_DIR, volume=state),
                kplus.VolumeMount(path=CONFIG_DIR, volume=config_volume, read_only=True),
                kplus.VolumeMount(path="/tmp", volume=tmp),
            ],
        )
        (
            PodPatches(daemon_set)
            .common(fs_group=False)
            .annotate({"checksum/config": common.config_checksum(config)})
            .service_account_token([0])
            .add("/tolerations", [{"operator": "Exists"}])
            .add("/priorityClassName", "system-node-critical")
        )
        self.daemon_set = daemon_set
