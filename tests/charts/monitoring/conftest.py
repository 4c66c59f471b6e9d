"""Fixtures of the monitoring chart tests: each stage's values, rendered once per session,
and the Prometheus/Alertmanager command-line tools the config tests run.

The values are those ``make manifests`` renders (``chart_values`` over the stage configs).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from charts.monitoring import MONITORING_CHART_KINDS, MonitoringValues, add_monitoring_charts
from tests.charts.conftest import STAGES, Rendered, render_with, stage_values

# command -> the Debian package that ships it (scripts/install-system-packages.sh).
TOOLS = {"promtool": "prometheus", "amtool": "prometheus-alertmanager"}


def monitoring_values(stage: str) -> MonitoringValues:
    return stage_values(stage).monitoring


RenderedMonitoring = Rendered[MonitoringValues]


def render(values: MonitoringValues) -> RenderedMonitoring:
    rendered = render_with(values, add_monitoring_charts)
    assert tuple(rendered.manifests) == MONITORING_CHART_KINDS
    return rendered


@pytest.fixture(scope="session")
def monitoring() -> Iterator[dict[str, RenderedMonitoring]]:
    yield {stage: render(monitoring_values(stage)) for stage in STAGES}


@pytest.fixture(scope="session")
def dev(monitoring: dict[str, RenderedMonitoring]) -> RenderedMonitoring:
    return monitoring["dev"]


def require_tool(command: str) -> str:
    """The tool's path; a missing tool fails the test with the package to install."""
    path = shutil.which(command)
    if path is None:
        pytest.fail(
            f"{command} is not installed: install the Debian package {TOOLS[command]!r} "
            "(scripts/install-system-packages.sh does it as root)"
        )
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_tool("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return require_tool("amtool")


def stage_params() -> list[Any]:
    return [pytest.param(stage, id=stage) for stage in STAGES]


def stage_kind_params() -> list[Any]:
    return [
        pytest.param(stage, kind, id=f"{stage}-{kind}")
        for stage in STAGES
        for kind in MONITORING_CHART_KINDS
    ]
