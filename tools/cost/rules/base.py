"""What a service module of the pricing rules declares: its rules and its free types."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tools.assembly import Resource
from tools.cost.context import StageContext
from tools.cost.model import LineItem, Outcome

Rule = Callable[[Resource, StageContext], list[Outcome]]
"""Prices one resource (and may read the rest of the stage through the context)."""

StageRule = Callable[[StageContext], list[LineItem]]
"""Prices usage that belongs to no single resource, e.g. data transfer out."""


@dataclass(frozen=True)
class Service:
    """The rules of one service area (compute, network, ...), registered in ``rules``.

    ``rules`` prices a resource type; ``free`` says why a type costs nothing by itself.
    """

    name: str
    rules: Mapping[str, Rule] = field(default_factory=dict)
    free: Mapping[str, str] = field(default_factory=dict)
    stage_items: tuple[StageRule, ...] = ()
