"""What a pricing rule may know about the whole stage, computed once before the walk.

Some costs of one resource depend on others. In a stage that sleeps, Scheduler schedules of
its cluster stack invoke the stage-sleep function with a ``SleepEvent``
(openmarket_cdk/stage_sleep/runtime/contract.py) whose plan says what sleeps: at "sleep" the
node groups of the plan's zones go to 0, the ALB it names is deleted (its Ingress leaves the
controller's class) and its provisioned Aurora cluster stops; at "finish-sleep", once no node
is left, the NAT instance carrying its tag stops; at "wake" all of it comes back. Each of
them therefore runs from a wake schedule's time to a sleep (or finish-sleep) schedule's time.
Besides: a Lambda function's invocations come from the schedule that targets it, a log group
belongs to a deploy-time function, an EIP belongs to a NAT gateway.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openmarket_cdk.config import StageConfig
from openmarket_cdk.stage_sleep.runtime.contract import ZONE_TAG, SleepEvent, StagePlan
from tools.assembly import Resource, StackTemplate, StageAssembly, as_number, flatten
from tools.cost.assumptions import assumption
from tools.cost.hours import (
    HOURS_PER_MONTH,
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
# A node group's bounds: its template has no ScalingConfig, this custom resource sets them.
NODEGROUP_SCALING_TYPE = "Custom::NodegroupScaling"
_ALB_NAME_ANNOTATION = "alb.ingress.kubernetes.io/load-balancer-name"
# EventBridge Scheduler's default when a schedule names no time zone.
_DEFAULT_TIME_ZONE = "UTC"
# The stage-sleep actions a template's schedules run (check-wake is a one-time schedule the
# function makes itself after each wake).
_SLEEP = "sleep"
_FINISH_SLEEP = "finish-sleep"
_WAKE = "wake"
_ALL_MONTH = f"counted {HOURS_PER_MONTH:.0f} h/month"


@dataclass(frozen=True)
class Invocations:
    """Invocations per month of one application function and how they were derived."""

    per_month: float
    how: str


@dataclass(frozen=True)
class SleepSchedule:
    """An enabled Scheduler schedule that invokes a Lambda function (the stage-sleep
    function) with a stage-sleep event: its action and the plan of what sleeps."""

    schedule: Resource
    function: Resource
    event: SleepEvent

    @property
    def action(self) -> str:
        return self.event.action

    @property
    def plan(self) -> StagePlan:
        return self.event.plan

    @property
    def address(self) -> str:
        return self.schedule.address


@dataclass(frozen=True)
class NodegroupBounds:
    """A node group's minimum and maximum nodes, and where they were read."""

    minimum: int
    maximum: int
    source: str  # the Custom::NodegroupScaling's address


@dataclass(frozen=True)
class Sleep:
    """The daily window a resource runs in, from the schedules that stop and start it."""

    window: DailyWindow
    time_zone: str
    verb: str  # what happens to it outside the window: "stopped", "deleted", "scaled to 0"
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


# A check of a window beyond its two times: raises UnmodelledWindow with the reason.
WindowCheck = Callable[["SleepSchedule", DailyWindow, str], None]


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


def _resource_tags(resource: Resource) -> set[tuple[str, str]]:
    """A resource's ``Tags`` as (key, value) pairs: a list of ``{"Key": ..., "Value": ...}``
    (EC2) or a map (EKS node groups)."""
    tags: set[tuple[str, str]] = set()
    raw = resource.prop("Tags", default=[]) or []
    pairs = (
        [{"Key": key, "Value": value} for key, value in raw.items()]
        if isinstance(raw, Mapping)
        else raw
    )
    for tag in pairs:
        if isinstance(tag, Mapping):
            key, value = flatten(tag.get("Key")), flatten(tag.get("Value"))
            if key is not None and value is not None:
                tags.add((key, value))
    return tags


def _addresses(entries: Iterable[SleepSchedule]) -> list[str]:
    return list(dict.fromkeys(entry.address for entry in entries))


def _functions(entries: Iterable[SleepSchedule]) -> str:
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


def _plan_problem(plan: StagePlan) -> str | None:
    """What the estimator cannot read in a plan that passed the contract's own checks."""
    for name in ("load_balancer_name", "nat_instance_tag", "database_cluster"):
        value = getattr(plan, name)
        if value is not None and not (isinstance(value, str) and value):
            return f"{name} {json.dumps(value)} is not a name"
    if plan.nat_instance_tag is not None and "=" not in plan.nat_instance_tag:
        return f"nat_instance_tag {json.dumps(plan.nat_instance_tag)} is not key=value"
    for zone in plan.zones:
        if not isinstance(zone.zone, str) or not all(
            isinstance(size, int) and not isinstance(size, bool)
            for size in (zone.min_size, zone.max_size)
        ):
            return f"zone {zone!r} is not a zone with integer sizes"
    return None


