"""checkov on OpenMarket's own monitoring objects: no failure, and nothing acknowledged.

What this repository renders for monitoring is the namespaces, the SecretStore and
ExternalSecrets, the PrometheusRule, the ServiceMonitor, the dashboard ConfigMap and the
NetworkPolicies (the kube-prometheus-stack release's objects are the chart's, rendered by
Helm on the cluster). None of them runs a pod, so none needs a finding acknowledged: no
object carries checkov's in-manifest suppression annotation.

checkov runs from its own virtual environment (scripts/checkov-venv.sh), with the repo's
skip list, as for the app manifests (tests/charts/test_checkov.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.conftest import ROOT
from tests.charts.monitoring.conftest import RenderedMonitoring, stage_params
from tests.charts.test_checkov import CHECKOV, checkov_command, parse, skip_list

SUPPRESSION_PREFIX = "checkov.io/skip"


@pytest.fixture(scope="module")
def checkov_report(
    monitoring: dict[str, RenderedMonitoring], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    subprocess.run([str(ROOT / "scripts" / "checkov-venv.sh")], check=True, cwd=ROOT)
    directory = tmp_path_factory.mktemp("monitoring-manifests")
    for stage, rendered in monitoring.items():
        (directory / stage).mkdir()
        for kind, objects in rendered.manifests.items():
            (directory / stage / f"{kind}.k8s.yaml").write_text(yaml.safe_dump_all(objects))
    command = checkov_command(directory, sorted(skip_list()))
    command.remove("--quiet")  # report suppressed checks too
    return parse(
        subprocess.run(command, capture_output=True, text=True, check=False, cwd=directory)
    )


def test_checkov_finds_no_failure(
    checkov_report: dict[str, Any], monitoring: dict[str, RenderedMonitoring]
) -> None:
    results = checkov_report.get("results", {})
    failures = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for c in results.get("failed_checks", [])
    ]
    assert failures == []
    # Nothing suppressed in a manifest (the repo's skip list is checkov's --skip-check).
    suppressed = [
        f"{c['check_id']} {c['resource']}"
        for c in results.get("skipped_checks", [])
        if c["check_id"] not in skip_list()
    ]
    assert suppressed == []
    summary = checkov_report["summary"]
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0
    # Every object of every stage was read, and checked.
    assert summary["resource_count"] == sum(len(r.all_objects()) for r in monitoring.values())
    assert summary["passed"] > 0
    assert CHECKOV.exists()


def annotation_keys(node: Any) -> Iterator[str]:
    """The keys of every ``annotations`` map in an object (its own, and any template's)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "annotations" and isinstance(value, dict):
                yield from value
            yield from annotation_keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from annotation_keys(item)


@pytest.mark.parametrize("stage", stage_params())
def test_nothing_is_acknowledged(monitoring: dict[str, RenderedMonitoring], stage: str) -> None:
    objects = monitoring[stage].all_objects()
    assert objects
    suppressions = [
        f"{obj['kind']}/{obj['metadata']['name']}: {key}"
        for obj in objects
        for key in annotation_keys(obj)
        if key.startswith(SUPPRESSION_PREFIX)
    ]
    assert suppressions == []


def test_checkov_reads_the_suppression_annotation(
    tmp_path: Path, monitoring: dict[str, RenderedMonitoring]
) -> None:
    """The annotation the test above looks for is the one checkov honours: on a copy of one
    object that passes a check, it turns the pass into a suppression."""
    subprocess.run([str(ROOT / "scripts" / "checkov-venv.sh")], check=True, cwd=ROOT)
    (config_map,) = [obj for obj in monitoring["dev"].all_objects() if obj["kind"] == "ConfigMap"]
    annotated: dict[str, Any] = yaml.safe_load(yaml.safe_dump(config_map))
    annotated["metadata"].setdefault("annotations", {})[f"{SUPPRESSION_PREFIX}1"] = (
        "CKV_K8S_21=a reason long enough to be given in a manifest"
    )
    (tmp_path / "annotated.k8s.yaml").write_text(yaml.safe_dump(annotated))
    command = [*checkov_command(tmp_path, []), "--check", "CKV_K8S_21"]
    command.remove("--quiet")
    report = parse(subprocess.run(command, capture_output=True, text=True, check=False))
    skipped = report.get("results", {}).get("skipped_checks", [])
    assert [c["check_id"] for c in skipped] == ["CKV_K8S_21"]
    assert report["summary"]["failed"] == 0
