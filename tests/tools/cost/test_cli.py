"""python -m tools.cost (``make cost``): tables, cost-report.json and the exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.tools.cost.helpers import res
from tests.tools.helpers import write_cdk_out
from tools.assembly import StackTemplate
from tools.cost import cli

STAGES = ("dev", "staging", "prod")


def run(tmp_path: Path, resources_by_stage: dict[str, dict[str, Any]], *extra: str) -> int:
    stacks = {
        stage: [StackTemplate(f"{stage}/Test", {"Resources": resources})]
        for stage, resources in resources_by_stage.items()
    }
    cdk_out = write_cdk_out(tmp_path, stacks)
    return cli.main(
        ["--cdk-out", str(cdk_out), "--output", str(tmp_path / "cost-report.json"), *extra]
    )


def test_within_budget_exits_0_and_writes_per_stage_totals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = {"Cluster": res("AWS::EKS::Cluster", Name="c")}
    assert run(tmp_path, dict.fromkeys(STAGES, cluster)) == 0
    report = json.loads((tmp_path / "cost-report.json").read_text())
    assert set(report["totals_usd"]) == set(STAGES)
    assert report["over_budget"] == []
    dev = report["stages"]["dev"]
    assert dev["categories"]["EKS control plane"] == pytest.approx(73.0)
    assert dev["budget_usd"] == 180.0
    out = capsys.readouterr().out
    for stage in STAGES:
        assert f"== {stage}:" in out
    assert (
        "original before" in out and "original after" in out and "418.00" in out and "249.00" in out
    )


def test_a_stage_over_its_budget_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = {f"Node{i}": res("AWS::EC2::Instance", InstanceType="m5.large") for i in range(3)}
    resources = {"dev": big, "staging": {}, "prod": {}}  # dev: 3 x ~$86 > $150
    assert run(tmp_path, resources) == cli.EXIT_OVER_BUDGET
    report = json.loads((tmp_path / "cost-report.json").read_text())
    assert report["over_budget"] == ["dev"]
    assert "over budget: dev" in capsys.readouterr().err


def test_unpriced_types_are_reported_and_fail_only_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = {"Thing": res("AWS::Bedrock::Agent")}
    resources = dict.fromkeys(STAGES, odd)
    assert run(tmp_path / "a", resources) == 0
    assert "unpriced resource types: AWS::Bedrock::Agent" in capsys.readouterr().err
    assert run(tmp_path / "b", resources, "--fail-on-unpriced") == cli.EXIT_UNPRICED
    report = json.loads((tmp_path / "b" / "cost-report.json").read_text())
    assert report["unpriced_types"] == ["AWS::Bedrock::Agent"]


def test_missing_cdk_out_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--cdk-out", str(tmp_path / "nowhere")])
    assert code == cli.EXIT_NO_ASSEMBLY
    assert "make synth" in capsys.readouterr().err


def test_one_stage_can_be_asked_for(tmp_path: Path) -> None:
    assert run(tmp_path, {"prod": {}}, "--stage", "prod", "--details") == 0
    report = json.loads((tmp_path / "cost-report.json").read_text())
    assert list(report["totals_usd"]) == ["prod"]
