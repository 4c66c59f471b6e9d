"""Snapshot normalisation: keep what the infrastructure is, drop what the machine is."""

from __future__ import annotations

import re
from typing import Any

# Asset hashes (S3 keys of Lambda code, container image tags) change with the machine, the
# Python version or a rebuilt bundle, not with the infrastructure.
_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def normalize_template(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of a CloudFormation template with machine-dependent strings replaced."""
    resources = {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        # CDKMetadata carries the CDK version string (analytics), not infrastructure.
        if resource.get("Type") != "AWS::CDK::Metadata"
    }
    normalized = dict(template, Resources=resources)
    conditions = {
        name: value
        for name, value in template.get("Conditions", {}).items()
        if name != "CDKMetadataAvailable"
    }
    if conditions:
        normalized["Conditions"] = conditions
    else:
        normalized.pop("Conditions", None)
    return _replace_strings(normalized)


def _replace_strings(value: Any) -> Any:
    if isinstance(value, str):
        return _ASSET_HASH.sub("<asset-hash>", value)
    if isinstance(value, dict):
        return {_replace_strings(k): _replace_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v) for v in value]
    return value
