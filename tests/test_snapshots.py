"""One snapshot per (stage, stack) template.

A snapshot changes only when the infrastructure changes. Update one deliberately with
``.venv/bin/pytest tests/test_snapshots.py --snapshot-update`` and say in the commit message
why the infrastructure changed.
"""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.conftest import Synthesized, stage_kind_params
from tests.normalize import normalize_template


@pytest.mark.parametrize(("stage", "kind"), stage_kind_params())
def test_template_matches_snapshot(
    synthesized: Synthesized, snapshot: SnapshotAssertion, stage: str, kind: str
) -> None:
    template = normalize_template(synthesized.template(stage, kind))
    assert template == snapshot(extension_class=JSONSnapshotExtension)


def test_normalisation_removes_only_machine_dependent_parts() -> None:
    template = {
        "Resources": {
            "CDKMetadata": {"Type": "AWS::CDK::Metadata", "Properties": {"Analytics": "v2:x"}},
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Code": {"S3Key": "a" * 64 + ".zip"}},
            },
        },
        "Conditions": {"CDKMetadataAvailable": {}},
    }
    assert normalize_template(template) == {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Code": {"S3Key": "<asset-hash>.zip"}},
            }
        }
    }
