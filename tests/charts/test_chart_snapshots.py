"""One snapshot per (stage, chart): the rendered manifests, as YAML a reviewer can read.

Update deliberately with ``.venv/bin/pytest tests/charts --snapshot-update`` and say in the
commit message why the manifests changed.
"""

from __future__ import annotations

import pytest
import yaml
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from tests.charts.conftest import RenderedStage, stage_kind_params


class YamlSnapshotExtension(SingleFileSnapshotExtension):
    """One ``.yaml`` file per snapshot, holding a multi-document manifest."""

    file_extension = "yaml"
    _write_mode = WriteMode.TEXT


def to_yaml(objects: list[dict[str, object]]) -> str:
    text: str = yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False, width=100)
    return text


@pytest.mark.parametrize(("stage", "kind"), stage_kind_params())
def test_chart_matches_snapshot(
    rendered: dict[str, RenderedStage], snapshot: SnapshotAssertion, stage: str, kind: str
) -> None:
    manifest = to_yaml(rendered[stage].manifests[kind])
    assert manifest == snapshot(extension_class=YamlSnapshotExtension)
