"""The OpenMarket Application dashboard: the backend's traffic, errors and latency, and its
pods, built with grafana-foundation-sdk (the cluster and node dashboards are
kube-prometheus-stack's own).

It reads the chart's Prometheus datasource by its fixed uid (stack.py sets it), so the
JSON needs no ``${DS_…}`` input and loads as provisioned.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any

with warnings.catch_warnings():
    # The SDK's post-12 line flags the classic dashboard model as deprecated (in favour of
    # the v2 resource) when its modules are imported. Grafana 12.4's file provisioning reads
    # the classic model, which is what this dashboard is: import it once, quietly.
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import dashboard as _dashboard  # noqa: F401
    from grafana_foundation_sdk.builders import stat as _stat  # noqa: F401
    from grafana_foundation_sdk.builders import timeseries as _timeseries  # noqa: F401

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dash_models

from charts.monitoring.rules import (
    BACKEND_ERROR_RATIO,
    BACKEND_P95,
    BACKEND_P99,
    BACKEND_REQUEST_RATE,
)
from charts.monitoring.values import MonitoringValues

DATASOURCE_UID = "prometheus"
DATASOURCE = common_models.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
REFRESH = "30s"

# (PromQL, legend) of one query.
Query = tuple[str, str]


def _targets(panel: Any, queries: Sequence[Query], *, instant: bool = False) -> None:
    for index, (expr, legend) in enumerate(queries):
        target = (
            prometheus.Dataquery()
            .expr(expr)
            .legend_format(legend)
            .ref_id(chr(ord("A") + index))
            .datasource(DATASOURCE)
        )
        if instant:
            target = target.instant()
        panel.with_target(target)


def graph(
    title: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    width: int = 12,
    stacked: bool = False,
    minimum: float | None = 0,
) -> timeseries.Panel:
    """A time series panel, 8 rows high; ``width`` in grid columns (24 = full width)."""
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(8)
        .line_width(1)
        .fill_opacity(20 if stacked else 10)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common_models.LegendDisplayMode.TABLE)
            .placement(common_models.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max", "lastNotNull"])
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common_models.TooltipDisplayMode.MULTI)
            .sort(common_models.SortOrder.DESCENDING)
        )
    )
    if minimum is not None:
        panel = panel.min(minimum)
    if stacked:
        panel = panel.stacking(
            common_builders.StackingConfig().mode(common_models.StackingMode.NORMAL)
        )
    _targets(panel, queries)
    return panel


def single_stat(
    title: str,
    expr: str,
    *,
    unit: str = "short",
    thresholds: Sequence[tuple[float | None, str]] = ((None, "green"),),
    decimals: int | None = None,
) -> stat.Panel:
    """A stat panel of one instant value (4 x 4), coloured by ``thresholds`` (value, colour)."""
    panel = (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(4)
        .height(4)
        .graph_mode(common_models.BigValueGraphMode.AREA)
        .color_mode(common_models.BigValueColorMode.VALUE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
        .thresholds(
            dash.ThresholdsConfig()
            .mode(dash_models.ThresholdsMode.ABSOLUTE)
            .steps([dash_models.Threshold(value=value, color=color) for value, color in thresholds])
        )
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    _targets(panel, [(expr, "")], instant=True)
    return panel


def query_variable(name: str, label: str, query: str) -> dash.QueryVariable:
    """One value of ``query``'s label values at a time."""
    return (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(dash_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dash_models.VariableSort.ALPHABETICAL_ASC)
        .multi(False)
        .include_all(False)
    )


def new_dashboard(uid: str, title: str, tags: Sequence[str], description: str) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["openmarket", *tags])
        .editable()
        .refresh(REFRESH)
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(dash_models.DashboardCursorSync.CROSSHAIR)
    )


def to_dict(builder: dash.Dashboard) -> dict[str, Any]:
    """The dashboard model as plain JSON data (what Grafana's file provider reads)."""
    text = JSONEncoder(sort_keys=True).encode(builder.build())
    data: dict[str, Any] = json.loads(text)
    # Stable panel ids (links to a panel survive a rebuild), in layout order.
    for number, panel in enumerate(data.get("panels", []), start=1):
        panel["id"] = number
    return data


UID = "openmarket-application"
# The file Grafana's sidecar writes it to (the home dashboard).
FILE_NAME = f"{UID}.json"
TITLE = "OpenMarket Application"

KSM = 'job="kube-state-metrics"'
CADVISOR = 'job="kubelet", metrics_path="/metrics/cadvisor"'
RATE = "$__rate_interval"
NS = 'namespace="$namespace"'


def _over(target: float) -> tuple[tuple[float | None, str], ...]:
    """Green, and red from ``target`` on."""
    return ((None, "green"), (target, "red"))


