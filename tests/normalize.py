"""Snapshot normalisation: keep what the infrastructure is, drop what the machine is, and keep
every line short enough to review.

- Asset hashes (S3 keys of Lambda code, container image tags) change with the machine, the
  Python version or a rebuilt bundle, not with the infrastructure: ``<asset-hash>``.
- A Kubernetes manifest embedded in a template (``Custom::AWSCDK-EKS-KubernetesResource``)
  shows as its chart's name and a digest: the chart snapshots under tests/charts hold the
  content, readable line by line, so a template snapshot only says *that* a chart changed.
- Any other string longer than ``MAX_INLINE`` (CDK's inline handler code) shows as a digest.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

# Asset hashes: 64 hex digits.
_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")
_CHART_PATH = re.compile(r"/Chart-([^/]+)/")
MANIFEST_RESOURCE = "Custom::AWSCDK-EKS-KubernetesResource"
# Longer strings are summarised; a snapshot line must stay under 2,000 characters.
MAX_INLINE = 1000


def digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def normalize_template(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of a CloudFormation template with machine-dependent strings replaced and
    embedded manifests summarised."""
    resources = {
        logical_id: _summarise_manifest(resource)
        for logical_id, resource in _replace_strings(template.get("Resources", {})).items()
        # CDKMetadata carries the CDK version string (analytics), not infrastructure.
        if resource.get("Type") != "AWS::CDK::Metadata"
    }
    normalized = dict(_replace_strings(template), Resources=resources)
    conditions = {
        name: value
        for name, value in template.get("Conditions", {}).items()
        if name != "CDKMetadataAvailable"
    }
    if conditions:
        normalized["Conditions"] = _replace_strings(conditions)
    else:
        normalized.pop("Conditions", None)
    return _summarise_long_strings(normalized)


def _summarise_manifest(resource: dict[str, Any]) -> dict[str, Any]:
    properties = resource.get("Properties", {})
    if resource.get("Type") != MANIFEST_RESOURCE or "Manifest" not in properties:
        return resource
    path = resource.get("Metadata", {}).get("aws:cdk:path", "")
    chart = _CHART_PATH.search(path)
    summary = {
        "chart": chart.group(1) if chart else "(not a chart)",
        "digest": digest(properties["Manifest"]),
    }
    return dict(resource, Properties=dict(properties, Manifest=summary))


def _replace_strings(value: Any) -> Any:
    if isinstance(value, str):
        return _ASSET_HASH.sub("<asset-hash>", value)
    if isinstance(value, dict):
        return {_replace_strings(k): _replace_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v) for v in value]
    return value


def _summarise_long_strings(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_INLINE:
        return f"<{len(value)} characters, {digest(value)}>"
    if isinstance(value, dict):
        return {k: _summarise_long_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_summarise_long_strings(v) for v in value]
    return value
