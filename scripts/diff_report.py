"""Runs `cdk diff` for each stage against the deployed stacks and writes one Markdown report.

The CI workflow posts the report as a pull-request comment (it starts with ``MARKER``, so the
next push updates the same comment). It diffs an already synthesized assembly (``--app
cdk.out``) with ``--method=template``: the CLI then reads the deployed templates through the
CDK bootstrap lookup role (read-only) and creates no change set, so the read-only diff role
suffices.

    .venv/bin/python scripts/diff_report.py --output diff.md dev staging prod

Exit status 1 when any stage's diff failed (the report still says which, and why).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MARKER = "<!-- openmarket-cdk-diff -->"
# GitHub refuses comments over 65,536 characters; keep room for the header and the table.
MAX_REPORT_CHARS = 60_000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_COUNT = re.compile(r"Number of stacks with differences:\s*(\d+)")


@dataclass(frozen=True)
class StageDiff:
    """The outcome of `cdk diff` for one stage."""

    stage: str
    exit_code: int
    output: str

    @property
    def failed(self) -> bool:
        return self.exit_code != 0

    @property
    def summary(self) -> str:
        if self.failed:
            return f"**diff failed** (exit {self.exit_code})"
        match = _COUNT.search(self.output)
        if match is None:
            return "see the output"
        count = int(match.group(1))
        if count == 0:
            return "no differences"
        return f"{count} stack{'s' if count != 1 else ''} with differences"


def run_diff(stage: str, cdk: list[str], cdk_out: str) -> StageDiff:
    """`cdk diff --app <cdk_out> --method=template '<stage>/*'`, output and exit code."""
    command = [*cdk, "diff", "--app", cdk_out, "--method=template", "--no-color", f"{stage}/*"]
    env = dict(os.environ)
    # The CLI needs the venv's Node (>= 22) whatever PATH the caller had.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=900
    )
    output = _ANSI.sub("", result.stdout + result.stderr).strip()
    return StageDiff(stage, result.returncode, output)


def render(diffs: list[StageDiff], commit: str | None = None) -> str:
    """The Markdown report: a table of stages, then each stage's output folded."""
    lines = [
        MARKER,
        "## cdk diff against the deployed stacks",
        "",
        (f"Commit `{commit[:12]}` · " if commit else "")
        + "template diff through the read-only CDK lookup role.",
        "",
        "| stage | result |",
        "|---|---|",
        *(f"| {d.stage} | {d.summary} |" for d in diffs),
        "",
    ]
    budget = (MAX_REPORT_CHARS - sum(len(line) + 1 for line in lines)) // max(len(diffs), 1)
    for diff in diffs:
        lines += [
            f"<details{' open' if diff.failed else ''}>"
            f"<summary>{diff.stage}: {diff.summary}</summary>",
            "",
            "```diff",
            _truncate(diff.output.replace("```", "` ` `"), budget - 200),
            "```",
            "</details>",
            "",
        ]
    return "\n".join(lines)


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    note = "\n... (truncated: the job log has the whole diff)"
    return text[: max(limit - len(note), 0)] + note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stages", nargs="+")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--cdk-out", default="cdk.out")
    parser.add_argument("--cdk", default="npx --no-install cdk", help="the CDK CLI command")
    parser.add_argument("--commit", default=os.environ.get("HEAD_SHA"))
    args = parser.parse_args(argv)

    diffs = []
    for stage in args.stages:
        diff = run_diff(stage, shlex.split(args.cdk), args.cdk_out)
        # The whole output goes to the job log; the comment may be truncated.
        print(f"===== {stage}: {diff.summary}\n{diff.output}\n", flush=True)
        diffs.append(diff)
    args.output.write_text(render(diffs, args.commit) + "\n")
    return 1 if any(d.failed for d in diffs) else 0


if __name__ == "__main__":
    sys.exit(main())
