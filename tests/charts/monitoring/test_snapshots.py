"""One snapshot per (stage, monitoring chart) and per stage of the kube-prometheus-stack
release's values, as YAML a reviewer can read, and one of the application dashboard
(identical in every stage, test_dashboards.py) as JSON.

In the chart snapshots a dashboard ConfigMap shows the dashboard's uid and hash instead of
its JSON, so a dashboard change shows up once, in its own file. Update deliberately with
``.venv/bin/pytest tests/charts/monitoring --snapshot-update`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import yaml
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from charts.monitoring import dashboard as application
from charts.monitoring import stack_values
from charts.monitoring.stack import DASHBOARD_LABEL
from tests.charts.monitoring.conftest import (
    RenderedMonitoring,
    stage_kind_params,
    stage_params,
)
from tests.charts.test_chart_snapshots import YamlSnapshotExtension


class JsonSnapshotExtension(SingleFileSnapshotExtension):
    file_extension = "json"
    _write_mode = WriteMode.TEXT


# Multi-line strings (the configuration files in ConfigMaps) as literal blocks, in a
# SafeDumper of its own.
_LiteralDumper: Any = type("_LiteralDumper", (yaml.SafeDumper,), {})


def _represent_str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _represent_str)


def to_yaml(objects: list[dict[str, Any]]) -> str:
    text: str = yaml.dump_all(
        objects, Dumper=_LiteralDumper, sort_keys=False, default_flow_style=False, width=100
    )
    return text


def summarised(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        if obj["kind"] == "ConfigMap" and labels.get(DASHBOARD_LABEL[0]) == DASHBOARD_LABEL[1]:
            obj = json.loads(json.dumps(obj))
            for key, text in obj["data"].items():
                digest = hashlib.sha256(text.encode()).hexdigest()[:16]
                obj["data"][key] = f"<dashboard JSON, sha256 {digest}, see its own snapshot>"
        result.append(obj)
    return result


@pytest.mark.parametrize(("stage", "kind"), stage_kind_params())
def test_chart_matches_snapshot(
    monitoring: dict[str, RenderedMonitoring], snapshot: SnapshotAssertion, stage: str, kind: str
) -> None:
    manifest = to_yaml(summarised(monitoring[stage].manifests[kind]))
    assert manifest == snapshot(extension_class=YamlSnapshotExtension)


@pytest.mark.parametrize("stage", stage_params())
def test_release_values_match_snapshot(
    monitoring: dict[str, RenderedMonitoring], snapshot: SnapshotAssertion, stage: str
) -> None:
    values = to_yaml([stack_values(monitoring[stage].values)])
    assert values == snapshot(extension_class=YamlSnapshotExtension)


def test_dashboard_matches_snapshot(dev: RenderedMonitoring, snapshot: SnapshotAssertion) -> None:
    model = application.application_dashboard(dev.values)
    text = json.dumps(model, indent=2, sort_keys=True) + "\n"
    assert text == snapshot(extension_class=JsonSnapshotExtension)
