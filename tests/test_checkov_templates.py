"""checkov on every synthesized CloudFormation template: zero failures outside the skip list.

The session's one checkov run (tests/checkov_scan.py), without .checkov-cfn.yaml's skips:
the gate is every failure outside the skip list, and every skipped check must still fail
somewhere, so a stale entry is noticed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.checkov_scan import TEMPLATES, Scan
from tests.conftest import ROOT, Synthesized

SKIP_FILE = ROOT / ".checkov-cfn.yaml"


def skip_list() -> dict[str, str]:
    entries = yaml.safe_load(SKIP_FILE.read_text())["skip"]
    return {entry["id"]: " ".join(entry["reason"].split()) for entry in entries}


@pytest.fixture(scope="module")
def runs(
    synthesized: Synthesized, checkov_scan: Scan
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    templates = sorted(Path(synthesized.outdir).rglob("*.template.json"))
    assert len(templates) > len(synthesized.templates)  # every stage, plus deploy access
    unskipped = checkov_scan.checks("cloudformation", "failed", TEMPLATES)
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
