"""The OpenMarket Application dashboard, the one we provision ourselves (the cluster and
node dashboards are kube-prometheus-stack's): it loads with its uid, reads the chart's
datasource, Grafana's sidecar picks it up and makes it the home dashboard, and every
PromQL expression in it parses (promtool, as recording rules, with Grafana's variables
replaced by sample values)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

from charts.monitoring import dashboard as application
from charts.monitoring import stack_values
from charts.monitoring.dashboard import DATASOURCE_UID
from charts.monitoring.stack import DASHBOARD_LABEL, DASHBOARDS_DIR
from tests.charts.monitoring.conftest import RenderedMonitoring, monitoring_values

# The chart's dashboards that stand for the original design's cluster overview and node
# dashboards: uid -> title (kube-prometheus-stack's grafana/dashboards-1.14/ at the pinned
# version).
UPSTREAM_DASHBOARDS = {
    "efa86fd1d0c121a26444b636a3f509a8": "Kubernetes / Compute Resources / Cluster",
    "7d57716318ee0dddbac5a7f451fb7753": "Node Exporter / Nodes",
}
VALUES = monitoring_values("dev")
CHART_KIND = "openmarket-monitoring"
CONFIG_MAP_NAME = f"dashboard-{application.UID}"
# Grafana's built-in variables and the dashboard's own, with a value PromQL accepts.
SAMPLE_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "namespace": "openmarket-dev",
}
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}")
# The SDK build that matches the Grafana the chart deploys (see charts/monitoring/values.py).
SDK_VERSION = "0.0.21"
GRAFANA_LINE = "12.4."
# kubectl apply keeps the last-applied object in one annotation of at most 256 KiB.
KUBECTL_ANNOTATION_LIMIT = 262_144


def panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def expressions(model: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, expr) of every query of every panel."""
    for panel in panels(model):
        for target in panel.get("targets", []):
            if "expr" in target:
                yield panel["title"], target["expr"]


