"""Deploy-time overrides of a stage config from CDK context (``-c key=value``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from openmarket_cdk.config.model import StageConfig
from openmarket_cdk.config.validation import validate_stage

# Context keys that choose the image tags to deploy, e.g. from CI.
IMAGE_TAG_CONTEXT = {"backend": "backend_image_tag", "frontend": "frontend_image_tag"}


def with_context_overrides(context: Callable[[str], object], config: StageConfig) -> StageConfig:
    """Image tags may come from context (``-c backend_image_tag=1.4.2``), e.g. from CI.

    ``context`` is ``app.node.try_get_context`` in the app, and the parsed ``-c`` arguments
    in ``scripts/preflight_images.py``, so both see the same tags.
    """
    k8s = config.kubernetes
    backend_tag = context(IMAGE_TAG_CONTEXT["backend"]) or k8s.backend.image_tag
    frontend_tag = context(IMAGE_TAG_CONTEXT["frontend"]) or k8s.frontend.image_tag
    changed = replace(
        k8s,
        backend=replace(k8s.backend, image_tag=str(backend_tag)),
        frontend=replace(k8s.frontend, image_tag=str(frontend_tag)),
    )
    return validate_stage(replace(config, kubernetes=changed))
