"""What a pricing rule may know about the whole stage, computed once before the walk.

Some costs of one resource depend on others: a node group is scaled to 0 by a schedule in
another stack, a Lambda function's invocations come from the schedule that targets it, a
log group belongs to a deploy-time function, an EIP belongs to a NAT gateway.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from openmarket_cdk.config import StageConfig
from tools.assembly import Resource, StackTemplate, StageAssembly, flatten
from tools.cost.assumptions import assumption
from tools.cost.hours import (
    HOURS_PER_MONTH,
    off_hours_fires_per_month,
    schedule_fires_per_month,
    working_hours_per_month,
)
from tools.cost.model import STAGE_LEVEL, LineItem
from tools.cost.prices import PriceTable

CUSTOM_RESOURCE_TYPES = ("AWS::CloudFormation::CustomResource",)
_SCALE_NODEGROUP = re.compile(r"aws-sdk:eks:updateNodegroupConfig$", re.IGNORECASE)
_STOP_DB_CLUSTER = re.compile(r"aws-sdk:rds:stopDBCluster$", re.IGNORECASE)
_START_DB_CLUSTER = re.compile(r"aws-sdk:rds:startDBCluster$", re.IGNORECASE)


@dataclass(frozen=True)
class Invocations:
    """Invocations per month of one application function and how they were derived."""

    per_month: float
    how: str


@dataclass
class NodegroupSchedule:
    """What the templates' Scheduler schedules do to one node group."""

    scaled_to_zero_by: list[str] = field(default_factory=list)
    desired_when_started: int | None = None


def _json_input(value: Any) -> dict[str, Any]:
    text = flatten(value)
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


