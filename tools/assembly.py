"""The one reader of the cloud assembly that ``make synth`` writes (``cdk.out``).

Every post-synth tool (``make cost``, ``make diagram``) reads the same things: the stacks of
one stage, their resources, what a property refers to (in its own stack or, through an
output, in another) and the Kubernetes objects the EKS construct applies. They are read
here once, the same way for every tool, so a change in how the CDK writes them is fixed in
one place.

Layout: ``cdk.out/manifest.json`` names one nested assembly per stage (artifact type
``cdk:cloud-assembly``, ``assembly-<stage>``); its own ``manifest.json`` names each stack's
template file, CloudFormation stack name and display name (``prod/Network``).

No CDK import: the templates are plain JSON, so the tools run without jsii or Node.js.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

ResourceKey = tuple[str, str]
"""(stack display name, logical id): a resource of a stage, unique across its stacks."""

KUBERNETES_RESOURCE_TYPE = "Custom::AWSCDK-EKS-KubernetesResource"

_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[^}]*)?\}")
_STACK_NAME_TOKEN = "${AWS::StackName}"


class AssemblyError(RuntimeError):
    """cdk.out is missing or unreadable, or has no assembly (or no stacks) for a stage."""


# --- templates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """One resource of a template, addressed by its stack's display name and logical id."""

    stack: str
    logical_id: str
    type: str
    properties: Mapping[str, Any]

    @property
    def key(self) -> ResourceKey:
        return (self.stack, self.logical_id)

    @property
    def address(self) -> str:
        """``prod/Network/Vpc8378EB38``: how reports name the resource."""
        return f"{self.stack}/{self.logical_id}"

    def prop(self, *path: str, default: Any = None) -> Any:
        """A nested property, e.g. ``prop('ScalingConfig', 'DesiredSize')``."""
        value: Any = self.properties
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                return default
            value = value[key]
        return value


@dataclass(frozen=True)
class StackTemplate:
    """One stack of a stage: its display name (``prod/Network``) and its template.

    ``stack_name`` is the CloudFormation stack name (``openmarket-prod-network``), which
    ``Fn::GetStackOutput`` uses to name a producer; it defaults to the display name, so a
    test can build a stack from a name and a template alone.
    """

    name: str
    template: Mapping[str, Any]
    stack_name: str = ""

    def __post_init__(self) -> None:
        if not self.stack_name:
            object.__setattr__(self, "stack_name", self.name)

    @property
    def kind(self) -> str:
        """The stack's construct id within its stage: ``Network`` for ``prod/Network``."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def description(self) -> str:
        return str(self.template.get("Description", ""))

    @property
    def outputs(self) -> Mapping[str, Mapping[str, Any]]:
        outputs: Mapping[str, Mapping[str, Any]] = self.template.get("Outputs") or {}
        return outputs

    def resources(self) -> Iterator[Resource]:
        """The template's resources, in template order."""
        for logical_id, body in (self.template.get("Resources") or {}).items():
            yield Resource(
                stack=self.name,
                logical_id=logical_id,
                type=str(body.get("Type", "")),
                properties=body.get("Properties") or {},
            )


# --- loading ---------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise AssemblyError(f"{path} not found: run `make synth` first") from None
    except json.JSONDecodeError as error:
        raise AssemblyError(f"{path} is not JSON ({error}): run `make synth` again") from None
    if not isinstance(data, dict):
        raise AssemblyError(f"{path} is not a cloud assembly manifest")
    return data


def _nested_assemblies(cdk_out: Path) -> dict[str, tuple[str, str]]:
    """Each nested assembly of ``cdk_out``: display name -> (artifact id, directory)."""
    if not cdk_out.is_dir():
        raise AssemblyError(f"{cdk_out} does not exist: run `make synth` first")
    manifest = _read_json(cdk_out / "manifest.json")
    found: dict[str, tuple[str, str]] = {}
    for artifact_id, artifact in (manifest.get("artifacts") or {}).items():
        if artifact.get("type") != "cdk:cloud-assembly":
            continue
        props = artifact.get("properties") or {}
        display = str(props.get("displayName", artifact_id))
        found[display] = (artifact_id, str(props.get("directoryName", artifact_id)))
    return found


def stage_names(cdk_out: Path) -> list[str]:
    """The stages synthesized into ``cdk_out``, in the order of its manifest."""
    return list(_nested_assemblies(cdk_out))


