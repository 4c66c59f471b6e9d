"""What a pricing rule may know about the whole stage, computed once before the walk.

Some costs of one resource depend on others: a node group is scaled to 0 by a schedule in
another stack, a NAT instance is stopped and started by two, an ALB is deleted by a
scheduled function and recreated when the nodes return, a Lambda function's invocations come
from the schedule that targets it, a log group belongs to a deploy-time function, an EIP
belongs to a NAT gateway.
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
    DailyTime,
    DailyWindow,
    UnmodelledWindow,
    daily_time,
    daily_window,
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
_STOP_INSTANCES = re.compile(r"aws-sdk:ec2:stopInstances$", re.IGNORECASE)
_START_INSTANCES = re.compile(r"aws-sdk:ec2:startInstances$", re.IGNORECASE)
_ALB_NAME_ANNOTATION = "alb.ingress.kubernetes.io/load-balancer-name"
# EventBridge Scheduler's default when a schedule names no time zone.
_DEFAULT_TIME_ZONE = "UTC"


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
    # The schedules themselves: their times bound what follows the nodes (a deleted ALB).
    stops: list[Resource] = field(default_factory=list)
    starts: list[Resource] = field(default_factory=list)


@dataclass(frozen=True)
class Sleep:
    """The daily window a resource runs in, from the schedules that stop and start it."""

    window: DailyWindow
    time_zone: str
    verb: str  # what happens to it outside the window: "stopped", "deleted"
    by: str  # which schedules do it: "by <stop schedule>, started by <start schedule>"

    @property
    def hours_per_month(self) -> float:
        return self.window.hours_per_month

    @property
    def note(self) -> str:
        """The line item's note: ``stopped outside MON-FRI 08:50-18:30 Asia/Seoul
        (48.33 h/week -> 210.0 h/month) by ...``."""
        return (
            f"{self.verb} outside {self.window.describe()} {self.time_zone} "
            f"({self.window.hours_per_week:.4g} h/week -> {self.hours_per_month:.1f} h/month) "
            f"{self.by}"
        )


def _expression(schedule: Resource) -> str:
    return flatten(schedule.prop("ScheduleExpression")) or ""


def _time_zone(schedule: Resource) -> str:
    return flatten(schedule.prop("ScheduleExpressionTimezone")) or _DEFAULT_TIME_ZONE


def _window(start: Resource, stop: Resource) -> tuple[DailyWindow, str]:
    """The window from ``start``'s time to ``stop``'s, and their common time zone."""
    time_zone = _time_zone(start)
    if _time_zone(stop) != time_zone:
        raise UnmodelledWindow(
            f"{start.address} runs in {time_zone}, {stop.address} in {_time_zone(stop)}"
        )
    return daily_window(_expression(start), _expression(stop)), time_zone


def _check_deleted_after(node_stop: Resource, deleted_at: DailyTime, time_zone: str) -> None:
    """An ALB deleted while the nodes still run is recreated at once by the controller on
    them: the deletion must come at or after the node group's stop, on the same weekdays."""
    stopped_at = daily_time(_expression(node_stop))
    if (
        _time_zone(node_stop) != time_zone
        or stopped_at.days != deleted_at.days
        or stopped_at.minute_of_day > deleted_at.minute_of_day
    ):
        raise UnmodelledWindow(
            f"it is not deleted after {node_stop.address} stops the nodes "
            f"({stopped_at.weekdays} {stopped_at.clock}): the controller would recreate it"
        )


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
        self.instance_sleeps = self._instance_sleeps()
        self.alb_sleeps = self._alb_sleeps()
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

    def enabled_schedules(self) -> list[Resource]:
        """Scheduler schedules that fire (``State`` defaults to ENABLED)."""
        return [
            r
            for r in self.of_type("AWS::Scheduler::Schedule")
            if r.prop("State", default="ENABLED") == "ENABLED"
        ]

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
                entry.stops.append(r)
            else:
                entry.desired_when_started = max(desired, entry.desired_when_started or 0)
                entry.starts.append(r)
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

    def _scheduled_instances(self, schedule: Resource) -> list[Resource]:
        """The EC2 instances a stop/startInstances schedule names in its ``InstanceIds``."""
        target_input = schedule.prop("Target", "Input")
        if not isinstance(_json_input(target_input).get("InstanceIds"), list):
            return []
        # The ids are Refs to the instances, usually imported from the network stack; the
        # assembly follows Fn::ImportValue and Fn::GetStackOutput to the instance itself.
        named = [
            r
            for r in self.assembly.targets(schedule.stack, target_input)
            if r.type == "AWS::EC2::Instance"
        ]
        if named:
            return named
        # An id the templates cannot follow (a literal id, an export from outside the stage)
        # can only be matched by elimination: with exactly one NAT instance in the stage it
        # is that one (the only instance a stage stops on a schedule today).
        nat_instances = [
            r for r in self.of_type("AWS::EC2::Instance") if r.prop("SourceDestCheck") is False
        ]
        if len(nat_instances) == 1:
            return nat_instances
        self.warnings.append(
            f"{schedule.address} stops or starts instances the templates do not identify "
            f"(and the stage has {len(nat_instances)} NAT instances): not modelled"
        )
        return []

    def _instance_sleeps(self) -> dict[str, Sleep]:
        """EC2 instance address -> the window it runs in, when one schedule stops it and
        another starts it (a stopped instance bills neither hours nor its public IPv4)."""
        stops: dict[str, list[Resource]] = {}
        starts: dict[str, list[Resource]] = {}
        for r in self.enabled_schedules():
            arn = flatten(r.prop("Target", "Arn")) or ""
            if _STOP_INSTANCES.search(arn):
                by_instance = stops
            elif _START_INSTANCES.search(arn):
                by_instance = starts
            else:
                continue
            for instance in self._scheduled_instances(r):
                by_instance.setdefault(instance.address, []).append(r)
        sleeps: dict[str, Sleep] = {}
        all_month = f"counted {HOURS_PER_MONTH:.0f} h/month"
        for address in sorted(stops.keys() | starts.keys()):
            stopped_by = [s.address for s in stops.get(address, [])]
            started_by = [s.address for s in starts.get(address, [])]
            if not stopped_by or not started_by:
                # Stopped and never started (or the reverse): the schedules are half there,
                # and what the instance costs then is anyone's guess. Keep the whole month.
                have, lack = ("stopped", "starts") if stopped_by else ("started", "stops")
                self.warnings.append(
                    f"instance {address} is {have} by {', '.join(stopped_by or started_by)} "
                    f"but no enabled schedule {lack} it: {all_month}"
                )
                continue
            if len(stopped_by) > 1 or len(started_by) > 1:
                self.warnings.append(
                    f"instance {address} has several stop or start schedules "
                    f"({', '.join(stopped_by + started_by)}): not modelled, {all_month}"
                )
                continue
            stop, start = stops[address][0], starts[address][0]
            try:
                window, time_zone = _window(start, stop)
            except UnmodelledWindow as why:
                self.warnings.append(f"instance {address}: {why}: not modelled, {all_month}")
                continue
            sleeps[address] = Sleep(
                window, time_zone, "stopped", f"by {stop.address}, started by {start.address}"
            )
        return sleeps

    def _ingress_alb_names(self) -> set[str]:
        """The ALB names the Ingress objects ask the AWS Load Balancer Controller for."""
        names: set[str] = set()
        for manifest in self.assembly.kubernetes_manifests.values():
            for obj in manifest.objects or ():
                if obj.get("kind") != "Ingress":
                    continue
                annotations = (obj.get("metadata") or {}).get("annotations") or {}
                name = annotations.get(_ALB_NAME_ANNOTATION)
                if isinstance(name, str) and name:
                    names.add(name)
        return names

    def _alb_sleeps(self) -> dict[str, Sleep]:
        """ALB name -> the window it exists in, for an Ingress's ALB a scheduled function
        deletes.

        The function deletes the ALB once the nodes are gone; the AWS Load Balancer
        Controller, which runs on the nodes, recreates it from the Ingress when a node group
        start schedule brings them back. So the ALB exists from that start to the deletion.
        """
        names = self._ingress_alb_names()
        sleeps: dict[str, Sleep] = {}
        for r in self.enabled_schedules():
            function = self.resolve(r.stack, r.prop("Target", "Arn"))
            if function is None or function.type != "AWS::Lambda::Function":
                continue
            name = _json_input(r.prop("Target", "Input")).get("loadBalancerName")
            if not isinstance(name, str):
                continue
            if name not in names:
                self.warnings.append(
                    f"{r.address} deletes load balancer '{name}', which no Ingress creates "
                    "(alb.ingress.kubernetes.io/load-balancer-name): not modelled"
                )
                continue
            sleep, reasons = self._alb_sleep(r, function)
            if sleep is None:
                self.warnings.append(
                    f"ALB '{name}' is deleted by {r.address}, but "
                    + (
                        "; ".join(reasons)
                        or "no node group is both stopped and started by enabled schedules "
                        "(the controller recreates it while nodes run)"
                    )
                    + f": counted {HOURS_PER_MONTH:.0f} h/month"
                )
                continue
            sleeps[name] = sleep
        return sleeps

    def _alb_sleep(self, delete: Resource, function: Resource) -> tuple[Sleep | None, list[str]]:
        """The ALB's window from a node group start schedule to ``delete``, or why none."""
        candidates: list[Sleep] = []
        reasons: list[str] = []
        for name, schedule in sorted(self.nodegroup_schedules.items()):
            if not schedule.scaled_to_zero_by:
                # Nodes that never stop keep the controller running: it would recreate the
                # ALB as soon as it is gone.
                continue
            for start in schedule.starts:
                try:
                    window, time_zone = _window(start, delete)
                    for stop in schedule.stops:
                        _check_deleted_after(stop, window.stop, time_zone)
                except UnmodelledWindow as why:
                    reasons.append(f"node group '{name}' ({start.address}): {why}")
                    continue
                candidates.append(
                    Sleep(
                        window,
                        time_zone,
                        "deleted",
                        f"by {delete.address} (function {function.address}) after "
                        "the nodes stop; the AWS Load Balancer Controller recreates it when "
                        f"{start.address} starts node group '{name}'",
                    )
                )
        if not candidates:
            return None, reasons
        # The first node group up brings the controller back: the longest window (the
        # earliest start) is when the ALB returns, and the dearer count if in doubt.
        return max(candidates, key=lambda s: s.window.hours_per_week), reasons

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
