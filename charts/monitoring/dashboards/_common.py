"""Shared building blocks of the dashboards (grafana-foundation-sdk builders).

Every dashboard reads the provisioned Prometheus datasource by its fixed uid, so the JSON
needs no ``${DS_…}`` input and loads as provisioned.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dash_models

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
    height: int = 8,
    stacked: bool = False,
    minimum: float | None = 0,
    description: str = "",
) -> timeseries.Panel:
    """A time series panel; ``width`` in grid columns (24 = full width)."""
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(height)
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
    if description:
        panel = panel.description(description)
    _targets(panel, queries)
    return panel


def single_stat(
    title: str,
    expr: str,
    *,
    unit: str = "short",
    width: int = 4,
    height: int = 4,
    thresholds: Sequence[tuple[float | None, str]] = ((None, "green"),),
    decimals: int | None = None,
    description: str = "",
) -> stat.Panel:
    """A stat panel of one instant value, coloured by ``thresholds`` (value, colour)."""
    panel = (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(height)
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
    if description:
        panel = panel.description(description)
    _targets(panel, [(expr, "")], instant=True)
    return panel


def percent_thresholds() -> tuple[tuple[float | None, str], ...]:
    return ((None, "green"), (70, "orange"), (90, "red"))


def query_variable(
    name: str, label: str, query: str, *, multi: bool = False, include_all: bool = False
) -> dash.QueryVariable:
    variable = (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(dash_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dash_models.VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(include_all)
    )
    return variable


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
