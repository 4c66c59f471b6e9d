"""stage-sleep: a stage sleeps outside working hours and wakes before them, through the APIs of
what owns each part. Runs outside the VPC (dev's NAT instance, which it starts, sleeps too).

``sleep`` (weekdays at stop_hour)
    1. A deploy of the stage running (a stack ``*_IN_PROGRESS``): sleep again in
       ``deploy_retry_minutes`` (a one-time schedule), at most ``deploy_retry_attempts``
       times, then fail. A sleep never starts under a deploy.
    2. Mark the stage asleep (the alerting dead man's switch holds still).
    3. ALB (dev): the cluster function moves the Ingress to a class no controller watches;
       the ALB controller, still running, deletes the ALB it made. Waits until it is gone.
    4. The cluster function scales the Cluster Autoscaler to 0: nothing adds nodes back.
    5. Every node group of the cluster to min 0, desired 0 (EKS drains the nodes).
    6. A provisioned Aurora cluster (staging): reader scaling suspended, the cluster stopped.
``finish-sleep`` (weekdays at stop_hour + finish_after_stop_minutes)
    The NAT instance (dev) stops once no node is left. Still draining: fail (retried, then
    the alarm): the NAT instance bills all night otherwise. Woken meanwhile: nothing to do.
``wake`` (weekdays before start_hour; ``make wake`` at any time)
    NAT instance started (and running), Aurora started and its scaling resumed, every node
    group back to its zone's minimum, the autoscaler back, the Ingress back in the ALB
    controller's class (it makes a new ALB once it runs), the stage marked awake, and a
    ``check-wake`` scheduled ``wake_check_after_minutes`` later.
``check-wake``
    Fails (the alarm) unless every node group has its minimum of running nodes, the
    autoscaler is available, the ALB exists (dev) and Aurora is available.

Every part is attempted; what failed is collected and raised at the end, so one broken part
does not leave the others undone and never goes unnoticed (the function's errors alarm).
This module holds the actions and the handler; each part, through its owner's API, is in
parts.py. Standard library and the runtime's boto3 only.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .contract import ContractError, SleepEvent
from .parts import (
    Aws,
    database_status,
    deploy_in_progress,
    instances_left,
    load_balancer_exists,
    mark,
    node_groups,
    release_load_balancer,
    restore_ingress,
    scale_node_groups,
    schedule_once,
    set_autoscaler,
    start_database,
    start_nat,
    stop_database,
    stop_nat,
    suspend_reader_scaling,
)

logger = logging.getLogger("stage_sleep")
logger.setLevel(logging.INFO)
if not logger.handlers:
    _handler = logging.StreamHandler(sys.stdout)
    _handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(_handler)
logger.propagate = False


class PartlyFailedError(RuntimeError):
    """Some parts of a sleep or wake failed; the others were done."""


@dataclass
class Outcome:
    """What one run did (logged as one JSON line and returned)."""

    action: str
    stage: str
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def step(self, what: str, run: Callable[[], str | None]) -> None:
        """Run one part; a failure is recorded, not raised, so the others still run."""
        try:
            result = run()
        except Exception as err:  # every part's failure is reported at the end
            self.failed.append(f"{what}: {type(err).__name__}: {err}")
            return
        if result:
            self.done.append(result)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "stage": self.stage,
            "done": self.done,
            "failed": self.failed,
        }


# --- actions ----------------------------------------------------------------------------


def sleep(event: SleepEvent, aws: Aws) -> Outcome:
    plan = event.plan
    outcome = Outcome("sleep", plan.stage)
    busy = deploy_in_progress(plan, aws.client("cloudformation"))
    if busy:
        if event.attempt >= plan.deploy_retry_attempts:
            raise PartlyFailedError(
                f"{plan.stage} did not sleep: a deploy is still running ({', '.join(busy)}) "
                f"after {event.attempt} retries"
            )
        retry = SleepEvent("sleep", plan, event.attempt + 1)
        stamp = aws.now().strftime("%Y%m%d%H%M")
        outcome.done.append(
            f"deploy running ({', '.join(busy)}): "
            + schedule_once(retry, aws, plan.deploy_retry_minutes, f"{plan.stage}-sleep-{stamp}")
        )
        return outcome
    outcome.step("mark", lambda: mark(plan, aws.client("cloudwatch"), asleep=True))
    outcome.step("load balancer", lambda: release_load_balancer(plan, aws))
    outcome.step("autoscaler", lambda: set_autoscaler(plan, aws, 0))
    outcome.step("node groups", lambda: scale_node_groups(plan, aws.client("eks"), asleep=True))
    outcome.step(
        "reader scaling",
        lambda: suspend_reader_scaling(plan, aws.client("application-autoscaling"), suspended=True),
    )
    outcome.step("database", lambda: stop_database(plan, aws.client("rds")))
    return outcome


def finish_sleep(event: SleepEvent, aws: Aws) -> Outcome:
    plan = event.plan
    outcome = Outcome("finish-sleep", plan.stage)
    if plan.nat_tag is None:
        return outcome
    desired, instances = instances_left(plan, aws.client("eks"), aws.client("autoscaling"))
    if desired > 0:
        outcome.done.append(f"woken meanwhile ({desired} nodes wanted): the NAT instance stays")
        return outcome
    if instances:
        raise PartlyFailedError(
            f"{plan.stage}: {instances} node(s) still draining; the NAT instance was not stopped"
        )
    outcome.step("NAT instance", lambda: stop_nat(plan, aws))
    return outcome


def wake(event: SleepEvent, aws: Aws) -> Outcome:
    plan = event.plan
    outcome = Outcome("wake", plan.stage)
    # The NAT instance first: booting nodes pull their images through it.
    outcome.step("NAT instance", lambda: start_nat(plan, aws))
    outcome.step("database", lambda: start_database(plan, aws.client("rds")))
    outcome.step(
        "reader scaling",
        lambda: suspend_reader_scaling(
            plan, aws.client("application-autoscaling"), suspended=False
        ),
    )
    outcome.step("node groups", lambda: scale_node_groups(plan, aws.client("eks"), asleep=False))
    outcome.step("autoscaler", lambda: set_autoscaler(plan, aws, plan.autoscaler_replicas))
    outcome.step("load balancer", lambda: restore_ingress(plan, aws))
    outcome.step("mark", lambda: mark(plan, aws.client("cloudwatch"), asleep=False))
    stamp = aws.now().strftime("%Y%m%d%H%M")
    check = SleepEvent("check-wake", plan)
    outcome.step(
        "check",
        lambda: schedule_once(
            check, aws, plan.wake_check_after_minutes, f"{plan.stage}-check-wake-{stamp}"
        ),
    )
    return outcome


def check_wake(event: SleepEvent, aws: Aws) -> Outcome:
    plan = event.plan
    outcome = Outcome("check-wake", plan.stage)

    def nodes() -> str:
        groups = node_groups(plan, aws.client("eks"))
        short = []
        for zone in plan.zones:
            group = groups[zone.zone]
            asgs = [a["name"] for a in (group.get("resources") or {}).get("autoScalingGroups", [])]
            running = 0
            if asgs:
                found = aws.client("autoscaling").describe_auto_scaling_groups(
                    AutoScalingGroupNames=asgs
                )["AutoScalingGroups"]
                running = sum(
                    1
                    for asg in found
                    for i in asg.get("Instances", [])
                    if i.get("LifecycleState") == "InService"
                )
            if running < zone.min_size:
                short.append(f"{zone.zone}: {running} of {zone.min_size}")
        if short:
            raise RuntimeError(f"nodes missing ({'; '.join(short)})")
        return "nodes at their minimum"

    def autoscaler() -> str:
        status = aws.invoke_cluster(plan.cluster_function, {})
        available = int(status.get("autoscaler", {}).get("available", 0))
        if available < 1:
            raise RuntimeError("the cluster autoscaler is not available")
        return "autoscaler available"

    def load_balancer() -> str | None:
        if plan.load_balancer_name is None:
            return None
        if not load_balancer_exists(plan, aws.client("elbv2")):
            raise RuntimeError(f"{plan.load_balancer_name} was not recreated")
        return f"{plan.load_balancer_name} exists"

    def database() -> str | None:
        if plan.database_cluster is None:
            return None
        status = database_status(plan, aws.client("rds"))
        if status != "available":
            raise RuntimeError(f"Aurora cluster {plan.database_cluster} is {status}")
        return "Aurora available"

    for what, run in (
        ("nodes", nodes),
        ("autoscaler", autoscaler),
        ("load balancer", load_balancer),
        ("database", database),
    ):
        outcome.step(what, run)
    return outcome


ACTIONS: dict[str, Callable[[SleepEvent, Aws], Outcome]] = {
    "sleep": sleep,
    "finish-sleep": finish_sleep,
    "wake": wake,
    "check-wake": check_wake,
}


def run(data: Any, aws: Aws) -> dict[str, Any]:
    """One event: parse it, run its action, log the outcome, raise if a part failed."""
    try:
        event = SleepEvent.from_json(data)
    except ContractError as err:
        logger.error(json.dumps({"action": "refused", "reason": str(err)}))
        raise
    outcome = ACTIONS[event.action](event, aws)
    logger.info(json.dumps(outcome.as_dict()))
    if outcome.failed:
        raise PartlyFailedError(
            f"{event.action} of {event.plan.stage}: " + "; ".join(outcome.failed)
        )
    return outcome.as_dict()


def _aws(context: Any) -> Aws:
    import boto3

    def invoke_cluster(function: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = boto3.client("lambda").invoke(
            FunctionName=function, Payload=json.dumps(payload).encode()
        )
        body = json.loads(answer["Payload"].read() or b"{}")
        if answer.get("FunctionError"):
            raise RuntimeError(f"{function}: {body.get('errorMessage', body)}")
        return dict(body)

    return Aws(
        client=boto3.client,
        invoke_cluster=invoke_cluster,
        function_arn=str(getattr(context, "invoked_function_arn", "")),
        scheduler_role_arn=os.environ.get("SCHEDULER_ROLE_ARN", ""),
    )


def handler(event: Any, context: Any) -> dict[str, Any]:
    return run(event, _aws(context))
