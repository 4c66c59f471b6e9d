"""The stage-sleep schedules of a stage, read as the stage-sleep function reads them.

In a stage that sleeps, Scheduler schedules of its cluster stack invoke the stage-sleep
function with a ``SleepEvent`` (openmarket_cdk/stage_sleep/runtime/contract.py): its action
("sleep", "finish-sleep", "wake") and the plan of what sleeps. This module finds them and reads
their times; which resources they put to sleep, and for how long, is
tools/cost/sleep_inference.py's; the invocations they cause, tools/cost/invocations.py's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from openmarket_cdk.stage_sleep.runtime.contract import SleepEvent, StagePlan
from tools.assembly import Resource, StageAssembly, flatten
from tools.cost.hours import DailyWindow, UnmodelledWindow, daily_window

# EventBridge Scheduler's default when a schedule names no time zone.
_DEFAULT_TIME_ZONE = "UTC"
# The stage-sleep actions a template's schedules run (check-wake is a one-time schedule the
# function makes itself after each wake).
SLEEP = "sleep"
FINISH_SLEEP = "finish-sleep"
WAKE = "wake"


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


def resolve(assembly: StageAssembly, stack: str, value: Any) -> Resource | None:
    """The resource that ``value`` (a property in ``stack``) references, if any."""
    return next(iter(assembly.targets(stack, value)), None)


def enabled_schedules(assembly: StageAssembly) -> list[Resource]:
    """Scheduler schedules that fire (``State`` defaults to ENABLED)."""
    return [
        r
        for r in assembly.of_type("AWS::Scheduler::Schedule")
        if r.prop("State", default="ENABLED") == "ENABLED"
    ]


def schedule_expression(schedule: Resource) -> str:
    return flatten(schedule.prop("ScheduleExpression")) or ""


def schedule_time_zone(schedule: Resource) -> str:
    return flatten(schedule.prop("ScheduleExpressionTimezone")) or _DEFAULT_TIME_ZONE


def schedule_window(start: Resource, stop: Resource) -> tuple[DailyWindow, str]:
    """The window from ``start``'s time to ``stop``'s, and their common time zone."""
    time_zone = schedule_time_zone(start)
    if schedule_time_zone(stop) != time_zone:
        raise UnmodelledWindow(
            f"{start.address} runs in {time_zone}, {stop.address} in {schedule_time_zone(stop)}"
        )
    return daily_window(schedule_expression(start), schedule_expression(stop)), time_zone


def schedule_addresses(entries: Iterable[SleepSchedule]) -> list[str]:
    return list(dict.fromkeys(entry.address for entry in entries))


def invoked_functions(entries: Iterable[SleepSchedule]) -> str:
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


def read_sleep_schedules(assembly: StageAssembly, warnings: list[str]) -> list[SleepSchedule]:
    """Enabled schedules that invoke a Lambda function with a stage-sleep event (an input
    with an ``action`` or a ``plan``), read as the function reads it
    (``SleepEvent.from_json``); one it would refuse is not modelled, with a warning."""
    found: list[SleepSchedule] = []
    for r in enabled_schedules(assembly):
        function = resolve(assembly, r.stack, r.prop("Target", "Arn"))
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
            warnings.append(
                f"{r.address} invokes {function.address} with a stage-sleep input it "
                f"cannot read ({problem}): not modelled"
            )
            continue
        found.append(SleepSchedule(r, function, event))
    return found
