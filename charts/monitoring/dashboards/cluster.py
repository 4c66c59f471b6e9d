"""Kubernetes Cluster Overview: nodes, capacity, namespaces, workloads, volumes, alerts."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash

from charts.monitoring.dashboards._common import (
    graph,
    new_dashboard,
    percent_thresholds,
    single_stat,
    to_dict,
)

UID = "openmarket-kubernetes-cluster"
TITLE = "Kubernetes Cluster Overview"

KSM = 'job="kube-state-metrics"'
CADVISOR = 'job="kubelet", metrics_path="/metrics/cadvisor"'
KUBELET = 'job="kubelet", metrics_path="/metrics"'
NODE = 'job="node-exporter"'
RATE = "$__rate_interval"


def cluster_dashboard() -> dict[str, Any]:
    cpu_used = f'sum(rate(container_cpu_usage_seconds_total{{{CADVISOR}, container!=""}}[{RATE}]))'
    memory_used = f'sum(container_memory_working_set_bytes{{{CADVISOR}, container!=""}})'
    cpu_allocatable = f'sum(kube_node_status_allocatable{{{KSM}, resource="cpu"}})'
    memory_allocatable = f'sum(kube_node_status_allocatable{{{KSM}, resource="memory"}})'
    builder = (
        new_dashboard(
            UID,
            TITLE,
            ["kubernetes"],
            "The cluster at a glance: nodes, capacity and its use, namespaces, workloads, "
            "volumes and firing alerts.",
        )
        .with_row(dash.Row("Cluster"))
        .with_panel(
            single_stat(
                "Nodes ready",
                f'sum(kube_node_status_condition{{{KSM}, condition="Ready", status="true"}})',
            )
        )
        .with_panel(
            single_stat(
                "Nodes not ready",
                f'sum(kube_node_status_condition{{{KSM}, condition="Ready", status!="true"}})',
                thresholds=((None, "green"), (1, "red")),
            )
        )
        .with_panel(
            single_stat(
                "CPU used",
                f"{cpu_used} / {cpu_allocatable} * 100",
                unit="percent",
                thresholds=percent_thresholds(),
                decimals=1,
            )
        )
        .with_panel(
            single_stat(
                "Memory used",
                f"{memory_used} / {memory_allocatable} * 100",
                unit="percent",
                thresholds=percent_thresholds(),
                decimals=1,
            )
        )
        .with_panel(
            single_stat(
                "CPU requested",
                f'sum(kube_pod_container_resource_requests{{{KSM}, resource="cpu"}}) '
                f"/ {cpu_allocatable} * 100",
                unit="percent",
                thresholds=percent_thresholds(),
                decimals=1,
                description="Requests of all containers over allocatable CPU: above 100 % "
                "new pods stay Pending.",
            )
        )
        .with_panel(
            single_stat(
                "Memory requested",
                f'sum(kube_pod_container_resource_requests{{{KSM}, resource="memory"}}) '
                f"/ {memory_allocatable} * 100",
                unit="percent",
                thresholds=percent_thresholds(),
                decimals=1,
            )
        )
        .with_panel(
            single_stat("Pods running", f'sum(kube_pod_status_phase{{{KSM}, phase="Running"}})')
        )
        .with_panel(
            single_stat(
                "Pods pending or failed",
                f'sum(kube_pod_status_phase{{{KSM}, phase=~"Pending|Failed|Unknown"}})',
                thresholds=((None, "green"), (1, "orange"), (5, "red")),
            )
        )
        .with_panel(
            single_stat(
                "Containers crash looping",
                f"sum(kube_pod_container_status_waiting_reason"
                f'{{{KSM}, reason="CrashLoopBackOff"}}) or vector(0)',
                thresholds=((None, "green"), (1, "red")),
            )
        )
        .with_panel(
            single_stat(
                "Firing alerts",
                'count(ALERTS{alertstate="firing", alertname!="Watchdog"}) or vector(0)',
                thresholds=((None, "green"), (1, "orange")),
            )
        )
        .with_panel(
            single_stat(
                "Deployments unavailable",
                f"count(kube_deployment_status_replicas_unavailable{{{KSM}}} > 0) or vector(0)",
                thresholds=((None, "green"), (1, "red")),
            )
        )
        .with_panel(
            single_stat(
                "PVCs not bound",
                f'count(kube_persistentvolumeclaim_status_phase{{{KSM}, phase!="Bound"}} == 1)'
                " or vector(0)",
                thresholds=((None, "green"), (1, "orange")),
            )
        )
        .with_row(dash.Row("Nodes"))
        .with_panel(
            graph(
                "CPU utilisation per node",
                [
                    (
                        f"100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{{{NODE}, "
                        f'mode="idle"}}[{RATE}])))',
                        "{{instance}}",
                    )
                ],
                unit="percent",
            )
        )
        .with_panel(
            graph(
                "Memory utilisation per node",
                [
                    (
                        f"100 * (1 - node_memory_MemAvailable_bytes{{{NODE}}} "
                        f"/ node_memory_MemTotal_bytes{{{NODE}}})",
                        "{{instance}}",
                    )
                ],
                unit="percent",
            )
        )
        .with_panel(
            graph(
                "Pods per node",
                [(f"sum by (node) (kube_pod_info{{{KSM}}})", "{{node}}")],
            )
        )
        .with_panel(
            graph(
                "Load (1m) per core",
                [
                    (
                        f"node_load1{{{NODE}}} / count by (instance) "
                        f'(node_cpu_seconds_total{{{NODE}, mode="idle"}})',
                        "{{instance}}",
                    )
                ],
            )
        )
        .with_row(dash.Row("Namespaces"))
        .with_panel(
            graph(
                "CPU usage by namespace",
                [
                    (
                        f"sum by (namespace) (rate(container_cpu_usage_seconds_total"
                        f'{{{CADVISOR}, container!=""}}[{RATE}]))',
                        "{{namespace}}",
                    )
                ],
                unit="cores",
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Memory usage by namespace",
                [
                    (
                        f"sum by (namespace) (container_memory_working_set_bytes"
                        f'{{{CADVISOR}, container!=""}})',
                        "{{namespace}}",
                    )
                ],
                unit="bytes",
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Network received by namespace",
                [
                    (
                        f"sum by (namespace) (rate(container_network_receive_bytes_total"
                        f"{{{CADVISOR}}}[{RATE}]))",
                        "{{namespace}}",
                    )
                ],
                unit="Bps",
            )
        )
        .with_panel(
            graph(
                "Network sent by namespace",
                [
                    (
                        f"sum by (namespace) (rate(container_network_transmit_bytes_total"
                        f"{{{CADVISOR}}}[{RATE}]))",
                        "{{namespace}}",
                    )
                ],
                unit="Bps",
            )
        )
        .with_panel(
            graph(
                "CPU throttling by namespace",
                [
                    (
                        f"sum by (namespace) (increase(container_cpu_cfs_throttled_periods_total"
                        f'{{{CADVISOR}, container!=""}}[{RATE}])) / sum by (namespace) '
                        f"(increase(container_cpu_cfs_periods_total{{{CADVISOR}, "
                        f'container!=""}}[{RATE}]))',
                        "{{namespace}}",
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            graph(
                "Pods by phase",
                [(f"sum by (phase) (kube_pod_status_phase{{{KSM}}})", "{{phase}}")],
                stacked=True,
            )
        )
        .with_row(dash.Row("Workloads and storage"))
        .with_panel(
            graph(
                "Container restarts (last hour, top 10)",
                [
                    (
                        "topk(10, sum by (namespace, pod) "
                        f"(increase(kube_pod_container_status_restarts_total{{{KSM}}}[1h])))",
                        "{{namespace}}/{{pod}}",
                    )
                ],
            )
        )
        .with_panel(
            graph(
                "Deployment replicas unavailable",
                [
                    (
                        f"sum by (namespace, deployment) "
                        f"(kube_deployment_status_replicas_unavailable{{{KSM}}})",
                        "{{namespace}}/{{deployment}}",
                    )
                ],
            )
        )
        .with_panel(
            graph(
                "Persistent volume usage",
                [
                    (
                        "100 * max by (namespace, persistentvolumeclaim) "
                        f"(kubelet_volume_stats_used_bytes{{{KUBELET}}} "
                        f"/ kubelet_volume_stats_capacity_bytes{{{KUBELET}}})",
                        "{{namespace}}/{{persistentvolumeclaim}}",
                    )
                ],
                unit="percent",
            )
        )
        .with_panel(
            graph(
                "Firing alerts by severity",
                [
                    (
                        'sum by (severity) (ALERTS{alertstate="firing", alertname!="Watchdog"})',
                        "{{severity}}",
                    )
                ],
                stacked=True,
            )
        )
    )
    return to_dict(builder)