def application_dashboard(values: MonitoringValues) -> dict[str, Any]:
    backend = values.backend
    metric = backend.request_duration_metric
    selector = f'job="{backend.service_name}", {NS}'
    latency_target = backend.p95_latency_threshold_seconds
    error_target = backend.error_ratio_threshold

    def quantile(q: str) -> str:
        return f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{{{selector}}}[{RATE}])))"

    stats: list[tuple[str, str, dict[str, Any]]] = [
        ("Requests", f"sum({BACKEND_REQUEST_RATE}{{{NS}}})", {"unit": "reqps"}),
        (
            "5xx errors",
            f"{BACKEND_ERROR_RATIO}{{{NS}}}",
            {"unit": "percentunit", "decimals": 2, "thresholds": _over(error_target)},
        ),
        (
            "p95 latency",
            f"{BACKEND_P95}{{{NS}}}",
            {"unit": "s", "decimals": 3, "thresholds": _over(latency_target)},
        ),
        (
            "p99 latency",
            f"{BACKEND_P99}{{{NS}}}",
            {"unit": "s", "decimals": 3, "thresholds": _over(1.0)},
        ),
        (
            "Backend pods ready",
            f"sum(kube_deployment_status_replicas_available{{{KSM}, {NS}, "
            f'deployment="{backend.service_name}"}})',
            {},
        ),
        (
            "Restarts (1h)",
            f"sum(increase(kube_pod_container_status_restarts_total{{{KSM}, {NS}}}[1h]))",
            {"thresholds": ((None, "green"), (1, "orange")), "decimals": 0},
        ),
    ]
    status = backend.status_label
    count = f"rate({metric}_count{{{selector}}}[{RATE}])"
    hpa = f"{{{KSM}, {NS}}}"
    pod = f'{{{CADVISOR}, {NS}, container!=""}}'
    traffic: list[tuple[str, list[Query], dict[str, Any]]] = [
        (
            "Request rate by status",
            [(f"sum by ({status}) ({count})", f"{{{{{status}}}}}")],
            {"unit": "reqps", "stacked": True},
        ),
        (
            "Error rate (5xx)",
            [
                (
                    f'sum(rate({metric}_count{{{selector}, {status}=~"5.."}}[{RATE}])) '
                    f"/ sum({count})",
                    "5xx ratio",
                ),
                (f"vector({error_target:g})", "target"),
            ],
            {"unit": "percentunit"},
        ),
        (
            "Latency",
            [
                (quantile("0.5"), "p50"),
                (quantile("0.95"), "p95"),
                (quantile("0.99"), "p99"),
                (f"vector({latency_target:g})", "p95 target"),
            ],
            {"unit": "s", "width": 24},
        ),
    ]
    pods: list[tuple[str, list[Query], dict[str, Any]]] = [
        (
            "Pods available per deployment",
            [
                (
                    f"sum by (deployment) (kube_deployment_status_replicas_available{hpa})",
                    "{{deployment}}",
                )
            ],
            {},
        ),
        (
            "HPA replicas",
            [
                (
                    f"kube_horizontalpodautoscaler_{series}{hpa}",
                    f"{{{{horizontalpodautoscaler}}}} {name}",
                )
                for series, name in (
                    ("status_current_replicas", "current"),
                    ("status_desired_replicas", "desired"),
                    ("spec_max_replicas", "max"),
                    ("spec_min_replicas", "min"),
                )
            ],
            {},
        ),
        (
            "CPU per pod",
            [(f"sum by (pod) (rate(container_cpu_usage_seconds_total{pod}[{RATE}]))", "{{pod}}")],
            {"unit": "cores"},
        ),
        (
            "Memory per pod",
            [(f"sum by (pod) (container_memory_working_set_bytes{pod})", "{{pod}}")],
            {"unit": "bytes"},
        ),
        (
            "CPU throttling per pod",
            [
                (
                    f"sum by (pod) (increase(container_cpu_cfs_throttled_periods_total{pod}"
                    f"[{RATE}])) / sum by (pod) (increase(container_cpu_cfs_periods_total{pod}"
                    f"[{RATE}]))",
                    "{{pod}}",
                )
            ],
            {"unit": "percentunit"},
        ),
        (
            "Network per pod",
            [
                (
                    f"{sign}sum by (pod) (rate(container_network_{way}_bytes_total"
                    f"{{{CADVISOR}, {NS}}}[{RATE}]))",
                    f"{{{{pod}}}} {label}",
                )
                for sign, way, label in (("", "receive", "in"), ("-", "transmit", "out"))
            ],
            {"unit": "Bps", "minimum": None},
        ),
    ]
    builder = new_dashboard(
        UID,
        TITLE,
        ["application"],
        "The OpenMarket backend and frontend: requests, errors, latency against the "
        "original design's targets (p95 < 500 ms, p99 < 1 s, errors < 1 %), replicas and "
        "resources.",
    ).with_variable(
        query_variable(
            "namespace",
            "Namespace",
            f"label_values(kube_namespace_status_phase{{{KSM}}}, namespace)",
        ).regex("/^openmarket-.*$/")
    )
    builder = builder.with_row(dash.Row("Backend traffic"))
    for title, expr, options in stats:
        builder = builder.with_panel(single_stat(title, expr, **options))
    for title, queries, options in traffic:
        builder = builder.with_panel(graph(title, queries, **options))
    builder = builder.with_row(dash.Row("Pods"))
    for title, queries, options in pods:
        builder = builder.with_panel(graph(title, queries, **options))
    return to_dict(builder)
