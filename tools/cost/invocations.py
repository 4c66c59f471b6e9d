"""How often the stage's functions run, from the schedules that invoke them.

A Lambda function's invocations come from the schedules (Scheduler schedules, EventBridge
rules) that target it, from the stage-sleep function's own calls that no template shows, and,
for an event-driven function, from an equal share of the rest of the original design's
invocations. Scheduled functions that read Aurora wake it when they run outside working hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from openmarket_cdk.config import StageSleepConfig
from tools.assembly import StageAssembly, flatten
from tools.cost.hours import HOURS_PER_MONTH, off_hours_fires_per_month, schedule_fires_per_month
from tools.cost.sleep_schedules import (
    SLEEP,
    WAKE,
    SleepSchedule,
    resolve,
    schedule_expression,
)


@dataclass(frozen=True)
class Invocations:
    """Invocations per month of one application function and how they were derived."""

    per_month: float
    how: str


def database_wakes(assembly: StageAssembly, working: StageSleepConfig) -> float:
    """Off-hours runs per month of scheduled functions that read Aurora (``DB_HOST``)."""
    wakes = 0.0
    for r in assembly.of_type("AWS::Scheduler::Schedule"):
        if r.prop("State", default="ENABLED") != "ENABLED":
            continue
        target = resolve(assembly, r.stack, r.prop("Target", "Arn"))
        if target is None or target.type != "AWS::Lambda::Function":
            continue
        if "DB_HOST" not in (target.prop("Environment", "Variables", default={}) or {}):
            continue
        expression = flatten(r.prop("ScheduleExpression")) or ""
        off_hours = off_hours_fires_per_month(expression, working)
        wakes += HOURS_PER_MONTH if off_hours is None else off_hours
    return wakes


def _sleep_function_calls(
    assembly: StageAssembly, sleep_schedules: Sequence[SleepSchedule]
) -> dict[str, list[tuple[str, float]]]:
    """Invocations of the stage-sleep functions that no template schedule shows, per
    function address: after each wake the function schedules a one-time check-wake of
    itself, and it calls its plan's ``cluster_function`` (the one inside the VPC) once
    for the autoscaler at sleep, wake and check-wake, and once more for the Ingress at
    sleep and wake where the ALB sleeps."""
    by_name = {
        name: r
        for r in assembly.of_type("AWS::Lambda::Function")
        if (name := flatten(r.prop("FunctionName")))
    }
    calls: dict[str, list[tuple[str, float]]] = {}
    for entry in sleep_schedules:
        fires = schedule_fires_per_month(schedule_expression(entry.schedule))
        if fires is None:
            continue
        schedule = flatten(entry.schedule.prop("Name")) or entry.address
        if entry.action == WAKE:
            calls.setdefault(entry.function.address, []).append(
                (f"a check-wake after each run of {schedule}", fires)
            )
        ingress = 1 if entry.plan.load_balancer_name is not None else 0
        per_run = {SLEEP: 1 + ingress, WAKE: 2 + ingress}.get(entry.action, 0)
        cluster = by_name.get(entry.plan.cluster_function)
        if cluster is None or cluster.address == entry.function.address or not per_run:
            continue
        caller = flatten(entry.function.prop("FunctionName")) or entry.function.address
        calls.setdefault(cluster.address, []).append(
            (
                f"{per_run} call{'s' if per_run > 1 else ''} from {caller} per run of {schedule}",
                fires * per_run,
            )
        )
    return calls


def invocation_plan(
    assembly: StageAssembly,
    deploy_time_functions: Iterable[str],
    sleep_schedules: Sequence[SleepSchedule],
    lambda_invocations: float,
) -> dict[str, Invocations]:
    """Invocations/month of each application function (the original design's 1 M,
    ``lambda_invocations``, shared out); deploy-time functions are left out."""
    deploy_time = set(deploy_time_functions)
    functions = [
        r for r in assembly.of_type("AWS::Lambda::Function") if r.address not in deploy_time
    ]
    scheduled: dict[str, list[tuple[str, float | None]]] = {}
    for r in assembly.resources:
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
            resolved = resolve(assembly, r.stack, target)
            if resolved is not None and resolved.type == "AWS::Lambda::Function":
                fires = schedule_fires_per_month(expression)
                scheduled.setdefault(resolved.address, []).append((expression, fires))
    calls = _sleep_function_calls(assembly, sleep_schedules)
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
    rest = max(lambda_invocations - sum(entry.per_month for entry in plan.values()), 0.0)
    for address in event_driven:
        plan[address] = Invocations(
            rest / len(event_driven),
            f"event-driven: an equal share of {lambda_invocations:,.0f} invocations/month less the "
            f"scheduled ones, over {len(event_driven)} function(s)",
        )
    return plan