def load_stage(cdk_out: Path, stage: str) -> StageAssembly:
    """The stacks of ``stage`` in ``cdk_out``, in the order its assembly lists them.

    The order is the assembly's (dependency order), so output that follows it is stable.
    """
    assemblies = _nested_assemblies(cdk_out)
    directory: str | None = None
    name = stage
    for display, (artifact_id, nested) in assemblies.items():
        if stage in (display, artifact_id, f"assembly-{stage}"):
            # The stage's own name, however it was asked for (dev, assembly-dev).
            directory, name = nested, display
            break
    if directory is None:
        known = ", ".join(assemblies) or "none"
        raise AssemblyError(
            f"{cdk_out / 'manifest.json'} has no assembly for stage '{stage}' (stages: {known})"
        )
    nested_dir = cdk_out / directory
    manifest = _read_json(nested_dir / "manifest.json")
    stacks: list[StackTemplate] = []
    for artifact_id, artifact in (manifest.get("artifacts") or {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        props = artifact.get("properties") or {}
        template_file = props.get("templateFile")
        if not template_file:
            continue
        stacks.append(
            StackTemplate(
                name=str(artifact.get("displayName", artifact_id)),
                template=_read_json(nested_dir / template_file),
                stack_name=str(props.get("stackName", artifact_id)),
            )
        )
    if not stacks:
        raise AssemblyError(f"{nested_dir} holds no stack templates")
    return StageAssembly(name, stacks)


# --- values ----------------------------------------------------------------------------------


def flatten(value: Any, token: str | None = None) -> str | None:
    """A string-like property as text; None for a list, a map, a boolean or null.

    ``Fn::Join`` is joined, so a Kubernetes manifest built around tokens becomes parseable
    JSON. Any other intrinsic becomes ``token`` when one is given; otherwise a placeholder
    that names it: ``${LogicalId}`` for ``Ref``, ``${LogicalId.Attr}`` for ``Fn::GetAtt``,
    the template text for ``Fn::Sub`` (its own ``${...}`` syntax), ``${Fn::Name}`` else.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if not (isinstance(value, Mapping) and len(value) == 1):
        return None
    ((name, arg),) = value.items()
    if name == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
        delimiter, parts = arg
        if isinstance(delimiter, str) and isinstance(parts, list):
            fallback = "${token}" if token is None else token
            return delimiter.join(flatten(part, token) or fallback for part in parts)
    if token is not None:
        return token
    if name == "Ref":
        return "${" + str(arg) + "}"
    if name == "Fn::GetAtt" and isinstance(arg, list):
        return "${" + ".".join(str(part) for part in arg) + "}"
    if name == "Fn::Sub":
        text, variables = _sub_parts(arg)
        for variable, replacement in variables.items():
            text = text.replace("${" + variable + "}", flatten(replacement) or "${token}")
        return text
    return "${" + str(name) + "}"


def _sub_parts(arg: Any) -> tuple[str, Mapping[str, Any]]:
    """``Fn::Sub``'s template text and variables: ``"text"`` or ``["text", {vars}]``."""
    if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], Mapping):
        return str(arg[0]), arg[1]
    return str(arg), {}


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


# --- Kubernetes manifests --------------------------------------------------------------------


def manifest_objects(value: Any) -> tuple[dict[str, Any], ...] | None:
    """The Kubernetes objects of a KubernetesResource's ``Manifest`` property.

    The CDK writes the manifest as a JSON string, inside ``Fn::Join`` when it holds tokens
    (an image URI, a role ARN); tokens become ``${...}`` placeholders (see ``flatten``).
    None when it cannot be parsed: a caller says so rather than reading it as empty.
    """
    text = flatten(value)
    if text is None:
        return None
    try:
        parsed: Any = json.loads(text)
        while isinstance(parsed, str):  # a manifest encoded twice
            parsed = json.loads(parsed)
    except json.JSONDecodeError:
        return None
    objects = parsed if isinstance(parsed, list) else [parsed]
    return tuple(obj for obj in objects if isinstance(obj, dict))


@dataclass(frozen=True)
class KubernetesManifest:
    """What one ``Custom::AWSCDK-EKS-KubernetesResource`` applies.

    One resource per applied chart today; a chart split into parts is several resources, so
    manifests are keyed by resource, never by chart. ``objects`` is None when unreadable.
    """

    resource: Resource
    objects: tuple[dict[str, Any], ...] | None


# --- one stage -------------------------------------------------------------------------------


