"""What the stage-sleep schedules put to sleep, and the daily window each of those runs in.

A stage-sleep plan (tools/cost/sleep_schedules.py reads the schedules) says what sleeps: at
"sleep" the node groups of the plan's zones go to 0, the ALB it names is deleted (its Ingress
leaves the controller's class) and its provisioned Aurora cluster stops; at "finish-sleep",
once no node is left, the NAT instance carrying its tag stops; at "wake" all of it comes back.
Each of them therefore runs from a wake schedule's time to a sleep (or finish-sleep)
schedule's time. Anything the templates do not say plainly is not modelled (counted all
month), with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from openmarket_cdk.stage_sleep.runtime.contract import ZONE_TAG, StagePlan
from tools.assembly import Resource, StageAssembly, as_number, flatten
from tools.cost.hours import HOURS_PER_MONTH, DailyWindow, UnmodelledWindow, daily_time
from tools.cost.sleep_schedules import (
    FINISH_SLEEP,
    SLEEP,
    WAKE,
    SleepSchedule,
    invoked_functions,
    resolve,
    schedule_addresses,
    schedule_expression,
    schedule_time_zone,
    schedule_window,
)

# A node group's bounds: its template has no ScalingConfig, this custom resource sets them.
NODEGROUP_SCALING_TYPE = "Custom::NodegroupScaling"
_ALB_NAME_ANNOTATION = "alb.ingress.kubernetes.io/load-balancer-name"
_ALL_MONTH = f"counted {HOURS_PER_MONTH:.0f} h/month"


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
WindowCheck = Callable[[SleepSchedule, DailyWindow, str], None]


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


def nodegroup_name(r: Resource) -> str:
    """A node group's name for reports: its ``NodegroupName``, else (CloudFormation names
    it) its logical id."""
    return flatten(r.prop("NodegroupName")) or r.logical_id


def nodegroup_zone(r: Resource) -> str | None:
    """The zone a node group's ``openmarket:zone`` tag names (how stage sleep finds it)."""
    return flatten(r.prop("Tags", ZONE_TAG))


def _stopped_and_started_by(stop: SleepSchedule, start: SleepSchedule) -> str:
    return f"by {stop.address}, started by {start.address} ({invoked_functions((stop, start))})"


