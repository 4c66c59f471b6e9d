"""checkov on every synthesized CloudFormation template: zero failures outside the skip list.

One run over the session's synth, without .checkov-cfn.yaml's skips: the gate is every
failure outside the skip list, and every skipped check must still fail somewhere, so a stale
entry is noticed. (Same answer as a run with --skip-check beside one without, for half the
CPU.)
checkov lives in its own venv (scripts/checkov-venv.sh): it pins old shared packages.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, Synthesized

SKIP_FILE = ROOT / ".checkov-cfn.yaml"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def skip_list() -> dict[str, str]:
    entries = yaml.safe_load(SKIP_FILE.read_text())["skip"]
    return {entry["id"]: " ".join(entry["reason"].split()) for entry in entries}


def _command(directory: Path, skip: list[str]) -> list[str]:
    command = [str(CHECKOV), "-d", str(directory), "--framework", "cloudformation"]
    command += ["--compact", "--quiet", "--skip-download", "-o", "json"]
    return command + (["--skip-check", ",".join(skip)] if skip else [])


def _failed(stdout: str) -> list[dict[str, Any]]:
    report = json.loads(stdout) if stdout.strip() else {}
    reports = report if isinstance(report, list) else [report]
    return [f for r in reports for f in r.get("results", {}).get("failed_checks", [])]


@pytest.fixture(scope="module")
def runs(
    synthesized: Synthesized, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    subprocess.run([str(ROOT / "scripts" / "checkov-venv.sh")], check=True, cwd=ROOT)
    directory = tmp_path_factory.mktemp("templates")
    templates = sorted(Path(synthesized.outdir).rglob("*.template.json"))
    assert len(templates) > len(synthesized.templates)  # every stage, plus deploy access
    for template in templates:
        shutil.copy(template, directory / template.name)
    result = subprocess.run(
        _command(directory, []), capture_output=True, text=True, check=False, cwd=ROOT
    )
    unskipped = _failed(result.stdout)
    skipped = set(skip_list())
    gate = [f for f in unskipped if f["check_id"] not in skipped]
    return gate, unskipped


def test_every_skip_has_a_reason() -> None:
    for check_id, reason in skip_list().items():
        assert check_id.startswith("CKV_AWS_"), check_id
        assert len(reason) >= 60, f"{check_id}: give a real reason"


def test_no_failure_outside_the_skip_list(
    runs: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    gate, _ = runs
    assert [(f["check_id"], f["file_path"], f["resource"]) for f in gate] == []


def test_every_skip_still_fires(runs: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    _, unskipped = runs
    fired = {f["check_id"] for f in unskipped}
    assert fired, "checkov found nothing at all: is it running?"
    assert set(skip_list()) <= fired, set(skip_list()) - fired
