"""Deploy-time overrides of a stage config from CDK context (``-c key=value``).

One function, so the app (``app.node.try_get_context``) and the deploy scripts (``cdk.json``
plus the ``-c`` arguments of ``CDK_ARGS``, ``scripts/preflight_edge.py``) see the same
config: the stage's edge (``domain``, ``hosted_zone_id``, ``hosted_zone_name``) and the image
tags to deploy (``backend_image_tag``, ``frontend_image_tag``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from openmarket_cdk.config.model import StageConfig
from openmarket_cdk.config.stages import EDGE_CONTEXT_KEYS, with_edge_overrides
from openmarket_cdk.config.validation import validate_stage

# Context keys that choose the image tags to deploy, e.g. from CI.
IMAGE_TAG_CONTEXT = {"backend": "backend_image_tag", "frontend": "frontend_image_tag"}
# Every context key that changes a stage config.
CONTEXT_KEYS: tuple[str, ...] = (*EDGE_CONTEXT_KEYS, *IMAGE_TAG_CONTEXT.values())


def with_context_overrides(config: StageConfig, context: Mapping[str, Any]) -> StageConfig:
    """``config`` with the edge and the image tags that ``context`` sets (validated)."""
    config = with_edge_overrides(config, context)
    k8s = config.kubernetes
    backend_tag = context.get(IMAGE_TAG_CONTEXT["backend"]) or k8s.backend.image_tag
    frontend_tag = context.get(IMAGE_TAG_CONTEXT["frontend"]) or k8s.frontend.image_tag
    changed = replace(
        k8s,
        backend=replace(k8s.backend, image_tag=str(backend_tag)),
        frontend=replace(k8s.frontend, image_tag=str(frontend_tag)),
    )
    return validate_stage(replace(config, kubernetes=changed))
