"""Pricing rules, one module per service area, and the registry that joins them.

A rule reads one resource (and, through the ``StageContext``, the rest of the stage) and
returns outcomes: ``LineItem`` (priced, from the price table and the usage assumptions),
``Free`` (costs nothing by itself, with the reason) or ``Unpriced`` (no price: listed, never
counted as zero). A type in neither ``RULES`` nor ``FREE_TYPES`` is unpriced, so a new kind
of resource always shows up in the report until someone prices it or says why it is free.

To price a new type, add its rule to the module of its service (or a new module, listed in
``SERVICES``); each type belongs to exactly one service, which the registry checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tools.cost.context import StageContext
from tools.cost.model import LineItem
from tools.cost.rules import (
    compute,
    database,
    deployment,
    kubernetes,
    network,
    observability,
    security,
    serverless,
    storage,
)
from tools.cost.rules.base import Rule, Service

SERVICES: tuple[Service, ...] = (
    compute.SERVICE,
    network.SERVICE,
    kubernetes.SERVICE,
    database.SERVICE,
    storage.SERVICE,
    observability.SERVICE,
    serverless.SERVICE,
    security.SERVICE,
    deployment.SERVICE,
)


def registry(services: Sequence[Service]) -> tuple[Mapping[str, Rule], Mapping[str, str]]:
    """The rules and free types of ``services``, by resource type.

    A type claimed twice (priced or free, in one service or two) is an error: which
    claim wins would otherwise depend on the order of ``SERVICES``.
    """
    rules: dict[str, Rule] = {}
    free: dict[str, str] = {}
    owner: dict[str, str] = {}
    for service in services:
        for resource_type in [*service.rules, *service.free]:
            if resource_type in owner:
                raise ValueError(
                    f"{resource_type} is claimed by both {owner[resource_type]} and {service.name}"
                )
            owner[resource_type] = service.name
        rules.update(service.rules)
        free.update(service.free)
    return rules, free


RULES, FREE_TYPES = registry(SERVICES)


def stage_level_items(ctx: StageContext) -> list[LineItem]:
    """Costs of the stage that belong to no one resource (data transfer out)."""
    return [item for service in SERVICES for rule in service.stage_items for item in rule(ctx)]


__all__ = ["FREE_TYPES", "RULES", "SERVICES", "Rule", "Service", "registry", "stage_level_items"]
