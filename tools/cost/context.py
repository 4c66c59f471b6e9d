"""What a pricing rule may know about the whole stage, computed once before the walk.

Some costs of one resource depend on others: a node group is scaled to 0 by a schedule in
another stack, a NAT instance is stopped and started by the stage's sleep function (two
schedules invoke it), an ALB is deleted by that function and recreated when the nodes
return, a Lambda function's invocations come from the schedule that targets it, a log group
belongs to a deploy-time function, an EIP belongs to a NAT gateway.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
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
_ALB_NAME_ANNOTATION = "alb.ingress.kubernetes.io/load-balancer-name"
# EventBridge Scheduler's default when a schedule names no time zone.
_DEFAULT_TIME_ZONE = "UTC"
# The stage's sleep function (dev): one Lambda function that two schedules invoke, with
# {"action": "sleep", ...} in the evening and {"action": "wake", ...} in the morning. The
# rest of the input says what it acts on: the instances carrying a tag, an ALB to delete.
_SLEEP = "sleep"
_WAKE = "wake"
_NAT_TAG_KEY = "natInstanceTag"  # {"key": ..., "value": ...}: the instances it stops, starts
_ALB_NAME_KEY = "loadBalancerName"  # the ALB the sleep deletes (the controller recreates it)


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
class FunctionSchedule:
    """An enabled Scheduler schedule that invokes a Lambda function, with its JSON input."""

    schedule: Resource
    function: Resource
    payload: dict[str, Any]

    @property
    def action(self) -> Any:
        """The input's ``action`` (the sleep function's: "sleep" or "wake")."""
        return self.payload.get("action")


@dataclass(frozen=True)
class Sleep:
    """The daily window a resource runs in, from the schedules that stop and start it."""

    window: DailyWindow
    time_zone: str
    verb: str  # what happens to it outside the window: "stopped", "deleted"
    by: str  # which schedules do it: "by <sleep schedule>, started by <wake schedule> ..."

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


def _tag(value: Any) -> tuple[str, str] | None:
    """A ``{"key": ..., "value": ...}`` of the sleep function's input as (key, value)."""
    if not isinstance(value, Mapping):
        return None
    key, tag_value = value.get("key"), value.get("value")
    if isinstance(key, str) and key and isinstance(tag_value, str):
        return key, tag_value
    return None


def _resource_tags(resource: Resource) -> set[tuple[str, str]]:
    """A resource's ``Tags`` (``[{"Key": ..., "Value": ...}]``) as (key, value) pairs."""
    tags: set[tuple[str, str]] = set()
    for tag in resource.prop("Tags", default=[]) or []:
        if isinstance(tag, Mapping):
            key, value = flatten(tag.get("Key")), flatten(tag.get("Value"))
            if key is not None and value is not None:
                tags.add((key, value))
    return tags


def _functions(entries: Iterable[FunctionSchedule]) -> str:
    """``function A`` or ``functions A, B``: what the schedules invoke, for notes."""
    addresses = sorted({entry.function.address for entry in entries})
    return ("function " if len(addresses) == 1 else "functions ") + ", ".join(addresses)


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
        self.function_schedules = self._function_schedules()
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

    def _function_schedules(self) -> list[FunctionSchedule]:
        """Enabled schedules whose target is a Lambda function of the stage."""
        found: list[FunctionSchedule] = []
        for r in self.enabled_schedules():
            function = self.resolve(r.stack, r.prop("Target", "Arn"))
            if function is not None and function.type == "AWS::Lambda::Function":
                found.append(FunctionSchedule(r, function, _json_input(r.prop("Target", "Input"))))
        return found

    def _instance_sleeps(self) -> dict[str, Sleep]:
        """EC2 instance address -> the window it runs in, when the stage's sleep function
        stops it and starts it: an enabled "sleep" schedule and an enabled "wake" schedule
        whose input's ``natInstanceTag`` is a tag the instance carries (a stopped instance
        bills neither hours nor its public IPv4)."""
        by_action: dict[str, dict[tuple[str, str], list[FunctionSchedule]]] = {
            _SLEEP: {},
            _WAKE: {},
        }
        for entry in self.function_schedules:
            if _NAT_TAG_KEY not in entry.payload:
                continue
            tag = _tag(entry.payload[_NAT_TAG_KEY])
            action = entry.action
            if tag is None or not isinstance(action, str) or action not in by_action:
                self.warnings.append(
                    f"{entry.schedule.address} passes {_NAT_TAG_KEY} "
                    f"{json.dumps(entry.payload[_NAT_TAG_KEY])} with action "
                    f"{json.dumps(action)} to {entry.function.address}: not modelled for "
                    'any instance (expected {"key": ..., "value": ...} and "sleep" or "wake")'
                )
                continue
            by_action[action].setdefault(tag, []).append(entry)
        instances = {r.address: _resource_tags(r) for r in self.of_type("AWS::EC2::Instance")}
        for action, by_tag in by_action.items():
            for (key, value), entries in sorted(by_tag.items()):
                if not any((key, value) in tags for tags in instances.values()):
                    verb = "stop" if action == _SLEEP else "start"
                    self.warnings.append(
                        f"{', '.join(e.schedule.address for e in entries)} {verb} the instances "
                        f"tagged {key}={value}, but no instance in the stage carries that tag: "
                        "not modelled"
                    )
        sleeps: dict[str, Sleep] = {}
        all_month = f"counted {HOURS_PER_MONTH:.0f} h/month"
        for address, tags in sorted(instances.items()):
            stops = [e for tag in sorted(tags) for e in by_action[_SLEEP].get(tag, [])]
            starts = [e for tag in sorted(tags) for e in by_action[_WAKE].get(tag, [])]
            stopped_by = list(dict.fromkeys(e.schedule.address for e in stops))
            started_by = list(dict.fromkeys(e.schedule.address for e in starts))
            if not stopped_by and not started_by:
                continue
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
                    f"instance {address} has several sleep or wake schedules "
                    f"({', '.join(stopped_by + started_by)}): not modelled, {all_month}"
                )
                continue
            stop, start = stops[0], starts[0]
            try:
                window, time_zone = _window(start.schedule, stop.schedule)
            except UnmodelledWindow as why:
                self.warnings.append(f"instance {address}: {why}: not modelled, {all_month}")
                continue
            sleeps[address] = Sleep(
                window,
                time_zone,
                "stopped",
                f"by {stop.schedule.address}, started by {start.schedule.address} "
                f"({_functions((stop, start))})",
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
        """ALB name -> the window it exists in, for an Ingress's ALB the stage's sleep
        function deletes (its "sleep" schedule's input names it in ``loadBalancerName``).

        The function deletes the ALB once the nodes are gone; the AWS Load Balancer
        Controller, which runs on the nodes, recreates it from the Ingress when a node group
        start schedule brings them back. So the ALB exists from that start to the deletion.
        """
        names = self._ingress_alb_names()
        sleeps: dict[str, Sleep] = {}
        for entry in self.function_schedules:
            r, function = entry.schedule, entry.function
            name = entry.payload.get(_ALB_NAME_KEY)
            if not isinstance(name, str):
                continue
            if entry.action != _SLEEP:
                self.warnings.append(
                    f"{r.address} passes load balancer '{name}' to {function.address} with "
                    f'action {json.dumps(entry.action)}, not "{_SLEEP}": not modelled'
                )
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
        """Invocations/month of each application function (the original design's 1 M shared out)."""
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
