"""Prometheus: its configuration (as data) and the chart that runs it."""

from __future__ import annotations

from typing import Any

import cdk8s
import cdk8s_plus_28 as kplus
import yaml
from cdk8s_plus_28 import k8s
from constructs import Construct

from charts.monitoring import common
from charts.monitoring.common import (
    NOBODY,
    SERVICE_ACCOUNT_DIR,
    PodPatches,
    http_probe,
    monitoring_labels,
    pod_labels,
    restricted_container,
    selector_labels,
)
from charts.monitoring.rules import rules_document
from charts.monitoring.values import MonitoringValues

NAME = "prometheus"
PORT = 9090
CONFIG_DIR = "/etc/prometheus"
CONFIG_FILE = "prometheus.yml"
RULES_DIR = "/etc/prometheus/rules"
RULES_FILE = "openmarket.rules.yaml"
DATA_DIR = "/prometheus"
DATA_VOLUME = "data"
TOKEN_FILE = f"{SERVICE_ACCOUNT_DIR}/token"
CA_FILE = f"{SERVICE_ACCOUNT_DIR}/ca.crt"

# Other components' ports (their charts import these).
ALERTMANAGER = ("alertmanager", 9093)
GRAFANA = ("grafana", 3000)
KUBE_STATE_METRICS = ("kube-state-metrics", 8080)
NODE_EXPORTER_PORT = 9100
KUBELET_PORT = 10250
FLUENT_BIT = ("fluent-bit", 2020)
FLUENT_BIT_METRICS_PATH = "/api/v2/metrics/prometheus"

# cAdvisor series nobody looks at, dropped at scrape time (as kube-prometheus does).
CADVISOR_DROPPED = (
    "container_(network_tcp_usage_total|network_udp_usage_total|tasks_state"
    "|cpu_load_average_10s|memory_failures_total|blkio_device_usage_total)"
)


def _endpoint_slice_job(
    job: str,
    namespace: str,
    service: str,
    port_name: str,
    *,
    metrics_path: str = "/metrics",
    honor_labels: bool = False,
) -> dict[str, Any]:
    """Scrape the pods behind one Service port, found through its EndpointSlices."""
    config: dict[str, Any] = {"job_name": job}
    config["metrics_path"] = metrics_path
    config["kubernetes_sd_configs"] = [
        {"role": "endpointslice", "namespaces": {"names": [namespace]}}
    ]
    keep = {
        "source_labels": [
            "__meta_kubernetes_service_name",
            "__meta_kubernetes_endpointslice_port_name",
        ],
        "regex": f"{service};{port_name}",
        "action": "keep",
    }
    if honor_labels:
        # kube-state-metrics describes other objects: their namespace/pod labels are the
        # series' own, and the exporter's own pod must not be attached to, say, a node.
        config["honor_labels"] = True
        config["relabel_configs"] = [keep]
        return config
    config["relabel_configs"] = [
        keep,
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]
    return config


def _node_job(job: str) -> dict[str, Any]:
    """One target per node; ``instance`` and ``node`` carry the node name."""
    return {
        "job_name": job,
        "kubernetes_sd_configs": [{"role": "node"}],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "node"},
            {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "instance"},
        ],
    }


def _kubelet_job(job: str, metrics_path: str) -> dict[str, Any]:
    """The kubelet's own port (https :10250), authenticated with the service-account token
    (RBAC: nodes/metrics) and verified against the cluster CA, like kube-prometheus: both
    jobs are labelled job="kubelet", told apart by ``metrics_path``, which the upstream
    rules select on."""
    config = _node_job(job)
    config.update(
        {
            "scheme": "https",
            "metrics_path": metrics_path,
            "authorization": {"credentials_file": TOKEN_FILE},
            "tls_config": {"ca_file": CA_FILE},
        }
    )
    config["relabel_configs"] += [
        {"target_label": "job", "replacement": "kubelet"},
        {"target_label": "metrics_path", "replacement": metrics_path},
    ]
    return config