def substitute(expr: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in SAMPLE_VARIABLES, f"unknown variable ${name} in {expr}"
        return SAMPLE_VARIABLES[name]

    return VARIABLE.sub(value, expr)


def dashboard_config_map(rendered: RenderedMonitoring) -> dict[str, Any]:
    """The application dashboard's ConfigMap, the only ConfigMap of the openmarket chart."""
    (config_map,) = [obj for obj in rendered.manifests[CHART_KIND] if obj["kind"] == "ConfigMap"]
    assert config_map["metadata"]["name"] == CONFIG_MAP_NAME
    return config_map


def loaded(rendered: RenderedMonitoring) -> dict[str, Any]:
    """The dashboard model exactly as Grafana's sidecar reads it from the ConfigMap."""
    ((name, text),) = dashboard_config_map(rendered)["data"].items()
    assert name == application.FILE_NAME
    model: dict[str, Any] = json.loads(text)
    return model


def test_the_application_dashboard_loads_with_its_uid(dev: RenderedMonitoring) -> None:
    model = loaded(dev)
    assert model["uid"] == application.UID
    assert model["title"] == application.TITLE
    assert model == application.application_dashboard(VALUES)
    assert model["schemaVersion"] >= 41
    ids = [panel["id"] for panel in panels(model)]
    assert ids and len(ids) == len(set(ids))


def test_it_is_the_only_dashboard_we_provision(monitoring: dict[str, RenderedMonitoring]) -> None:
    label, label_value = DASHBOARD_LABEL
    for rendered in monitoring.values():
        labelled = [
            obj["metadata"]["name"]
            for obj in rendered.all_objects()
            if obj["metadata"].get("labels", {}).get(label) == label_value
        ]
        assert labelled == [CONFIG_MAP_NAME]


def test_every_panel_reads_the_charts_datasource(dev: RenderedMonitoring) -> None:
    datasources = stack_values(VALUES)["grafana"]["sidecar"]["datasources"]
    assert datasources["uid"] == DATASOURCE_UID
    assert datasources.get("enabled", True) is not False
    targets = 0
    for panel in panels(loaded(dev)):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID
            targets += 1
    assert targets > 0


def test_the_application_dashboard_has_what_the_issue_lists(dev: RenderedMonitoring) -> None:
    text = json.dumps(loaded(dev))
    for needle in (
        "openmarket:backend_http_requests:rate5m",  # request rate
        "openmarket:backend_http_errors:ratio_rate5m",  # error rate
        "histogram_quantile(0.95",
        "histogram_quantile(0.99",
        "kube_deployment_status_replicas_available",  # pod count
        "kube_horizontalpodautoscaler_status_current_replicas",  # HPA replicas
        "container_cpu_usage_seconds_total",  # CPU per pod
        "container_memory_working_set_bytes",  # memory per pod
    ):
        assert needle in text, needle


def test_every_expression_parses(promtool: str, dev: RenderedMonitoring, tmp_path: Path) -> None:
    model = loaded(dev)
    uid = model["uid"]
    rules = [
        {"record": f"dashboard:{uid.replace('-', '_')}:expr{index}", "expr": substitute(expr)}
        for index, (_, expr) in enumerate(expressions(model))
    ]
    assert len(rules) >= 15, uid
    path = tmp_path / "dashboards.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": uid, "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_variable_queries_select_real_series(dev: RenderedMonitoring) -> None:
    variables = loaded(dev).get("templating", {}).get("list", [])
    assert variables
    for variable in variables:
        assert variable["name"] in SAMPLE_VARIABLES, variable["name"]
        assert re.fullmatch(r"label_values\(\w+\{[^}]*\}, \w+\)", variable["query"])
        assert variable["datasource"]["uid"] == DATASOURCE_UID


def test_the_dashboard_configmap_stays_under_the_annotation_limit(
    monitoring: dict[str, RenderedMonitoring],
) -> None:
    for rendered in monitoring.values():
        config_map = dashboard_config_map(rendered)
        size = len(json.dumps(config_map, separators=(",", ":")).encode())
        # kubectl apply keeps the whole object in an annotation of at most 256 KiB.
        assert size < KUBECTL_ANNOTATION_LIMIT // 2, (config_map["metadata"]["name"], size)


def test_grafanas_sidecar_loads_the_dashboard_and_it_is_home(dev: RenderedMonitoring) -> None:
    config_map = dashboard_config_map(dev)
    label, label_value = DASHBOARD_LABEL
    assert config_map["metadata"]["labels"][label] == label_value
    grafana = stack_values(VALUES)["grafana"]
    sidecar = grafana["sidecar"].get("dashboards", {})
    # The chart's defaults (grafana_dashboard: "1", /tmp/dashboards) unless set to the same.
    assert sidecar.get("enabled", True) is not False
    assert sidecar.get("label", "grafana_dashboard") == label
    assert sidecar.get("labelValue", "1") == label_value
    assert sidecar.get("folder", "/tmp/dashboards") == DASHBOARDS_DIR
    assert sidecar["searchNamespace"] == config_map["metadata"]["namespace"] == VALUES.namespace
    (file_name,) = config_map["data"]
    home = grafana["grafana.ini"]["dashboards"]["default_home_dashboard_path"]
    assert home == f"{DASHBOARDS_DIR}/{file_name}"


def test_the_original_three_dashboards_are_present(dev: RenderedMonitoring) -> None:
    release = stack_values(VALUES)
    grafana = release["grafana"]
    # The chart ships its dashboards only with Grafana on and its defaults enabled.
    assert grafana.get("enabled", True) is not False
    assert grafana.get("defaultDashboardsEnabled", True) is not False
    # "Node Exporter / Nodes" needs node-exporter (on Linux) in the release too.
    node_exporter = release.get("nodeExporter", {})
    assert node_exporter.get("enabled", True) is not False
    linux = node_exporter.get("operatingSystems", {}).get("linux", {})
    assert linux.get("enabled", True) is not False
    ours = loaded(dev)
    titles = {ours["uid"]: ours["title"], **UPSTREAM_DASHBOARDS}
    assert len(titles) == 1 + len(UPSTREAM_DASHBOARDS) == 3  # no uid shared
    # The original design's three: the application, the cluster, the nodes.
    assert titles[application.UID] == "OpenMarket Application"
    upstream = sorted(UPSTREAM_DASHBOARDS.values())
    assert upstream[0].startswith("Kubernetes / ") and upstream[0].endswith("/ Cluster")
    assert upstream[1].startswith("Node Exporter / ")


def test_the_sdk_build_matches_the_grafana_release() -> None:
    assert version("grafana-foundation-sdk").lstrip("v") == SDK_VERSION
    assert VALUES.grafana.image.rsplit(":", 1)[1].startswith(GRAFANA_LINE)


def test_the_dashboard_is_the_same_in_every_stage(
    monitoring: dict[str, RenderedMonitoring],
) -> None:
    assert set(monitoring) == {"dev", "staging", "prod"}
    models = {stage: loaded(rendered) for stage, rendered in monitoring.items()}
    assert models["dev"] == models["staging"] == models["prod"]
