"""checkov on the rendered monitoring manifests: no failure outside the repo's skip list.

Host access is acknowledged per object, not repo-wide: node-exporter (host network) and
Fluent Bit (UID 0) carry checkov's in-manifest suppression annotations with their reason.
A second run, on dev's manifests without those annotations and for those checks only,
proves each one still suppresses a real finding (and only on those objects), so a stale
annotation is noticed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.conftest import ROOT, Manifest
from tests.charts.monitoring.conftest import RenderedMonitoring
from tests.charts.test_checkov import CHECKOV, MIN_REASON, checkov_command, parse, skip_list

SUPPRESSION_PREFIX = "checkov.io/skip"
# (check, kind.namespace.name) that the annotations acknowledge, and only these.
ACKNOWLEDGED = {
    ("CKV_K8S_19", "DaemonSet.monitoring-agents.node-exporter"),
    ("CKV_K8S_23", "DaemonSet.monitoring-agents.fluent-bit"),
    ("CKV_K8S_40", "DaemonSet.monitoring-agents.fluent-bit"),
}


def without_suppressions(obj: Manifest) -> Manifest:
    copy: Manifest = json.loads(json.dumps(obj))
    annotations = copy["metadata"].get("annotations", {})
    for key in [k for k in annotations if k.startswith(SUPPRESSION_PREFIX)]:
        del annotations[key]
    return copy


def write(directory: Path, monitoring: dict[str, RenderedMonitoring], strip: bool) -> None:
    for stage, rendered in monitoring.items():
        if strip and stage != "dev":
            continue  # one stage shows that the annotations still matter
        (directory / stage).mkdir()
        for kind, objects in rendered.manifests.items():
            docs = [without_suppressions(o) if strip else o for o in objects]
            (directory / stage / f"{kind}.k8s.yaml").write_text(yaml.safe_dump_all(docs))


@pytest.fixture(scope="module")
def checkov_reports(
    monitoring: dict[str, RenderedMonitoring], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], dict[str, Any]]:
    subprocess.run([str(ROOT / "scripts" / "checkov-venv.sh")], check=True, cwd=ROOT)
    gate_dir = tmp_path_factory.mktemp("monitoring-manifests")
    stripped_dir = tmp_path_factory.mktemp("monitoring-unsuppressed")
    write(gate_dir, monitoring, strip=False)
    write(stripped_dir, monitoring, strip=True)
    gate = checkov_command(gate_dir, sorted(skip_list()))
    gate.remove("--quiet")  # report the suppressed checks too
    checks = sorted({check for check, _ in ACKNOWLEDGED})
    stripped = [*checkov_command(stripped_dir, []), "--check", ",".join(checks)]
    runs = [
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=directory
        )
        for command, directory in ((gate, gate_dir), (stripped, stripped_dir))
    ]
    # communicate() before the exit code: the full report is larger than a pipe's buffer.
    outputs = [run.communicate() for run in runs]
    gate_report, stripped_report = (
        parse(subprocess.CompletedProcess(run.args, run.returncode, *output))
        for run, output in zip(runs, outputs, strict=True)
    )
    return gate_report, stripped_report


def test_checkov_finds_no_failure(checkov_reports: tuple[dict[str, Any], dict[str, Any]]) -> None:
    gate, _ = checkov_reports
    failures = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for c in gate.get("results", {}).get("failed_checks", [])
    ]
    assert failures == []
    summary = gate["summary"]
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0
    assert summary["passed"] > 1000 and summary["resource_count"] > 150
    assert CHECKOV.exists()


def test_only_the_host_agents_are_acknowledged_with_a_reason(
    checkov_reports: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    gate, _ = checkov_reports
    skipped = gate.get("results", {}).get("skipped_checks", [])
    by_annotation = {
        (c["check_id"], c["resource"]) for c in skipped if c["check_id"] not in skip_list()
    }
    assert by_annotation == ACKNOWLEDGED
    for check in skipped:
        if check["check_id"] not in skip_list():
            reason = check["check_result"].get("suppress_comment", "")
            assert len(reason) >= MIN_REASON, check["check_id"]


def test_each_acknowledged_check_still_fires_without_its_annotation(
    checkov_reports: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, stripped = checkov_reports
    fired = {
        (c["check_id"], c["resource"]) for c in stripped.get("results", {}).get("failed_checks", [])
    }
    assert fired == ACKNOWLEDGED