class StageAssembly:
    """The stacks of one stage, their resources, and the references between them."""

    def __init__(self, name: str, stacks: Iterable[StackTemplate]) -> None:
        self.name = name
        self.stacks: tuple[StackTemplate, ...] = tuple(stacks)
        self.resources: tuple[Resource, ...] = tuple(
            resource for stack in self.stacks for resource in stack.resources()
        )
        self._by_key = {resource.key: resource for resource in self.resources}
        self._by_name = {stack.name: stack for stack in self.stacks}
        self._by_stack_name = {stack.stack_name: stack for stack in self.stacks}
        self._exports: dict[str, tuple[StackTemplate, str]] = {}
        for stack in self.stacks:
            for output_name, output in stack.outputs.items():
                export = _stack_text(stack, (output.get("Export") or {}).get("Name"))
                if export:
                    self._exports[export] = (stack, output_name)

    def __getitem__(self, key: ResourceKey) -> Resource:
        return self._by_key[key]

    def stack(self, name: str) -> StackTemplate:
        """The stack with this display name (``prod/Network``)."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"stage {self.name} has no stack {name!r}") from None

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources if r.type == resource_type]

    # --- references ----------------------------------------------------------------------
    def references(self, stack: str, value: Any) -> set[ResourceKey]:
        """The resources that ``value`` (a property of a resource in ``stack``) refers to.

        Follows ``Ref``, ``Fn::GetAtt``, ``${Name}`` in ``Fn::Sub`` and, across stacks,
        ``Fn::GetStackOutput`` and ``Fn::ImportValue`` to the output's own references.
        Pseudo parameters, template parameters and unknown names are left out.
        """
        found: set[ResourceKey] = set()
        self._collect(stack, value, found, set())
        return {key for key in found if key in self._by_key}

    def targets(self, stack: str, value: Any) -> list[Resource]:
        """The resources of ``references``, by logical id (then stack): a stable order."""
        keys = sorted(self.references(stack, value), key=lambda key: (key[1], key[0]))
        return [self._by_key[key] for key in keys]

    def _collect(
        self, stack: str, value: Any, found: set[ResourceKey], seen: set[tuple[str, str]]
    ) -> None:
        if isinstance(value, list):
            for item in value:
                self._collect(stack, item, found, seen)
            return
        if not isinstance(value, Mapping):
            return
        for name, arg in value.items():
            if name == "Ref" and isinstance(arg, str):
                found.add((stack, arg))
            elif name == "Fn::GetAtt":
                if isinstance(arg, list) and arg:
                    found.add((stack, str(arg[0])))
                elif isinstance(arg, str):
                    found.add((stack, arg.split(".", 1)[0]))
            elif name == "Fn::Sub":
                text, variables = _sub_parts(arg)
                names = set(_SUB_NAME.findall(text)) - set(variables)
                found |= {(stack, logical_id) for logical_id in names}
                self._collect(stack, variables, found, seen)
            elif name == "Fn::GetStackOutput" and isinstance(arg, Mapping):
                producer = self._by_stack_name.get(str(arg.get("StackName", "")))
                if producer is not None:
                    self._follow_output(producer, str(arg.get("OutputName", "")), found, seen)
            elif name == "Fn::ImportValue":
                consumer = self._by_name.get(stack)
                export = _stack_text(consumer, arg) if consumer else None
                if export in self._exports:
                    producer, output_name = self._exports[export]
                    self._follow_output(producer, output_name, found, seen)
            else:
                self._collect(stack, arg, found, seen)

    def _follow_output(
        self,
        producer: StackTemplate,
        output_name: str,
        found: set[ResourceKey],
        seen: set[tuple[str, str]],
    ) -> None:
        if (producer.name, output_name) in seen:
            return
        seen.add((producer.name, output_name))
        output = producer.outputs.get(output_name) or {}
        self._collect(producer.name, output.get("Value"), found, seen)

    # --- Kubernetes manifests ------------------------------------------------------------
    @cached_property
    def kubernetes_manifests(self) -> Mapping[ResourceKey, KubernetesManifest]:
        """Every KubernetesResource of the stage and its objects, in template order."""
        return {
            resource.key: KubernetesManifest(resource, manifest_objects(resource.prop("Manifest")))
            for resource in self.of_type(KUBERNETES_RESOURCE_TYPE)
        }


def _stack_text(stack: StackTemplate, value: Any) -> str | None:
    """An export name as text, with ``${AWS::StackName}`` resolved for ``stack``."""
    text = flatten(value)
    return text.replace(_STACK_NAME_TOKEN, stack.stack_name) if text else None
