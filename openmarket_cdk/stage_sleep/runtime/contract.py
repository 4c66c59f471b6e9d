"""The one event contract of stage sleep: what the schedules, ``make wake`` and the functions
say to each other, and what ``make cost`` reads back from a template.

Standard library only: this file is bundled into both Lambda functions as it is.

An orchestrator event::

    {"action": "sleep" | "finish-sleep" | "wake" | "check-wake",
     "attempt": 0,                      # sleep: how many times a running deploy deferred it
     "plan": {...}}                     # StagePlan.to_json()

A cluster-function event (the orchestrator's, inside the VPC)::

    {"autoscalerReplicas": 0 | 1 | null, "ingressClass": "alb" | "openmarket-asleep" | null}

which answers ``{"autoscaler": {"replicas": n, "available": n}, "ingressClass": "..."}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

# The sleep mark the alerting dead man's switch reads (1 asleep, 0 awake, dimension Stage).
SLEEP_METRIC_NAMESPACE = "OpenMarket/StageSleep"
SLEEP_METRIC = "Asleep"
# The tag on each of a stage's node groups naming its zone: one group per zone.
ZONE_TAG = "openmarket:zone"
# The IngressClass a sleeping stage's Ingress moves to: no controller watches it, so the ALB
# controller sees the Ingress leave its class and deletes the ALB it made (and makes a new
# one when the Ingress comes back to its class).
ASLEEP_INGRESS_CLASS = "openmarket-asleep"

Action = Literal["sleep", "finish-sleep", "wake", "check-wake"]
ACTIONS: tuple[Action, ...] = ("sleep", "finish-sleep", "wake", "check-wake")


class ContractError(ValueError):
    """An event that does not follow the contract (a misconfigured schedule): it fails."""


@dataclass(frozen=True)
class ZoneNodes:
    """One zone's node group: its bounds while the stage is awake."""

    zone: str
    min_size: int
    max_size: int


@dataclass(frozen=True)
class StagePlan:
    """Everything one stage's sleep and wake touch, and how it comes back."""

    stage: str
    cluster_name: str
    # The stage's CloudFormation stacks: a sleep waits while one of them is being deployed.
    stacks: tuple[str, ...]
    zones: tuple[ZoneNodes, ...]
    # The function inside the VPC that talks to the Kubernetes API.
    cluster_function: str
    # The Cluster Autoscaler's replicas while awake (0 asleep, so it cannot undo the sleep).
    autoscaler_replicas: int
    # The Ingress's class while awake; None: the ALB does not sleep.
    ingress_class: str | None = None
    load_balancer_name: str | None = None
    # key=value of the tag on the NAT instance(s) that stop; None: the NAT does not sleep.
    nat_instance_tag: str | None = None
    # A provisioned Aurora cluster that stops, and its reader scaling (suspended meanwhile).
    database_cluster: str | None = None
    reader_scaling_resource: str | None = None
    # The sleep's retries while a deploy runs, and the check after a wake.
    deploy_retry_minutes: int = 15
    deploy_retry_attempts: int = 4
    wake_check_after_minutes: int = 20

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> StagePlan:
        try:
            fields = dict(data)
            fields["stacks"] = tuple(str(s) for s in fields["stacks"])
            fields["zones"] = tuple(ZoneNodes(**zone) for zone in fields["zones"])
            plan = StagePlan(**fields)
        except (KeyError, TypeError) as err:
            raise ContractError(f"not a stage plan: {err}") from None
        if not plan.stage or not plan.cluster_name or not plan.zones:
            raise ContractError("a stage plan names its stage, cluster and zones")
        if (plan.ingress_class is None) != (plan.load_balancer_name is None):
            raise ContractError("ingress_class and load_balancer_name go together")
        return plan

    @property
    def nat_tag(self) -> tuple[str, str] | None:
        if self.nat_instance_tag is None:
            return None
        key, _, value = self.nat_instance_tag.partition("=")
        return key, value


@dataclass(frozen=True)
class SleepEvent:
    action: Action
    plan: StagePlan
    attempt: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "attempt": self.attempt, "plan": self.plan.to_json()}

    @staticmethod
    def from_json(data: Any) -> SleepEvent:
        if not isinstance(data, Mapping):
            raise ContractError("the event is not a JSON object")
        action = data.get("action")
        if action not in ACTIONS:
            raise ContractError(f"action {action!r} is not one of {', '.join(ACTIONS)}")
        attempt = data.get("attempt", 0)
        if not isinstance(attempt, int) or attempt < 0:
            raise ContractError(f"attempt {attempt!r} is not a count")
        return SleepEvent(action, StagePlan.from_json(data.get("plan") or {}), attempt)


def sleep_mark(stage: str, *, asleep: bool) -> dict[str, Any]:
    """The PutMetricData request of the sleep mark (its API field names)."""
    return {
        "Namespace": SLEEP_METRIC_NAMESPACE,
        "MetricData": [
            {
                "MetricName": SLEEP_METRIC,
                "Dimensions": [{"Name": "Stage", "Value": stage}],
                "Value": 1 if asleep else 0,
                "Unit": "Count",
            }
        ],
    }
