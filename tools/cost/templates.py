"""Reading synthesized CloudFormation templates: the cloud assembly, resources, intrinsics.

No CDK import: ``cdk.out/manifest.json`` names one nested assembly per stage
(``assembly-<stage>``), whose own manifest names each stack's template file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class AssemblyError(RuntimeError):
    """cdk.out is missing, or has no assembly for a stage."""


@dataclass(frozen=True)
class StackTemplate:
    """One stack of a stage: its display name (``dev/Network``) and its template."""

    name: str
    template: Mapping[str, Any]

    def resources(self) -> Iterator[Resource]:
        for logical_id, body in (self.template.get("Resources") or {}).items():
            yield Resource(
                stack=self.name,
                logical_id=logical_id,
                type=str(body.get("Type", "")),
                properties=body.get("Properties") or {},
            )


@dataclass(frozen=True)
class Resource:
    """One resource of a template."""

    stack: str
    logical_id: str
    type: str
    properties: Mapping[str, Any]

    @property
    def address(self) -> str:
        return f"{self.stack}/{self.logical_id}"

    def prop(self, *path: str, default: Any = None) -> Any:
        """A nested property, e.g. ``prop('ScalingConfig', 'DesiredSize')``."""
        value: Any = self.properties
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                return default
            value = value[key]
        return value


def load_stage_templates(cdk_out: Path, stage: str) -> list[StackTemplate]:
    """Every stack template of ``stage`` in a cloud assembly directory (``cdk.out``)."""
    manifest_path = cdk_out / "manifest.json"
    if not manifest_path.is_file():
        raise AssemblyError(f"{manifest_path} not found: run `make synth` first")
    manifest = json.loads(manifest_path.read_text())
    directory: str | None = None
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "cdk:cloud-assembly":
            continue
        props = artifact.get("properties", {})
        if stage in (props.get("displayName"), artifact_id, f"assembly-{stage}"):
            directory = props.get("directoryName", artifact_id)
            break
    if directory is None:
        raise AssemblyError(f"{manifest_path} has no assembly for stage '{stage}'")
    nested = cdk_out / directory
    nested_manifest = json.loads((nested / "manifest.json").read_text())
    stacks: list[StackTemplate] = []
    for artifact_id, artifact in nested_manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        template_file = artifact.get("properties", {}).get("templateFile")
        if not template_file:
            continue
        template = json.loads((nested / template_file).read_text())
        stacks.append(StackTemplate(str(artifact.get("displayName", artifact_id)), template))
    if not stacks:
        raise AssemblyError(f"{nested} holds no stack templates")
    return sorted(stacks, key=lambda stack: stack.name)


def flatten(value: Any) -> str | None:
    """A string with intrinsics replaced by ``${...}`` placeholders; None if not string-like.

    ``Fn::Join`` is joined (so a Kubernetes manifest built with tokens becomes parseable JSON),
    ``Ref``/``Fn::GetAtt`` become ``${LogicalId}``/``${LogicalId.Attr}``, any other intrinsic
    ``${Fn::Name}``.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping) and len(value) == 1:
        ((name, arg),) = value.items()
        if name == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            delimiter, parts = arg
            if isinstance(delimiter, str) and isinstance(parts, list):
                return delimiter.join(flatten(part) or "${token}" for part in parts)
        if name == "Ref":
            return "${" + str(arg) + "}"
        if name == "Fn::GetAtt" and isinstance(arg, list):
            return "${" + ".".join(str(part) for part in arg) + "}"
        return "${" + str(name) + "}"
    return None


def references(value: Any) -> set[str]:
    """Logical ids that ``value`` points to through ``Ref`` or ``Fn::GetAtt``."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                if isinstance(arg, list) and arg:
                    found.add(str(arg[0]))
                elif isinstance(arg, str):
                    found.add(arg.split(".", 1)[0])
            else:
                found |= references(arg)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def as_number(value: Any, default: float) -> float:
    """A numeric property (CloudFormation often writes numbers as strings)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return default
    return default
