"""cfn-lint over every synthesized template: zero errors, no warning without a reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, Synthesized


def test_cfn_lint_is_clean(synthesized: Synthesized) -> None:
    templates = sorted(str(p) for p in Path(synthesized.outdir).glob("assembly-*/*.template.json"))
    assert len(templates) == len(synthesized.templates)
    # Two processes, half the templates each: cfn-lint uses one core, the machine has two.
    runs = [
        subprocess.Popen(
            [
                str(Path(sys.executable).parent / "cfn-lint"),
                "--config-file",
                ".cfnlintrc.yaml",
                *half,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for half in (templates[::2], templates[1::2])
    ]
    outputs = [run.communicate()[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(outputs)


def test_cfn_lint_config_gives_a_reason_for_every_ignored_check() -> None:
    lines = (ROOT / ".cfnlintrc.yaml").read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip().startswith("- "):
            assert lines[index - 1].strip().startswith("#"), f"no reason above {line.strip()}"
