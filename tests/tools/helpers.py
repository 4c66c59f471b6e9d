"""A cloud assembly on disk, as ``cdk synth`` lays it out, for the post-synth tools' tests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tools.assembly import StackTemplate


def write_cdk_out(root: Path, stacks_by_stage: Mapping[str, Sequence[StackTemplate]]) -> Path:
    """``root/cdk.out``: one nested assembly per stage, one template file per stack.

    The artifact id is the display name without its slash (``prod/Network`` ->
    ``prodNetwork``), as the CDK does before it appends a hash.
    """
    out = root / "cdk.out"
    artifacts: dict[str, Any] = {}
    for stage, stacks in stacks_by_stage.items():
        directory = f"assembly-{stage}"
        artifacts[directory] = {
            "type": "cdk:cloud-assembly",
            "properties": {"directoryName": directory, "displayName": stage},
        }
        nested = out / directory
        nested.mkdir(parents=True)
        stack_artifacts: dict[str, Any] = {f"{stage}.assets": {"type": "cdk:asset-manifest"}}
        for stack in stacks:
            artifact_id = stack.name.replace("/", "")
            template_file = f"{artifact_id}.template.json"
            (nested / template_file).write_text(json.dumps(stack.template))
            stack_artifacts[artifact_id] = {
                "type": "aws:cloudformation:stack",
                "displayName": stack.name,
                "properties": {"templateFile": template_file, "stackName": stack.stack_name},
            }
        (nested / "manifest.json").write_text(json.dumps({"artifacts": stack_artifacts}))
    (out / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    return out
