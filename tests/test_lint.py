"""cfn-lint over every synthesized template: zero errors, no warning without a reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, Synthesized


def test_cfn_lint_is_clean(synthesized: Synthesized) -> None:
    templates = sorted(str(p) for p in Path(synthesized.outdir).glob("assembly-*/*.template.json"))
    assert len(templates) == len(synthesized.templates)
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--config-file",
            ".cfnlintrc.yaml",
            *templates,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_config_gives_a_reason_for_every_ignored_check() -> None:
    lines = (ROOT / ".cfnlintrc.yaml").read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip().startswith("- "):
            assert lines[index - 1].strip().startswith("#"), f"no reason above {line.strip()}"