def prometheus_config(values: MonitoringValues) -> dict[str, Any]:
    """prometheus.yml as data."""
    namespace = values.namespace
    node_exporter = _node_job("node-exporter")
    node_exporter["relabel_configs"].append(
        # node-exporter listens on the host network: the node's address.
        {
            "source_labels": ["__meta_kubernetes_node_address_InternalIP"],
            "target_label": "__address__",
            "replacement": f"$1:{NODE_EXPORTER_PORT}",
        }
    )
    cadvisor = _kubelet_job("cadvisor", "/metrics/cadvisor")
    cadvisor["metric_relabel_configs"] = [
        {"source_labels": ["__name__"], "regex": CADVISOR_DROPPED, "action": "drop"}
    ]
    fluent_bit = _endpoint_slice_job(
        "fluent-bit",
        values.agents_namespace,
        FLUENT_BIT[0],
        "http",
        metrics_path=FLUENT_BIT_METRICS_PATH,
    )
    backend = values.backend
    return {
        "global": {
            "scrape_interval": values.scrape_interval,
            "scrape_timeout": "10s",
            "evaluation_interval": values.evaluation_interval,
            "external_labels": {"cluster": values.cluster_name, "stage": values.stage},
        },
        "rule_files": [f"{RULES_DIR}/*.yaml"],
        "alerting": {
            "alertmanagers": [
                {
                    "static_configs": [
                        {"targets": [f"{ALERTMANAGER[0]}.{namespace}.svc:{ALERTMANAGER[1]}"]}
                    ]
                }
            ]
        },
        "scrape_configs": [
            {
                "job_name": "prometheus",
                "static_configs": [
                    {
                        "targets": [f"localhost:{PORT}"],
                        "labels": {"namespace": namespace, "service": NAME},
                    }
                ],
            },
            _endpoint_slice_job("alertmanager", namespace, ALERTMANAGER[0], "http"),
            _endpoint_slice_job("grafana", namespace, GRAFANA[0], "http"),
            _endpoint_slice_job(
                "kube-state-metrics",
                namespace,
                KUBE_STATE_METRICS[0],
                "http-metrics",
                honor_labels=True,
            ),
            node_exporter,
            _kubelet_job("kubelet", "/metrics"),
            cadvisor,
            fluent_bit,
            _endpoint_slice_job(
                backend.service_name,
                values.app_namespace,
                backend.service_name,
                backend.port_name,
                metrics_path=backend.metrics_path,
            ),
        ],
    }


def scraped_namespaces(values: MonitoringValues) -> list[str]:
    """Namespaces whose Services/EndpointSlices/Pods Prometheus discovers."""
    return [values.namespace, values.agents_namespace, values.app_namespace]


# A SafeDumper that writes multi-line strings (PromQL, Slack templates) as literal blocks;
# its own class, so the representer does not change yaml.safe_dump elsewhere.
_BlockDumper: Any = type("_BlockDumper", (yaml.SafeDumper,), {})


def _represent_str(dumper: Any, value: str) -> Any:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    )


_BlockDumper.add_representer(str, _represent_str)


def render_yaml(document: Any) -> str:
    """A configuration file of Prometheus, Alertmanager or Grafana, from data."""
    text: str = yaml.dump(
        document, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False, width=1000
    )
    return text