def nodegroup_name(r: Resource) -> str:
    """A node group's name for reports: its ``NodegroupName``, else (CloudFormation names
    it) its logical id."""
    return flatten(r.prop("NodegroupName")) or r.logical_id


def nodegroup_zone(r: Resource) -> str | None:
    """The zone a node group's ``openmarket:zone`` tag names (how stage sleep finds it)."""
    return flatten(r.prop("Tags", ZONE_TAG))


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
        self.sleep = config.sleep
        self.working_hours_per_month = working_hours_per_month(self.sleep)
        self.deploy_time_functions = self._deploy_time_functions()
        # Their log groups, made by name (``/aws/lambda/<name>``) rather than by reference.
        self.deploy_time_log_groups = {
            f"/aws/lambda/{name}"
            for r in self.of_type("AWS::Lambda::Function")
            if r.address in self.deploy_time_functions and (name := flatten(r.prop("FunctionName")))
        }
        self.sleep_schedules = self._sleep_schedules()
        self.nodegroup_bounds = self._nodegroup_bounds()
        self.nodes_unfound = self._nodes_unfound()
        self.nodegroup_sleeps = self._nodegroup_sleeps()
        self.db_cluster_sleeps = self._db_cluster_sleeps()
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

    def _sleep_schedules(self) -> list[SleepSchedule]:
        """Enabled schedules that invoke a Lambda function with a stage-sleep event (an
        input with an ``action`` or a ``plan``), read as the function reads it
        (``SleepEvent.from_json``); one it would refuse is not modelled, with a warning."""
        found: list[SleepSchedule] = []
        for r in self.enabled_schedules():
            function = self.resolve(r.stack, r.prop("Target", "Arn"))
            if function is None or function.type != "AWS::Lambda::Function":
                continue
            payload = _json_input(r.prop("Target", "Input"))
            if "action" not in payload and "plan" not in payload:
                continue
            try:
                event = SleepEvent.from_json(payload)
                problem = _plan_problem(event.plan)
            except ValueError as error:  # ContractError, or a plan that is not an object
                problem = str(error) or type(error).__name__
            if problem is not None:
                self.warnings.append(
                    f"{r.address} invokes {function.address} with a stage-sleep input it "
                    f"cannot read ({problem}): not modelled"
                )
                continue
            found.append(SleepSchedule(r, function, event))
        return found

    def _asleep(
        self,
        subject: str,
        stops: Sequence[SleepSchedule],
        starts: Sequence[SleepSchedule],
        verb: str,
        by: Callable[[SleepSchedule, SleepSchedule], str],
        check: WindowCheck | None = None,
    ) -> Sleep | None:
        """The window ``subject`` runs in, between the one wake schedule that brings it back
        (``starts``) and the one schedule that puts it to sleep (``stops``); None, with a
        warning when either is there, when it is not modelled (counted all month)."""
        stopped_by, started_by = _addresses(stops), _addresses(starts)
        if not stopped_by and not started_by:
            return None
        if not stopped_by or not started_by:
            # Put to sleep and never woken (or the reverse): the schedules are half there,
            # and what it costs then is anyone's guess. Keep the whole month.
            if stopped_by:
                self.warnings.append(
                    f"{subject} is {verb} by {', '.join(stopped_by)} but no enabled "
                    f"schedule wakes it: {_ALL_MONTH}"
                )
            else:
                self.warnings.append(
                    f"{subject} is woken by {', '.join(started_by)} but no enabled schedule "
                    f"puts it to sleep: {_ALL_MONTH}"
                )
            return None
        if len(stopped_by) > 1 or len(started_by) > 1:
            self.warnings.append(
                f"{subject} has several sleep or wake schedules "
                f"({', '.join(stopped_by + started_by)}): not modelled, {_ALL_MONTH}"
            )
            return None
        stop, start = stops[0], starts[0]
        try:
            window, time_zone = _window(start.schedule, stop.schedule)
            if check is not None:
                check(stop, window, time_zone)
        except UnmodelledWindow as why:
            self.warnings.append(f"{subject}: {why}: not modelled, {_ALL_MONTH}")
            return None
        return Sleep(window, time_zone, verb, by(stop, start))

    def _nodegroup_bounds(self) -> dict[str, NodegroupBounds]:
        """Node group address -> its bounds from the ``Custom::NodegroupScaling`` whose
        ``NodegroupName`` refers to it (its own template has no ScalingConfig)."""
        bounds: dict[str, NodegroupBounds] = {}
        for r in self.of_type(NODEGROUP_SCALING_TYPE):
            groups = [
                t
                for t in self.assembly.targets(r.stack, r.prop("NodegroupName"))
                if t.type == "AWS::EKS::Nodegroup"
            ]
            if len(groups) != 1:
                self.warnings.append(
                    f"{r.address} sets the bounds of no node group of the stage: not modelled"
                )
                continue
            (group,) = groups
            minimum = int(as_number(r.prop("MinSize"), -1))
            maximum = int(as_number(r.prop("MaxSize"), -1))
            if not 0 <= minimum <= maximum:
                self.warnings.append(
                    f"{r.address}: bounds {r.prop('MinSize')!r}..{r.prop('MaxSize')!r} of node "
                    f"group {nodegroup_name(group)} are unreadable: not modelled"
                )
                continue
            if group.address in bounds:
                self.warnings.append(
                    f"node group {nodegroup_name(group)} has several {NODEGROUP_SCALING_TYPE} "
                    f"({bounds[group.address].source}, {r.address}): the first is priced"
                )
                continue
            bounds[group.address] = NodegroupBounds(minimum, maximum, r.address)
        return bounds

    def _eks_cluster_name(self, r: Resource) -> str | None:
        """The name of the EKS cluster a node group's ``ClusterName`` names."""
        value = r.prop("ClusterName")
        target = self.resolve(r.stack, value)
        if target is not None:
            return flatten(target.prop("Name")) if target.type == "AWS::EKS::Cluster" else None
        return flatten(value)

    def _nodes_unfound(self) -> set[str]:
        """Schedules whose plan names a zone no node group of its cluster carries (by the
        ``openmarket:zone`` tag): the function fails to find the node groups, so at "sleep"
        and "wake" it scales none and at "finish-sleep" it stops nothing."""
        tagged = {
            (self._eks_cluster_name(r), zone)
            for r in self.of_type("AWS::EKS::Nodegroup")
            if (zone := nodegroup_zone(r))
        }
        unfound: set[str] = set()
        for entry in self.sleep_schedules:
            if entry.action not in (_SLEEP, _FINISH_SLEEP, _WAKE):
                continue
            missing = [
                z.zone for z in entry.plan.zones if (entry.plan.cluster_name, z.zone) not in tagged
            ]
            if missing:
                self.warnings.append(
                    f"{entry.address} names zone(s) {', '.join(missing)} of cluster "
                    f"{entry.plan.cluster_name}, but no node group of it carries the tag "
                    f"{ZONE_TAG} for them: the function would fail to find its node groups "
                    "(not modelled as scaling any, or as stopping the NAT instance)"
                )
                unfound.add(entry.address)
        return unfound

    def _nodegroup_sleeps(self) -> dict[str, Sleep]:
        """Node group address -> the window it runs in: a "sleep" schedule scales it to 0
        and a "wake" schedule back to its zone's minimum when their plan names its cluster
        and its zone (the function finds the group by its ``openmarket:zone`` tag)."""
        groups = {
            r.address: (r, self._eks_cluster_name(r), nodegroup_zone(r))
            for r in self.of_type("AWS::EKS::Nodegroup")
        }
        acting = [
            e
            for e in self.sleep_schedules
            if e.action in (_SLEEP, _WAKE) and e.address not in self.nodes_unfound
        ]
        sleeps: dict[str, Sleep] = {}
        for address, (r, cluster, zone) in sorted(groups.items()):
            if zone is None:
                continue
            mine = [
                e
                for e in acting
                if e.plan.cluster_name == cluster and any(z.zone == zone for z in e.plan.zones)
            ]
            sleep = self._asleep(
                f"node group {nodegroup_name(r)} ({zone})",
                [e for e in mine if e.action == _SLEEP],
                [e for e in mine if e.action == _WAKE],
                "scaled to 0",
                lambda stop, start: (
                    f"by {stop.address}, scaled back by {start.address} "
                    f"({_functions((stop, start))})"
                ),
            )
            if sleep is None:
                continue
            sleeps[address] = sleep
            bounds = self.nodegroup_bounds.get(address)
            (wake,) = [e for e in mine if e.action == _WAKE]
            planned = {(z.min_size, z.max_size) for z in wake.plan.zones if z.zone == zone}
            if bounds is not None and planned != {(bounds.minimum, bounds.maximum)}:
                self.warnings.append(
                    f"{wake.address} brings node group {nodegroup_name(r)} ({zone}) back with "
                    f"bounds {sorted(planned)}, its {NODEGROUP_SCALING_TYPE} sets "
                    f"{bounds.minimum}..{bounds.maximum}: the latter are priced"
                )
        return sleeps

    def _db_cluster_sleeps(self) -> dict[str, Sleep]:
        """DB cluster identifier -> the window it runs in: the plan's ``database_cluster``
        stops at "sleep" and starts at "wake"."""
        identifiers = {
            flatten(r.prop("DBClusterIdentifier")) for r in self.of_type("AWS::RDS::DBCluster")
        }
        by_cluster: dict[str, list[SleepSchedule]] = {}
        for entry in self.sleep_schedules:
            cluster = entry.plan.database_cluster
            if cluster is not None and entry.action in (_SLEEP, _WAKE):
                by_cluster.setdefault(cluster, []).append(entry)
        sleeps: dict[str, Sleep] = {}
        for cluster, entries in sorted(by_cluster.items()):
            if cluster not in identifiers:
                self.warnings.append(
                    f"{', '.join(_addresses(entries))} stop and start Aurora cluster "
                    f"'{cluster}', which no DB cluster of the stage is: not modelled"
                )
                continue
            sleep = self._asleep(
                f"Aurora cluster '{cluster}'",
                [e for e in entries if e.action == _SLEEP],
                [e for e in entries if e.action == _WAKE],
                "stopped",
                lambda stop, start: (
                    f"by {stop.address}, started by {start.address} ({_functions((stop, start))})"
                ),
            )
            if sleep is not None:
                sleeps[cluster] = sleep
        return sleeps

    def _nodes_gone_before(
        self, finish: SleepSchedule, window: DailyWindow, time_zone: str
    ) -> None:
        """finish-sleep stops the NAT instance only once no node is left: a "sleep" schedule
        of the same cluster must scale the nodes to 0 earlier on the same days."""
        sleeps = [
            e
            for e in self.sleep_schedules
            if e.action == _SLEEP
            and e.plan.cluster_name == finish.plan.cluster_name
            and e.address not in self.nodes_unfound
        ]
        for entry in sleeps:
            try:
                at = daily_time(_expression(entry.schedule))
            except UnmodelledWindow:
                continue
            if (
                _time_zone(entry.schedule) == time_zone
                and at.days == window.stop.days
                and window.start.minute_of_day < at.minute_of_day < window.stop.minute_of_day
            ):
                return
        earlier = ", ".join(_addresses(sleeps)) or "none"
        raise UnmodelledWindow(
            f"no enabled sleep schedule scales the nodes to 0 between the wake and "
            f"{finish.address} ({window.stop.weekdays} {window.stop.clock}; sleep schedules: "
            f"{earlier}), and it stops the instance only once no node is left"
        )

    def _instance_sleeps(self) -> dict[str, Sleep]:
        """EC2 instance address -> the window it runs in: the plan's ``nat_instance_tag``
        (key=value) is a tag the instance carries, a "finish-sleep" schedule stops it (after
        the nodes' sleep) and a "wake" schedule starts it. A stopped instance bills neither
        hours nor its public IPv4."""
        acting = [
            e
            for e in self.sleep_schedules
            if e.plan.nat_tag is not None
            and e.action in (_FINISH_SLEEP, _WAKE)
            and not (e.action == _FINISH_SLEEP and e.address in self.nodes_unfound)
        ]
        instances = {r.address: _resource_tags(r) for r in self.of_type("AWS::EC2::Instance")}
        by_tag: dict[tuple[str, str], list[SleepSchedule]] = {}
        for entry in acting:
            assert entry.plan.nat_tag is not None
            by_tag.setdefault(entry.plan.nat_tag, []).append(entry)
        for (key, value), entries in sorted(by_tag.items()):
            if not any((key, value) in tags for tags in instances.values()):
                self.warnings.append(
                    f"{', '.join(_addresses(entries))} stop or start the instances tagged "
                    f"{key}={value}, but no instance in the stage carries that tag: not modelled"
                )
        sleeps: dict[str, Sleep] = {}
        for address, tags in sorted(instances.items()):
            mine = [e for e in acting if e.plan.nat_tag in tags]
            sleep = self._asleep(
                f"instance {address}",
                [e for e in mine if e.action == _FINISH_SLEEP],
                [e for e in mine if e.action == _WAKE],
                "stopped",
                lambda stop, start: (
                    f"by {stop.address}, started by {start.address} ({_functions((stop, start))})"
                ),
                check=self._nodes_gone_before,
            )
            if sleep is not None:
                sleeps[address] = sleep
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
        """ALB name -> the window it exists in, for an Ingress's ALB the plan's
        ``load_balancer_name`` names: at "sleep" the Ingress leaves the controller's class
        and the AWS Load Balancer Controller deletes the ALB; at "wake" the Ingress comes
        back and the controller, on the nodes the same wake starts, makes a new one.

        It is counted from the wake's time, a few minutes early (the nodes boot first): the
        dearer side of what the templates can say.
        """
        names = self._ingress_alb_names()
        by_name: dict[str, list[SleepSchedule]] = {}
        for entry in self.sleep_schedules:
            name = entry.plan.load_balancer_name
            if name is not None and entry.action in (_SLEEP, _WAKE):
                by_name.setdefault(name, []).append(entry)
        sleeps: dict[str, Sleep] = {}
        for name, entries in sorted(by_name.items()):
            if name not in names:
                self.warnings.append(
                    f"{', '.join(_addresses(entries))} put load balancer '{name}' to sleep, "
                    f"which no Ingress creates ({_ALB_NAME_ANNOTATION}): not modelled"
                )
                continue
            sleep = self._asleep(
                f"ALB '{name}'",
                [e for e in entries if e.action == _SLEEP],
                [e for e in entries if e.action == _WAKE],
                "deleted",
                lambda stop, start: (
                    f"by {stop.address} (its Ingress leaves class {stop.plan.ingress_class}: "
                    f"the AWS Load Balancer Controller deletes it); {start.address} puts the "
                    "Ingress back and the controller recreates it once the nodes run, counted "
                    f"from that wake ({_functions((stop, start))})"
                ),
            )
            if sleep is not None:
                sleeps[name] = sleep
        return sleeps

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
            off_hours = off_hours_fires_per_month(expression, self.sleep)
            wakes += HOURS_PER_MONTH if off_hours is None else off_hours
        return wakes

    def _sleep_function_calls(self) -> dict[str, list[tuple[str, float]]]:
        """Invocations of the stage-sleep functions that no template schedule shows, per
        function address: after each wake the function schedules a one-time check-wake of
        itself, and it calls its plan's ``cluster_function`` (the one inside the VPC) once
        for the autoscaler at sleep, wake and check-wake, and once more for the Ingress at
        sleep and wake where the ALB sleeps."""
        by_name = {
            name: r
            for r in self.of_type("AWS::Lambda::Function")
            if (name := flatten(r.prop("FunctionName")))
        }
        calls: dict[str, list[tuple[str, float]]] = {}
        for entry in self.sleep_schedules:
            fires = schedule_fires_per_month(_expression(entry.schedule))
            if fires is None:
                continue
            schedule = flatten(entry.schedule.prop("Name")) or entry.address
            if entry.action == _WAKE:
                calls.setdefault(entry.function.address, []).append(
                    (f"a check-wake after each run of {schedule}", fires)
                )
            ingress = 1 if entry.plan.load_balancer_name is not None else 0
            per_run = {_SLEEP: 1 + ingress, _WAKE: 2 + ingress}.get(entry.action, 0)
            cluster = by_name.get(entry.plan.cluster_function)
            if cluster is None or cluster.address == entry.function.address or not per_run:
                continue
            caller = flatten(entry.function.prop("FunctionName")) or entry.function.address
            calls.setdefault(cluster.address, []).append(
                (
                    f"{per_run} call{'s' if per_run > 1 else ''} from {caller} per run of "
                    f"{schedule}",
                    fires * per_run,
                )
            )
        return calls

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
        calls = self._sleep_function_calls()
        plan: dict[str, Invocations] = {}
        for address in [*scheduled, *(a for a in calls if a not in scheduled)]:
            total = 0.0
            parts = []
            for expression, fires in scheduled.get(address, []):
                if fires is None:
                    fires = HOURS_PER_MONTH
                    parts.append(f"{expression} (not modelled: counted hourly)")
                else:
                    parts.append(expression)
                total += fires
            how = ["schedule " + ", ".join(parts)] if parts else []
            for text, fires in calls.get(address, []):
                how.append(text)
                total += fires
            plan[address] = Invocations(total, "; ".join(how))
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
