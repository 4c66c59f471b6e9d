"""One checkov run per session over everything the project makes: every synthesized
CloudFormation template and every rendered Kubernetes manifest (app and monitoring charts,
all stages), with no skip list, so each test module applies its own skip list to the same
report and checks that every skipped check still fires.

A probe copy of one manifest carries checkov's in-manifest suppression annotation, so the
same run shows that the annotation the monitoring tests look for is the one checkov honours.
checkov lives in its own venv (scripts/checkov-venv.sh): it pins old shared packages.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
# Directory names inside the scanned tree (each report's file_path starts with /<name>/).
TEMPLATES, APP, MONITORING, PROBE = "templates", "app", "monitoring", "probe"
PROBE_SUPPRESSION = ("checkov.io/skip1", "CKV_K8S_21=a reason long enough for a manifest")

Check = dict[str, Any]


@dataclass(frozen=True)
class Scan:
    """checkov's report per framework (``cloudformation``, ``kubernetes``)."""

    reports: dict[str, dict[str, Any]]

    def checks(self, framework: str, outcome: str, under: str) -> list[Check]:
        """``outcome``: failed, passed or skipped; only files under ``/<under>/``."""
        results = self.reports[framework].get("results", {})
        return [
            c
            for c in results.get(f"{outcome}_checks", [])
            if c["file_path"].startswith(f"/{under}/")
        ]

    def summary(self, framework: str) -> dict[str, Any]:
        summary: dict[str, Any] = self.reports[framework]["summary"]
        return summary


def run_scan(
    directory: Path,
    templates: list[Path],
    manifests: dict[str, dict[str, dict[str, list[dict[str, Any]]]]],
    probe: dict[str, Any],
) -> Scan:
    """``manifests``: part (app, monitoring) -> stage -> chart kind -> objects."""
    subprocess.run([str(ROOT / "scripts" / "checkov-venv.sh")], check=True, cwd=ROOT)
    (directory / TEMPLATES).mkdir()
    for template in templates:
        shutil.copy(template, directory / TEMPLATES / template.name)
    for part, stages in manifests.items():
        for stage, charts in stages.items():
            (directory / part / stage).mkdir(parents=True)
            for kind, objects in charts.items():
                (directory / part / stage / f"{kind}.k8s.yaml").write_text(
                    yaml.safe_dump_all(objects)
                )
    annotated: dict[str, Any] = yaml.safe_load(yaml.safe_dump(probe))
    key, value = PROBE_SUPPRESSION
    annotated["metadata"].setdefault("annotations", {})[key] = value
    (directory / PROBE).mkdir()
    (directory / PROBE / "annotated.k8s.yaml").write_text(yaml.safe_dump(annotated))
    command = [str(CHECKOV), "-d", str(directory), "--framework", "cloudformation", "kubernetes"]
    command += ["--compact", "--skip-download", "-o", "json"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=directory)
    assert result.stdout.strip(), f"checkov printed nothing: {result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    return Scan({r["check_type"]: r for r in reports})
