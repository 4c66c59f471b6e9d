"""One snapshot per (stage, stack) template, readable in review.

A snapshot changes only when the infrastructure changes. Update one deliberately with
``.venv/bin/pytest tests/test_snapshots.py --snapshot-update`` and say in the commit message
why the infrastructure changed. Embedded Kubernetes manifests appear as chart name + digest
(the chart snapshots in tests/charts hold their content), so no line is too long to review.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.conftest import ROOT, Synthesized, stage_kind_params
from tests.normalize import digest, normalize_template

# What a reviewer can still read in a diff; anything longer is a summary's job.
MAX_SNAPSHOT_LINE = 2000


@pytest.mark.parametrize(("stage", "kind"), stage_kind_params())
def test_template_matches_snapshot(
    synthesized: Synthesized, snapshot: SnapshotAssertion, stage: str, kind: str
) -> None:
    template = normalize_template(synthesized.template(stage, kind))
    assert template == snapshot(extension_class=JSONSnapshotExtension)


def snapshot_files() -> list[Path]:
    return sorted(
        path
        for directory in ROOT.joinpath("tests").rglob("__snapshots__")
        for path in directory.rglob("*")
        if path.is_file()
    )


def test_every_snapshot_line_is_short_enough_to_review() -> None:
    files = snapshot_files()
    assert len(files) > 50  # templates, charts, monitoring charts, dashboards
    too_long = [
        f"{path.relative_to(ROOT)}:{number}: {len(line)} characters"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if len(line) > MAX_SNAPSHOT_LINE
    ]
    assert not too_long, "\n".join(too_long)


def test_normalisation_removes_only_machine_dependent_parts() -> None:
    manifest = {"Fn::Join": ["", ['[{"kind":"Namespace","x":"', {"Ref": "Bucket"}, '"}]']]}
    template = {
        "Resources": {
            "CDKMetadata": {"Type": "AWS::CDK::Metadata", "Properties": {"Analytics": "v2:x"}},
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Code": {"S3Key": "a" * 64 + ".zip", "ZipFile": "x" * 1001}},
            },
            "ChartApp": {
                "Type": "Custom::AWSCDK-EKS-KubernetesResource",
                "Metadata": {"aws:cdk:path": "dev/Cluster/Cluster/Chart-backend/Resource/Default"},
                "Properties": {"Manifest": manifest, "Overwrite": True},
            },
        },
        "Conditions": {"CDKMetadataAvailable": {}},
    }
    assert normalize_template(template) == {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Code": {
                        "S3Key": "<asset-hash>.zip",
                        "ZipFile": f"<1001 characters, {digest('x' * 1001)}>",
                    }
                },
            },
            "ChartApp": {
                "Type": "Custom::AWSCDK-EKS-KubernetesResource",
                "Metadata": {"aws:cdk:path": "dev/Cluster/Cluster/Chart-backend/Resource/Default"},
                "Properties": {
                    "Manifest": {"chart": "backend", "digest": digest(manifest)},
                    "Overwrite": True,
                },
            },
        }
    }
    # A changed manifest changes the digest: the snapshot still shows that a chart changed.
    changed = {"Fn::Join": ["", ['[{"kind":"Namespace","x":"', {"Ref": "Other"}, '"}]']]}
    assert digest(changed) != digest(manifest)
