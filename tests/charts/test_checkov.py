"""checkov on the rendered manifests: zero failures outside the repo's short skip list.

checkov runs from its own virtual environment (.venv-checkov, made by
scripts/checkov-venv.sh on first use: it pins old versions of packages the main venv shares).
One run over all stages, without the skip list: the gate is every failure outside it, and
the failures inside it must be exactly the skipped checks, so that a stale entry is noticed.
(Same answer as a run with --skip-check beside one without, for half the CPU.)
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.conftest import ROOT, RenderedStage

SKIP_FILE = ROOT / ".checkov-k8s.yaml"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
MIN_REASON = 40


def skip_list() -> dict[str, str]:
    entries = yaml.safe_load(SKIP_FILE.read_text())["skip"]
    return {entry["id"]: " ".join(entry["reason"].split()) for entry in entries}


def checkov_command(directory: Path, skip: list[str]) -> list[str]:
    command = [str(CHECKOV), "-d", str(directory), "--framework", "kubernetes"]
    command += ["--compact", "--quiet", "--skip-download", "-o", "json"]
    if skip:
        command += ["--skip-check", ",".join(skip)]
    return command


def parse(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stdout.strip(), f"checkov printed nothing: {result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    if isinstance(report, list):  # one entry per framework
        (report,) = [r for r in report if r.get("check_type") == "kubernetes"]
    parsed: dict[str, Any] = report
    return parsed


@pytest.fixture(scope="module")
def checkov_reports(
    rendered: dict[str, RenderedStage], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], dict[str, Any]]:
    subprocess.run([str(ROOT / "scripts" / "checkov-venv.sh")], check=True, cwd=ROOT)
    directory = tmp_path_factory.mktemp("manifests")
    for stage, result in rendered.items():
        (directory / stage).mkdir()
        for kind, objects in result.manifests.items():
            (directory / stage / f"{kind}.k8s.yaml").write_text(yaml.safe_dump_all(objects))
    run = subprocess.run(
        checkov_command(directory, []), capture_output=True, text=True, check=False, cwd=directory
    )
    unskipped = parse(run)
    skipped = set(skip_list())
    failed = unskipped.get("results", {}).get("failed_checks", [])
    gate = {
        "results": {"failed_checks": [c for c in failed if c["check_id"] not in skipped]},
        "summary": unskipped["summary"],
    }
    return gate, unskipped


def test_skip_list_is_short_and_justified() -> None:
    skips = skip_list()
    assert 0 < len(skips) <= 5
    for check_id, reason in skips.items():
        assert check_id.startswith("CKV_K8S_"), check_id
        assert len(reason) >= MIN_REASON, f"{check_id}: give a real reason"


def test_checkov_finds_no_failure_outside_the_skip_list(
    checkov_reports: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    gate, _ = checkov_reports
    failures = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for c in gate.get("results", {}).get("failed_checks", [])
    ]
    assert failures == []
    summary = gate["summary"]  # of the whole run: its failures are the skipped checks'
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 100 and summary["resource_count"] > 0


def test_every_skipped_check_still_fires(
    checkov_reports: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, unskipped = checkov_reports
    fired = {c["check_id"] for c in unskipped.get("results", {}).get("failed_checks", [])}
    assert fired == set(skip_list())
