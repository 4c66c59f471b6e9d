"""The lint gate: ruff (lint and format) and mypy --strict, as `make lint` runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, typecheck_result

RUFF = str(Path(sys.executable).parent / "ruff")


def test_ruff_lint_is_clean() -> None:
    result = subprocess.run([RUFF, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = subprocess.run(
        [RUFF, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    """openmarket_cdk, app.py, charts, tools and every function (scripts/typecheck.sh)."""
    code, output = typecheck_result(timeout_s=900)
    assert code == 0, output