class PrometheusChart(cdk8s.Chart):
    """Deploys Prometheus, for the platform and app teams.

    A one-replica StatefulSet with a ``storage_size`` gp3 volume (fsGroup makes it writable
    by the unprivileged user), keeping ``retention_time`` of data but never more than
    ``retention_size``; scraping every ``scrape_interval`` the kubelets and cAdvisor,
    node-exporter, kube-state-metrics, Fluent Bit, the backend, Alertmanager, Grafana and
    itself; evaluating the rules in rules.py and sending alerts to Alertmanager.

    RBAC: nodes and nodes/metrics cluster-wide (node discovery, kubelet scrapes), and
    services/endpoints/endpointslices/pods read-only only in the namespaces it scrapes.
    """

    def __init__(self, scope: Construct, id: str, values: MonitoringValues) -> None:
        super().__init__(
            scope,
            id,
            namespace=values.namespace,
            labels=monitoring_labels(NAME),
            disable_resource_name_hashes=True,
        )
        self.service_account = common.service_account(self, NAME)
        self._rbac(values)
        config = prometheus_config(values)
        rules = rules_document(values)
        self.config_map = kplus.ConfigMap(
            self,
            "config",
            metadata=cdk8s.ApiObjectMetadata(name=f"{NAME}-config"),
            data={CONFIG_FILE: render_yaml(config)},
        )
        self.rules_config_map = kplus.ConfigMap(
            self,
            "rules",
            metadata=cdk8s.ApiObjectMetadata(name=f"{NAME}-rules"),
            data={RULES_FILE: render_yaml(rules)},
        )
        self.service = common.cluster_ip_service(self, NAME, [("http", PORT)])
        self.stateful_set = self._stateful_set(values, common.config_checksum(config, rules))

    def _rbac(self, values: MonitoringValues) -> None:
        common.cluster_role(
            self,
            "cluster-role",
            NAME,
            [
                common.read_rule("", "nodes", "nodes/metrics"),
                k8s.PolicyRule(non_resource_ur_ls=["/metrics"], verbs=["get"]),
            ],
        )
        common.bind_cluster_role(
            self,
            "cluster-role-binding",
            role_name=NAME,
            service_account_name=NAME,
            namespace=values.namespace,
        )
        discovery = f"{NAME}-discovery"
        common.cluster_role(
            self,
            "discovery-role",
            discovery,
            [
                common.read_rule("", "services", "endpoints", "pods"),
                common.read_rule("discovery.k8s.io", "endpointslices"),
            ],
        )
        for namespace in scraped_namespaces(values):
            common.bind_cluster_role(
                self,
                f"discovery-{namespace}",
                role_name=discovery,
                service_account_name=NAME,
                namespace=values.namespace,
                binding_namespace=namespace,
            )

    def _stateful_set(self, values: MonitoringValues, checksum: str) -> kplus.StatefulSet:
        stateful_set = kplus.StatefulSet(
            self,
            "stateful-set",
            metadata=cdk8s.ApiObjectMetadata(name=NAME),
            pod_metadata=cdk8s.ApiObjectMetadata(labels=pod_labels(NAME)),
            select=False,
            service=self.service,
            replicas=1,
            service_account=self.service_account,
            automount_service_account_token=False,
            # Prometheus writes its head block to disk on shutdown.
            termination_grace_period=cdk8s.Duration.seconds(300),
            security_context=common.restricted_pod(
                fs_group=NOBODY,
                # Walking 100Gi of TSDB blocks on every start would delay it for minutes.
                fs_group_change_policy=kplus.FsGroupChangePolicy.ON_ROOT_MISMATCH,
            ),
        )
        stateful_set.select(kplus.LabelSelector.of(labels=selector_labels(NAME)))
        common.governing_service_selector(self.service)
        config = kplus.Volume.from_config_map(self, "config-volume", self.config_map, name="config")
        rules = kplus.Volume.from_config_map(
            self, "rules-volume", self.rules_config_map, name="rules"
        )
        stateful_set.add_container(
            name=NAME,
            image=values.images.prometheus,
            args=[
                f"--config.file={CONFIG_DIR}/{CONFIG_FILE}",
                f"--storage.tsdb.path={DATA_DIR}",
                f"--storage.tsdb.retention.time={values.retention_time}",
                f"--storage.tsdb.retention.size={values.retention_size}",
                f"--web.listen-address=:{PORT}",
                # Links in alerts point at a local port-forward (docs/monitoring.md).
                f"--web.external-url=http://localhost:{PORT}",
            ],
            ports=[kplus.ContainerPort(number=PORT, name="http")],
            resources=common.resources(values.resources.prometheus),
            security_context=restricted_container(),
            readiness=http_probe("/-/ready", PORT, period_s=5, failures=3),
            liveness=http_probe("/-/healthy", PORT, period_s=15, failures=4),
            # Replaying the WAL after a restart can take minutes: 60 x 10 s.
            startup=http_probe("/-/ready", PORT, period_s=10, failures=60),
            volume_mounts=[
                kplus.VolumeMount(path=CONFIG_DIR, volume=config, read_only=True),
                kplus.VolumeMount(path=RULES_DIR, volume=rules, read_only=True),
            ],
        )
        (
            PodPatches(stateful_set)
            .common(fs_group=True)
            .annotate({"checksum/config": checksum})
            .service_account_token([0])
            .data_volume(
                name=DATA_VOLUME,
                mount_path=DATA_DIR,
                storage_class=values.storage_class,
                size=values.storage_size,
                app=NAME,
            )
            # Keep the volume (and its data) when the StatefulSet is deleted or scaled in.
            .add_to_object(
                "/spec/persistentVolumeClaimRetentionPolicy",
                {"whenDeleted": "Retain", "whenScaled": "Retain"},
            )
        )
        return stateful_set
