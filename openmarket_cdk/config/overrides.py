"""Deploy-time overrides of a stage config from CDK context (``-c key=value``).

One function, so the app (``app.node.try_get_context``) and the operator scripts (``cdk.json``
plus the ``-c`` arguments of ``CDK_ARGS``, ``scripts/preflight.py``) see the same config:

- the stage's edge (``domain``, ``hosted_zone_id``, ``hosted_zone_name``);
- the image tags to deploy (``backend_image_tag``, ``frontend_image_tag``);
- who is told and who may connect, which a fork sets once (in ``stages.py``, or in
  ``cdk.json``'s context): ``alarm_email`` (the stage's alarms and budget),
  ``sender_email`` (order e-mails, an SES identity), ``office_cidrs`` (comma separated: the
  ranges a restricted stage's ALB and public API endpoint admit, dev's),
  ``nat_instance_image_id`` (the NAT instance's pinned image) and, for the account,
  ``security_alarm_email`` (the CIS alarms).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from openmarket_cdk.config.account import AccountConfig
from openmarket_cdk.config.model import (
    StageConfig,
)
from openmarket_cdk.config.stages import EDGE_CONTEXT_KEYS, with_edge_overrides
from openmarket_cdk.config.validation import validate_account_config, validate_stage

# Context keys that choose the image tags to deploy, e.g. from CI.
IMAGE_TAG_CONTEXT = {"backend": "backend_image_tag", "frontend": "frontend_image_tag"}
# Context keys of the stage's contacts and office ranges (setting -> context key).
CONTACT_CONTEXT = {
    "observability.alarm_email": "alarm_email",
    "functions.sender_email": "sender_email",
    "office ranges (network.alb_ingress_cidrs, kubernetes.public_endpoint_cidrs)": "office_cidrs",
    "network.nat_instance_image_id": "nat_instance_image_id",
}
# The account's CIS alarms (AccountConfig.alarm_email).
SECURITY_ALARM_EMAIL_CONTEXT = "security_alarm_email"
# Every context key that changes a stage config.
CONTEXT_KEYS: tuple[str, ...] = (
    *EDGE_CONTEXT_KEYS,
    *IMAGE_TAG_CONTEXT.values(),
    *CONTACT_CONTEXT.values(),
)


def _text(context: Mapping[str, Any], key: str) -> str | None:
    value = context.get(key)
    return str(value).strip() if value not in (None, "") else None


def with_context_overrides(config: StageConfig, context: Mapping[str, Any]) -> StageConfig:
    """``config`` with what ``context`` sets: edge, image tags, contacts, office ranges
    (validated; a bad value raises ``StageConfigError`` naming the field)."""
    config = with_edge_overrides(config, context)
    k8s = config.kubernetes
    backend_tag = _text(context, IMAGE_TAG_CONTEXT["backend"]) or k8s.backend.image_tag
    frontend_tag = _text(context, IMAGE_TAG_CONTEXT["frontend"]) or k8s.frontend.image_tag
    k8s = replace(
        k8s,
        backend=replace(k8s.backend, image_tag=backend_tag),
        frontend=replace(k8s.frontend, image_tag=frontend_tag),
    )
    network = config.network
    offices = _text(context, "office_cidrs")
    if offices is not None:
        cidrs = tuple(c.strip() for c in offices.split(",") if c.strip())
        # Only where the stage restricts: an ALB behind a WAF stays open to the internet, and
        # a private-only endpoint stays private.
        if config.alb_is_restricted:
            network = replace(network, alb_ingress_cidrs=cidrs)
        if k8s.public_endpoint_cidrs:
            k8s = replace(k8s, public_endpoint_cidrs=cidrs)
    image = _text(context, "nat_instance_image_id")
    if image is not None:
        network = replace(network, nat_instance_image_id=image)
    observability = config.observability
    alarm_email = _text(context, "alarm_email")
    if alarm_email is not None:
        observability = replace(observability, alarm_email=alarm_email)
    functions = config.functions
    sender_email = _text(context, "sender_email")
    if sender_email is not None:
        functions = replace(functions, sender_email=sender_email)
    return validate_stage(
        replace(
            config,
            kubernetes=k8s,
            network=network,
            observability=observability,
            functions=functions,
        )
    )


def with_account_overrides(config: AccountConfig, context: Mapping[str, Any]) -> AccountConfig:
    """The account's settings with ``-c security_alarm_email=...`` applied (validated)."""
    email = _text(context, SECURITY_ALARM_EMAIL_CONTEXT)
    if email is None:
        return config
    return validate_account_config(replace(config, alarm_email=email))