class StageSleeps:
    """What the stage's sleep schedules stop, scale to 0 or delete, each with its window;
    what cannot be modelled is left out (counted all month) with a warning in ``warnings``."""

    def __init__(
        self, assembly: StageAssembly, schedules: Sequence[SleepSchedule], warnings: list[str]
    ):
        self.assembly = assembly
        self.schedules = schedules
        self.warnings = warnings
        self.nodegroup_bounds = self._nodegroup_bounds()
        self.nodes_unfound = self._nodes_unfound()
        self.nodegroup_sleeps = self._nodegroup_sleeps()
        self.db_cluster_sleeps = self._db_cluster_sleeps()
        self.instance_sleeps = self._instance_sleeps()
        self.alb_sleeps = self._alb_sleeps()

    def _asleep(
        self,
        subject: str,
        entries: Sequence[SleepSchedule],
        verb: str,
        by: Callable[[SleepSchedule, SleepSchedule], str],
        *,
        stop_action: str = SLEEP,
        check: WindowCheck | None = None,
    ) -> Sleep | None:
        """The window ``subject`` runs in, between the one wake schedule of ``entries`` that
        brings it back and the one ``stop_action`` schedule that puts it to sleep; None, with a
        warning when either is there, when it is not modelled (counted all month)."""
        stops = [e for e in entries if e.action == stop_action]
        starts = [e for e in entries if e.action == WAKE]
        stopped_by, started_by = schedule_addresses(stops), schedule_addresses(starts)
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
            window, time_zone = schedule_window(start.schedule, stop.schedule)
            if check is not None:
                check(stop, window, time_zone)
        except UnmodelledWindow as why:
            self.warnings.append(f"{subject}: {why}: not modelled, {_ALL_MONTH}")
            return None
        return Sleep(window, time_zone, verb, by(stop, start))

    def _sleeps_and_wakes_by(
        self, key: Callable[[StagePlan], str | None]
    ) -> list[tuple[str, list[SleepSchedule]]]:
        """The "sleep" and "wake" schedules grouped by what their plan names with ``key``
        (schedules whose plan names nothing left out), in the name's order."""
        grouped: dict[str, list[SleepSchedule]] = {}
        for entry in self.schedules:
            name = key(entry.plan)
            if name is not None and entry.action in (SLEEP, WAKE):
                grouped.setdefault(name, []).append(entry)
        return sorted(grouped.items())

    # --- node groups -----------------------------------------------------------------------
    def _nodegroup_bounds(self) -> dict[str, NodegroupBounds]:
        """Node group address -> its bounds from the ``Custom::NodegroupScaling`` whose
        ``NodegroupName`` refers to it (its own template has no ScalingConfig)."""
        bounds: dict[str, NodegroupBounds] = {}
        for r in self.assembly.of_type(NODEGROUP_SCALING_TYPE):
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
        target = resolve(self.assembly, r.stack, value)
        if target is not None:
            return flatten(target.prop("Name")) if target.type == "AWS::EKS::Cluster" else None
        return flatten(value)

    def _nodes_unfound(self) -> set[str]:
        """Schedules whose plan names a zone no node group of its cluster carries (by the
        ``openmarket:zone`` tag): the function fails to find the node groups, so at "sleep"
        and "wake" it scales none and at "finish-sleep" it stops nothing."""
        tagged = {
            (self._eks_cluster_name(r), zone)
            for r in self.assembly.of_type("AWS::EKS::Nodegroup")
            if (zone := nodegroup_zone(r))
        }
        unfound: set[str] = set()
        for entry in self.schedules:
            if entry.action not in (SLEEP, FINISH_SLEEP, WAKE):
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
            for r in self.assembly.of_type("AWS::EKS::Nodegroup")
        }
        acting = [
            e
            for e in self.schedules
            if e.action in (SLEEP, WAKE) and e.address not in self.nodes_unfound
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
                mine,
                "scaled to 0",
                lambda stop, start: (
                    f"by {stop.address}, scaled back by {start.address} "
                    f"({invoked_functions((stop, start))})"
                ),
            )
            if sleep is None:
                continue
            sleeps[address] = sleep
            bounds = self.nodegroup_bounds.get(address)
            (wake,) = [e for e in mine if e.action == WAKE]
            planned = {(z.min_size, z.max_size) for z in wake.plan.zones if z.zone == zone}
            if bounds is not None and planned != {(bounds.minimum, bounds.maximum)}:
                self.warnings.append(
                    f"{wake.address} brings node group {nodegroup_name(r)} ({zone}) back with "
                    f"bounds {sorted(planned)}, its {NODEGROUP_SCALING_TYPE} sets "
                    f"{bounds.minimum}..{bounds.maximum}: the latter are priced"
                )
        return sleeps

    # --- Aurora ----------------------------------------------------------------------------
    def _db_cluster_sleeps(self) -> dict[str, Sleep]:
        """DB cluster identifier -> the window it runs in: the plan's ``database_cluster``
        stops at "sleep" and starts at "wake"."""
        identifiers = {
            flatten(r.prop("DBClusterIdentifier"))
            for r in self.assembly.of_type("AWS::RDS::DBCluster")
        }
        sleeps: dict[str, Sleep] = {}
        for cluster, entries in self._sleeps_and_wakes_by(lambda p: p.database_cluster):
            if cluster not in identifiers:
                self.warnings.append(
                    f"{', '.join(schedule_addresses(entries))} stop and start Aurora cluster "
                    f"'{cluster}', which no DB cluster of the stage is: not modelled"
                )
                continue
            sleep = self._asleep(
                f"Aurora cluster '{cluster}'",
                entries,
                "stopped",
                _stopped_and_started_by,
            )
            if sleep is not None:
                sleeps[cluster] = sleep
        return sleeps

    # --- NAT instance ----------------------------------------------------------------------
    def _nodes_gone_before(
        self, finish: SleepSchedule, window: DailyWindow, time_zone: str
    ) -> None:
        """finish-sleep stops the NAT instance only once no node is left: a "sleep" schedule
        of the same cluster must scale the nodes to 0 earlier on the same days."""
        sleeps = [
            e
            for e in self.schedules
            if e.action == SLEEP
            and e.plan.cluster_name == finish.plan.cluster_name
            and e.address not in self.nodes_unfound
        ]
        for entry in sleeps:
            try:
                at = daily_time(schedule_expression(entry.schedule))
            except UnmodelledWindow:
                continue
            if (
                schedule_time_zone(entry.schedule) == time_zone
                and at.days == window.stop.days
                and window.start.minute_of_day < at.minute_of_day < window.stop.minute_of_day
            ):
                return
        earlier = ", ".join(schedule_addresses(sleeps)) or "none"
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
            for e in self.schedules
            if e.plan.nat_tag is not None
            and e.action in (FINISH_SLEEP, WAKE)
            and not (e.action == FINISH_SLEEP and e.address in self.nodes_unfound)
        ]
        instances = {
            r.address: _resource_tags(r) for r in self.assembly.of_type("AWS::EC2::Instance")
        }
        by_tag: dict[tuple[str, str], list[SleepSchedule]] = {}
        for entry in acting:
            assert entry.plan.nat_tag is not None
            by_tag.setdefault(entry.plan.nat_tag, []).append(entry)
        for (key, value), entries in sorted(by_tag.items()):
            if not any((key, value) in tags for tags in instances.values()):
                self.warnings.append(
                    f"{', '.join(schedule_addresses(entries))} stop or start the instances "
                    f"tagged {key}={value}, but no instance in the stage carries that tag: "
                    "not modelled"
                )
        sleeps: dict[str, Sleep] = {}
        for address, tags in sorted(instances.items()):
            mine = [e for e in acting if e.plan.nat_tag in tags]
            sleep = self._asleep(
                f"instance {address}",
                mine,
                "stopped",
                _stopped_and_started_by,
                stop_action=FINISH_SLEEP,
                check=self._nodes_gone_before,
            )
            if sleep is not None:
                sleeps[address] = sleep
        return sleeps

    # --- ALB -------------------------------------------------------------------------------
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
        sleeps: dict[str, Sleep] = {}
        for name, entries in self._sleeps_and_wakes_by(lambda p: p.load_balancer_name):
            if name not in names:
                self.warnings.append(
                    f"{', '.join(schedule_addresses(entries))} put load balancer '{name}' to "
                    f"sleep, which no Ingress creates ({_ALB_NAME_ANNOTATION}): not modelled"
                )
                continue
            sleep = self._asleep(
                f"ALB '{name}'",
                entries,
                "deleted",
                lambda stop, start: (
                    f"by {stop.address} (its Ingress leaves class {stop.plan.ingress_class}: "
                    f"the AWS Load Balancer Controller deletes it); {start.address} puts the "
                    "Ingress back and the controller recreates it once the nodes run, counted "
                    f"from that wake ({invoked_functions((stop, start))})"
                ),
            )
            if sleep is not None:
                sleeps[name] = sleep
        return sleeps
