"""The provisioned dashboards: each loads, has a unique uid, reads the provisioned
datasource, and every PromQL expression in it parses (promtool, as recording rules, with
Grafana's variables replaced by sample values)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from charts.monitoring.dashboards import dashboards
from charts.monitoring.dashboards._common import DATASOURCE_UID
from charts.monitoring.grafana import DASHBOARDS_DIR, HOME_DASHBOARD, datasources
from tests.charts.monitoring.conftest import RenderedMonitoring, monitoring_values

VALUES = monitoring_values("dev")
TITLES = {
    "openmarket-kubernetes-cluster": "Kubernetes Cluster Overview",
    "openmarket-application": "OpenMarket Application",
    "node-exporter-full": "Node Exporter Full",
}
# Grafana's built-in variables and each dashboard's own, with a value PromQL accepts.
SAMPLE_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "namespace": "openmarket-dev",
    "node": "ip-10-0-11-10",
}
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}")
# The SDK build that matches the Grafana the chart deploys (see charts/monitoring/values.py).
SDK_VERSION = "0.0.21"
GRAFANA_LINE = "12.4."


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


# kubectl apply keeps the last-applied object in one annotation of at most 256 KiB.
KUBECTL_ANNOTATION_LIMIT = 262_144


def substitute(expr: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in SAMPLE_VARIABLES, f"unknown variable ${name} in {expr}"
        return SAMPLE_VARIABLES[name]

    return VARIABLE.sub(value, expr)


def configmap_dashboards(rendered: RenderedMonitoring) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for config_map in rendered.of_kind("ConfigMap"):
        if config_map["metadata"]["name"].startswith("grafana-dashboard-"):
            for text in config_map["data"].values():
                model = json.loads(text)
                found[model["uid"]] = model
    return found


def test_three_dashboards_load_with_unique_uids(dev: RenderedMonitoring) -> None:
    loaded = configmap_dashboards(dev)
    assert {uid: model["title"] for uid, model in loaded.items()} == TITLES
    assert loaded == dashboards(VALUES)
    for model in loaded.values():
        assert model["schemaVersion"] >= 41
        ids = [panel["id"] for panel in panels(model)]
        assert len(ids) == len(set(ids))


def test_every_panel_reads_the_provisioned_datasource(dev: RenderedMonitoring) -> None:
    (provisioned,) = datasources(VALUES)["datasources"]
    assert provisioned["uid"] == DATASOURCE_UID and provisioned["type"] == "prometheus"
    for model in configmap_dashboards(dev).values():
        for panel in panels(model):
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == DATASOURCE_UID


def test_the_application_dashboard_has_what_the_issue_lists() -> None:
    model = dashboards(VALUES)["openmarket-application"]
    text = json.dumps(model)
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


def test_node_exporter_full_covers_every_subsystem() -> None:
    model = dashboards(VALUES)["node-exporter-full"]
    rows = [panel["title"] for panel in model["panels"] if panel["type"] == "row"]
    assert rows == [
        "Quick CPU / Mem / Disk",
        "Basic CPU / Mem / Net / Disk",
        "CPU and memory",
        "Network",
        "Disks and filesystems",
        "System",
    ]
    assert len(list(panels(model))) >= 40


def test_every_expression_parses(promtool: str, dev: RenderedMonitoring, tmp_path: Path) -> None:
    groups = []
    for uid, model in configmap_dashboards(dev).items():
        rules = [
            {"record": f"dashboard:{uid.replace('-', '_')}:expr{index}", "expr": substitute(expr)}
            for index, (_, expr) in enumerate(expressions(model))
        ]
        assert len(rules) >= 15, uid
        groups.append({"name": uid, "rules": rules})
    path = tmp_path / "dashboards.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_variable_queries_select_real_series() -> None:
    for model in dashboards(VALUES).values():
        for variable in model.get("templating", {}).get("list", []):
            assert re.fullmatch(r"label_values\(\w+\{[^}]*\}, \w+\)", variable["query"])
            assert variable["datasource"]["uid"] == DATASOURCE_UID


def test_each_dashboard_configmap_stays_under_the_annotation_limit(
    monitoring: dict[str, RenderedMonitoring],
) -> None:
    for rendered in monitoring.values():
        for config_map in rendered.of_kind("ConfigMap"):
            size = len(json.dumps(config_map, separators=(",", ":")).encode())
            # kubectl apply keeps the whole object in an annotation of at most 256 KiB.
            assert size < KUBECTL_ANNOTATION_LIMIT // 2, (config_map["metadata"]["name"], size)


def test_grafana_mounts_each_dashboard_and_the_home_dashboard_exists(
    dev: RenderedMonitoring,
) -> None:
    pod = dev.one("Deployment", "grafana")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    for uid in TITLES:
        assert f"{DASHBOARDS_DIR}/{uid}" in mounts
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == (
        f"{DASHBOARDS_DIR}/{HOME_DASHBOARD}/{HOME_DASHBOARD}.json"
    )


def test_the_sdk_build_matches_the_grafana_release() -> None:
    assert version("grafana-foundation-sdk").lstrip("v") == SDK_VERSION
    assert VALUES.images.grafana.rsplit(":", 1)[1].startswith(GRAFANA_LINE)


@pytest.mark.parametrize("uid", sorted(TITLES))
def test_dashboards_are_the_same_in_every_stage(
    monitoring: dict[str, RenderedMonitoring], uid: str
) -> None:
    models = {stage: configmap_dashboards(r)[uid] for stage, r in monitoring.items()}
    assert models["dev"] == models["staging"] == models["prod"]
