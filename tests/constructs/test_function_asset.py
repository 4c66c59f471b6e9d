"""A function's asset on a bare app: bytecode a local run leaves in the function's folder
(tests, mypy; `make test` lets pytest write it) is not part of the asset's hash, so the same
sources give the same asset, and no `cdk diff`, on every machine. Works on a copy of the
function's folder, never in the repository's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from openmarket_cdk.config import stage_config
from openmarket_cdk.constructs import function as function_module
from openmarket_cdk.constructs.function import OpenMarketFunction
from tests.constructs.bare import bare_stack

NAME = "report-generator"


@pytest.fixture
def functions_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    source = function_module.FUNCTIONS_DIR / NAME
    shutil.copytree(source, tmp_path / NAME, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(function_module, "FUNCTIONS_DIR", tmp_path)
    return tmp_path / NAME


def _code_key() -> str:
    stack = bare_stack(stage_config("dev"))
    OpenMarketFunction(stack, name=NAME, config=stage_config("dev"), environment={})
    (function,) = Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
    key: str = function["Properties"]["Code"]["S3Key"]
    return key


def test_bytecode_does_not_change_the_asset(functions_dir: Path) -> None:
    before = _code_key()
    (functions_dir / "__pycache__").mkdir()
    (functions_dir / "__pycache__" / "sales_report.cpython-311.pyc").write_bytes(b"cache")
    assert _code_key() == before


def test_a_source_file_does_change_it(functions_dir: Path) -> None:
    """The probe sees a change to what is shipped, so the test above can fail."""
    before = _code_key()
    (functions_dir / "extra.py").write_text("VALUE = 1\n")
    assert _code_key() != before