class StageContext:
    """The stage being priced: config, prices, every resource and cross-resource facts."""

    def __init__(self, config: StageConfig, prices: PriceTable, stacks: Iterable[StackTemplate]):
        self.config = config
        self.stage = config.name
        self.prices = prices
        # Stacks in name order: the report does not depend on the assembly's order.
        self.assembly = StageAssembly(config.name, sorted(stacks, key=lambda s: s.name))
        self.stacks = list(self.assembly.stacks)
        self.resources: list[Resource] = list(self.assembly.resources)
        self.warnings: list[str] = []
        self.alb_groups: dict[str, str] = {}
        self.working_hours = config.observability.working_hours
        self.working_hours_per_month = working_hours_per_month(self.working_hours)
        self.deploy_time_functions = self._deploy_time_functions()
        self.nodegroup_schedules = self._nodegroup_schedules()
        self.stopped_db_clusters = self._stopped_db_clusters()
        self.invocations = self._invocation_plan()
        self.database_wakes_per_month = self._database_wakes()
        self.eks_log_types = self._eks_log_types()
        self.flow_log_groups = self._flow_log_groups()
        self.nat_eips = self._nat_eips()
        self.nat_gateway_count = sum(1 for r in self.resources if r.type == "AWS::EC2::NatGateway")

    # --- lookups ---------------------------------------------------------------------------
    def resolve(self, stack: str, value: Any) -> Resource | None:
        """The resource that ``value`` (a property in ``stack``) references, if any."""
        return next(iter(self.assembly.targets(stack, value)), None)

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources if r.type == resource_type]

    def assume(self, key: str) -> float:
        return assumption(key).value(self.stage)

    def calc(self) -> Calc:
        return Calc(self)

    # --- precomputed facts -----------------------------------------------------------------
    def _deploy_time_functions(self) -> set[str]:
        """Lambda functions that only serve custom resources (run during deploys)."""
        functions = {r.address for r in self.resources if r.type == "AWS::Lambda::Function"}
        found: set[str] = set()
        for r in self.resources:
            if r.type.startswith("Custom::") or r.type in CUSTOM_RESOURCE_TYPES:
                target = self.resolve(r.stack, r.properties.get("ServiceToken"))
                if target is not None and target.address in functions:
                    found.add(target.address)
        # Provider frameworks call the user handler named in their environment.
        by_address = {r.address: r for r in self.resources}
        changed = True
        while changed:
            changed = False
            for address in sorted(found):
                function = by_address[address]
                env = function.prop("Environment", "Variables", default={})
                for target in self.assembly.targets(function.stack, env):
                    if target.address in functions and target.address not in found:
                        found.add(target.address)
                        changed = True
        return found

    def _nodegroup_schedules(self) -> dict[str, NodegroupSchedule]:
        schedules: dict[str, NodegroupSchedule] = {}
        for r in self.of_type("AWS::Scheduler::Schedule"):
            if r.prop("State", default="ENABLED") != "ENABLED":
                continue
            arn = flatten(r.prop("Target", "Arn")) or ""
            if not _SCALE_NODEGROUP.search(arn):
                continue
            payload = _json_input(r.prop("Target", "Input"))
            name = payload.get("NodegroupName")
            desired = payload.get("ScalingConfig", {}).get("DesiredSize")
            if not isinstance(name, str) or not isinstance(desired, int):
                continue
            entry = schedules.setdefault(name, NodegroupSchedule())
            if desired == 0:
                entry.scaled_to_zero_by.append(r.address)
            else:
                entry.desired_when_started = max(desired, entry.desired_when_started or 0)
        return schedules

    def _stopped_db_clusters(self) -> dict[str, list[str]]:
        """DB cluster identifier -> schedules that stop it (only if another one starts it)."""
        stops: dict[str, list[str]] = {}
        starts: set[str] = set()
        for r in self.of_type("AWS::Scheduler::Schedule"):
            if r.prop("State", default="ENABLED") != "ENABLED":
                continue
            arn = flatten(r.prop("Target", "Arn")) or ""
            cluster = _json_input(r.prop("Target", "Input")).get("DbClusterIdentifier")
            if not isinstance(cluster, str):
                continue
            if _STOP_DB_CLUSTER.search(arn):
                stops.setdefault(cluster, []).append(r.address)
            elif _START_DB_CLUSTER.search(arn):
                starts.add(cluster)
        return {cluster: by for cluster, by in stops.items() if cluster in starts}

    def _database_wakes(self) -> float:
        """Off-hours runs per month of scheduled functions that read Aurora (``DB_HOST``)."""
        wakes = 0.0
        for r in self.of_type("AWS::Scheduler::Schedule"):
            if r.prop("State", default="ENABLED") != "ENABLED":
                continue
            target = self.resolve(r.stack, r.prop("Target", "Arn"))
            if target is None or target.type != "AWS::Lambda::Function":
                continue
            if "DB_HOST" not in (target.prop("Environment", "Variables", default={}) or {}):
                continue
            expression = flatten(r.prop("ScheduleExpression")) or ""
            off_hours = off_hours_fires_per_month(expression, self.working_hours)
            wakes += HOURS_PER_MONTH if off_hours is None else off_hours
        return wakes

    def _invocation_plan(self) -> dict[str, Invocations]:
        """Invocations/month of each application function (SPEC's 1 M shared out)."""
        functions = [
            r
            for r in self.of_type("AWS::Lambda::Function")
            if r.address not in self.deploy_time_functions
        ]
        scheduled: dict[str, list[tuple[str, float | None]]] = {}
        for r in self.resources:
            expression: str | None = None
            targets: list[Any] = []
            if r.type == "AWS::Scheduler::Schedule":
                expression = flatten(r.prop("ScheduleExpression"))
                targets = [r.prop("Target", "Arn")]
            elif r.type == "AWS::Events::Rule" and r.prop("ScheduleExpression"):
                expression = flatten(r.prop("ScheduleExpression"))
                targets = [t.get("Arn") for t in r.prop("Targets", default=[]) or []]
            if expression is None:
                continue
            for target in targets:
                resolved = self.resolve(r.stack, target)
                if resolved is not None and resolved.type == "AWS::Lambda::Function":
                    fires = schedule_fires_per_month(expression)
                    scheduled.setdefault(resolved.address, []).append((expression, fires))
        plan: dict[str, Invocations] = {}
        for address, entries in scheduled.items():
            total = 0.0
            parts = []
            for expression, fires in entries:
                if fires is None:
                    fires = HOURS_PER_MONTH
                    parts.append(f"{expression} (not modelled: counted hourly)")
                else:
                    parts.append(expression)
                total += fires
            plan[address] = Invocations(total, "schedule " + ", ".join(parts))
        event_driven = [r.address for r in functions if r.address not in plan]
        total = self.assume("lambda_invocations")
        rest = max(total - sum(entry.per_month for entry in plan.values()), 0.0)
        for address in event_driven:
            plan[address] = Invocations(
                rest / len(event_driven),
                f"event-driven: an equal share of {total:,.0f} invocations/month less the "
                f"scheduled ones, over {len(event_driven)} function(s)",
            )
        return plan

    def _eks_log_types(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for r in self.of_type("AWS::EKS::Cluster"):
            name = flatten(r.prop("Name")) or r.logical_id
            enabled = r.prop("Logging", "ClusterLogging", "EnabledTypes", default=[]) or []
            result[name] = [str(t.get("Type")) for t in enabled if isinstance(t, dict)]
        return result

    def _flow_log_groups(self) -> set[str]:
        groups: set[str] = set()
        for r in self.of_type("AWS::EC2::FlowLog"):
            if r.prop("LogDestinationType", default="cloud-watch-logs") != "cloud-watch-logs":
                continue
            for key in ("LogGroupName", "LogDestination"):
                target = self.resolve(r.stack, r.prop(key))
                if target is not None:
                    groups.add(target.address)
        return groups

    def _nat_eips(self) -> set[str]:
        eips: set[str] = set()
        for r in self.of_type("AWS::EC2::NatGateway"):
            target = self.resolve(r.stack, r.prop("AllocationId"))
            if target is not None:
                eips.add(target.address)
        return eips


class Calc:
    """Collects the prices and assumptions one line item used, and builds the item."""

    def __init__(self, ctx: StageContext):
        self.ctx = ctx
        self.prices: list[str] = []
        self.assumptions: list[str] = []
        self.approximate = False

    def price(self, key: str, variant: str | None = None) -> float:
        found = self.ctx.prices.get(key, variant)
        if found.ref not in self.prices:
            self.prices.append(found.ref)
        self.approximate |= found.approximate
        return found.usd

    def assume(self, key: str) -> float:
        used = assumption(key)
        if key not in self.assumptions:
            self.assumptions.append(key)
        self.approximate |= used.approximate
        return used.value(self.ctx.stage)

    def item(
        self,
        resource: Resource | None,
        category: str,
        description: str,
        quantity: str,
        monthly_usd: float,
        notes: Iterable[str] = (),
        resource_type: str | None = None,
        minimum_usd: float | None = None,
        maximum_usd: float | None = None,
    ) -> LineItem:
        return LineItem(
            category=category,
            description=description,
            quantity=quantity,
            monthly_usd=monthly_usd,
            resource=resource.address if resource else STAGE_LEVEL,
            resource_type=resource_type or (resource.type if resource else "(usage)"),
            prices=tuple(self.prices),
            assumptions=tuple(self.assumptions),
            notes=tuple(notes),
            approximate=self.approximate,
            minimum_usd=minimum_usd,
            maximum_usd=maximum_usd,
        )
