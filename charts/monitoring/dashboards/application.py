"""OpenMarket Application: the backend's traffic, errors and latency, and its pods."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash

from charts.monitoring.dashboards._common import (
    graph,
    new_dashboard,
    query_variable,
    single_stat,
    to_dict,
)
from charts.monitoring.rules import (
    BACKEND_ERROR_RATIO,
    BACKEND_P95,
    BACKEND_P99,
    BACKEND_REQUEST_RATE,
)
from charts.monitoring.values import MonitoringValues

UID = "openmarket-application"
TITLE = "OpenMarket Application"

KSM = 'job="kube-state-metrics"'
CADVISOR = 'job="kubelet", metrics_path="/metrics/cadvisor"'
RATE = "$__rate_interval"
NS = 'namespace="$namespace"'


def application_dashboard(values: MonitoringValues) -> dict[str, Any]:
    backend = values.backend
    metric = backend.request_duration_metric
    selector = f'job="{backend.service_name}", {NS}'
    latency_target = backend.p95_latency_threshold_seconds
    error_target = backend.error_ratio_threshold

    def quantile(q: str) -> str:
        return f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{{{selector}}}[{RATE}])))"

    builder = (
        new_dashboard(
            UID,
            TITLE,
            ["application"],
            "The OpenMarket backend and frontend: requests, errors, latency against the "
            "original design's targets (p95 < 500 ms, p99 < 1 s, errors < 1 %), replicas and "
            "resources.",
        )
        .with_variable(
            query_variable(
                "namespace",
                "Namespace",
                f"label_values(kube_namespace_status_phase{{{KSM}}}, namespace)",
            ).regex("/^openmarket-.*$/")
        )
        .with_row(dash.Row("Backend traffic"))
        .with_panel(single_stat("Requests", f"sum({BACKEND_REQUEST_RATE}{{{NS}}})", unit="reqps"))
        .with_panel(
            single_stat(
                "5xx errors",
                f"{BACKEND_ERROR_RATIO}{{{NS}}}",
                unit="percentunit",
                decimals=2,
                thresholds=((None, "green"), (error_target, "red")),
            )
        )
        .with_panel(
            single_stat(
                "p95 latency",
                f"{BACKEND_P95}{{{NS}}}",
                unit="s",
                decimals=3,
                thresholds=((None, "green"), (latency_target, "red")),
            )
        )
        .with_panel(
            single_stat(
                "p99 latency",
                f"{BACKEND_P99}{{{NS}}}",
                unit="s",
                decimals=3,
                thresholds=((None, "green"), (1.0, "red")),
            )
        )
        .with_panel(
            single_stat(
                "Backend pods ready",
                f"sum(kube_deployment_status_replicas_available{{{KSM}, {NS}, "
                f'deployment="{backend.service_name}"}})',
            )
        )
        .with_panel(
            single_stat(
                "Restarts (1h)",
                f"sum(increase(kube_pod_container_status_restarts_total{{{KSM}, {NS}}}[1h]))",
                thresholds=((None, "green"), (1, "orange")),
                decimals=0,
            )
        )
        .with_panel(
            graph(
                "Request rate by status",
                [
                    (
                        f"sum by ({backend.status_label}) "
                        f"(rate({metric}_count{{{selector}}}[{RATE}]))",
                        f"{{{{{backend.status_label}}}}}",
                    )
                ],
                unit="reqps",
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Error rate (5xx)",
                [
                    (
                        f"sum(rate({metric}_count{{{selector}, "
                        f'{backend.status_label}=~"5.."}}[{RATE}])) '
                        f"/ sum(rate({metric}_count{{{selector}}}[{RATE}]))",
                        "5xx ratio",
                    ),
                    (f"vector({error_target:g})", "target"),
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            graph(
                "Latency",
                [
                    (quantile("0.5"), "p50"),
                    (quantile("0.95"), "p95"),
                    (quantile("0.99"), "p99"),
                    (f"vector({latency_target:g})", "p95 target"),
                ],
                unit="s",
                width=24,
            )
        )
        .with_row(dash.Row("Pods"))
        .with_panel(
            graph(
                "Pods available per deployment",
                [
                    (
                        f"sum by (deployment) "
                        f"(kube_deployment_status_replicas_available{{{KSM}, {NS}}})",
                        "{{deployment}}",
                    )
                ],
            )
        )
        .with_panel(
            graph(
                "HPA replicas",
                [
                    (
                        f"kube_horizontalpodautoscaler_status_current_replicas{{{KSM}, {NS}}}",
                        "{{horizontalpodautoscaler}} current",
                    ),
                    (
                        f"kube_horizontalpodautoscaler_status_desired_replicas{{{KSM}, {NS}}}",
                        "{{horizontalpodautoscaler}} desired",
                    ),
                    (
                        f"kube_horizontalpodautoscaler_spec_max_replicas{{{KSM}, {NS}}}",
                        "{{horizontalpodautoscaler}} max",
                    ),
                    (
                        f"kube_horizontalpodautoscaler_spec_min_replicas{{{KSM}, {NS}}}",
                        "{{horizontalpodautoscaler}} min",
                    ),
                ],
            )
        )
        .with_panel(
            graph(
                "CPU per pod",
                [
                    (
                        "sum by (pod) (rate(container_cpu_usage_seconds_total"
                        f'{{{CADVISOR}, {NS}, container!=""}}[{RATE}]))',
                        "{{pod}}",
                    )
                ],
                unit="cores",
            )
        )
        .with_panel(
            graph(
                "Memory per pod",
                [
                    (
                        "sum by (pod) (container_memory_working_set_bytes"
                        f'{{{CADVISOR}, {NS}, container!=""}})',
                        "{{pod}}",
                    )
                ],
                unit="bytes",
            )
        )
        .with_panel(
            graph(
                "CPU throttling per pod",
                [
                    (
                        "sum by (pod) (increase(container_cpu_cfs_throttled_periods_total"
                        f'{{{CADVISOR}, {NS}, container!=""}}[{RATE}])) / sum by (pod) '
                        f"(increase(container_cpu_cfs_periods_total{{{CADVISOR}, {NS}, "
                        f'container!=""}}[{RATE}]))',
                        "{{pod}}",
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            graph(
                "Network per pod",
                [
                    (
                        "sum by (pod) (rate(container_network_receive_bytes_total"
                        f"{{{CADVISOR}, {NS}}}[{RATE}]))",
                        "{{pod}} in",
                    ),
                    (
                        "-sum by (pod) (rate(container_network_transmit_bytes_total"
                        f"{{{CADVISOR}, {NS}}}[{RATE}]))",
                        "{{pod}} out",
                    ),
                ],
                unit="Bps",
                minimum=None,
            )
        )
    )
    return to_dict(builder)
