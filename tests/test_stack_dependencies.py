"""`cdk deploy --concurrency 4` of a stage is as safe as one stack at a time: every stack that
reads something another stack makes (an export, an SSM parameter, an object the cluster's
controllers create) depends on that stack in the cloud assembly, so the CLI never starts it
first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from openmarket_cdk.config import STAGE_NAMES
from tests.cfn import of_type
from tests.conftest import STACK_KINDS, Synthesized


def assembly_dependencies(outdir: Path, stage: str) -> dict[str, set[str]]:
    """Stack kind -> the kinds it depends on (transitively), from the stage's manifest."""
    manifest = json.loads((outdir / f"assembly-{stage}" / "manifest.json").read_text())
    artifacts = manifest["artifacts"]
    kind_of = {
        artifact_id: artifact["displayName"].split("/")[-1].lower()
        for artifact_id, artifact in artifacts.items()
        if artifact.get("type") == "aws:cloudformation:stack"
    }
    direct = {
        kind_of[artifact_id]: {
            kind_of[d] for d in artifacts[artifact_id].get("dependencies", []) if d in kind_of
        }
        for artifact_id in kind_of
    }

    def closure(kind: str, seen: set[str]) -> set[str]:
        for parent in direct[kind] - seen:
            seen.add(parent)
            closure(parent, seen)
        return seen

    return {kind: closure(kind, set()) for kind in direct}


def ssm_parameters_written(template: dict[str, Any]) -> set[str]:
    return {
        str(p["Properties"]["Name"])
        for p in of_type(template, "AWS::SSM::Parameter").values()
        if isinstance(p["Properties"].get("Name"), str)
    }


def ssm_parameters_read(template: dict[str, Any]) -> set[str]:
    """SSM-typed template parameters resolve at deploy time: the parameter must exist."""
    return {
        str(p["Default"])
        for p in template.get("Parameters", {}).values()
        if str(p.get("Type", "")).startswith("AWS::SSM::Parameter::Value")
        and not str(p.get("Default", "")).startswith("/aws/service/")
        and not str(p.get("Default", "")).startswith("/cdk-bootstrap/")
    }


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_reader_depends_on_the_stack_that_writes(
    synthesized: Synthesized, stage: str
) -> None:
    depends = assembly_dependencies(synthesized.outdir, stage)
    templates = {kind: synthesized.template(stage, kind) for kind in STACK_KINDS}
    writers = {
        name: kind
        for kind, template in templates.items()
        for name in ssm_parameters_written(template)
    }
    read = 0
    for kind, template in templates.items():
        for name in ssm_parameters_read(template):
            assert name in writers, (kind, name)
            assert writers[name] in depends[kind], f"{kind} reads {name} of {writers[name]}"
            read += 1
    assert read >= 1  # the check looks at something


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_the_observability_stack_waits_for_what_the_cluster_makes(
    synthesized: Synthesized, stage: str
) -> None:
    """Its alarms and dashboard watch the ALB the ingress controller creates and the node
    groups; the cluster stack completes only once the ALB exists."""
    depends = assembly_dependencies(synthesized.outdir, stage)
    assert {"network", "cluster"} <= depends["observability"]
    assert {"network", "data", "storage", "functions"} <= depends["cluster"]


def test_the_dependency_reader_sees_a_missing_edge() -> None:
    """The check can fail: a reader without its writer among its dependencies."""
    template = {
        "Parameters": {"P": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/x"}}
    }
    assert ssm_parameters_read(template) == {"/x"}
    assert ssm_parameters_written({"Resources": {}}) == set()
