"""The stage-sleep section of a stage's config, and its validator (pure Python)."""

from __future__ import annotations

from dataclasses import dataclass

from openmarket_cdk.config.errors import fail


@dataclass(frozen=True)
class StageSleepConfig:
    """A stage that sleeps outside weekdays' working hours (dev and staging).

    At ``stop_hour`` the stage-sleep function puts everything that bills by the hour to
    sleep, through the owners' own APIs: the Ingress leaves the ALB controller's class (the
    controller deletes the ALB it made), the Cluster Autoscaler is scaled to 0 and every node
    group to 0 (EKS drains the nodes), a provisioned Aurora cluster stops (its reader scaling
    suspended first). ``finish_after_stop_minutes`` later, once no node is left, the NAT
    instance stops. Before ``start_hour`` (``nat_wake_before_start_minutes``) everything comes
    back in the reverse order; ``wake_check_after_minutes`` later the function checks the stage
    is whole. A sleep that finds a deploy running waits for it.
    """

    enabled: bool = False
    time_zone: str = "Asia/Seoul"
    start_hour: int = 9
    stop_hour: int = 18
    weekdays: str = "MON-FRI"
    # dev: the ALB sleeps too (the controller removes it; a new DNS name each morning).
    load_balancer_sleeps: bool = False
    # dev: the NAT instance stops once the nodes are gone, and starts before they return.
    nat_instance_sleeps: bool = False
    # After stop_hour: node groups drain for up to ~15 minutes before their instances end.
    finish_after_stop_minutes: int = 30
    # Before start_hour: nodes pull images through the NAT instance as they boot.
    nat_wake_before_start_minutes: int = 10
    # A deploy running at stop_hour: sleep again this much later, this many times, then fail
    # (the stage-sleep alarm).
    deploy_retry_minutes: int = 15
    deploy_retry_attempts: int = 4
    # After a wake: check the stage is whole (nodes, autoscaler, ALB, database).
    wake_check_after_minutes: int = 20

    @property
    def hours_per_week(self) -> int:
        return (self.stop_hour - self.start_hour) * 5 if self.enabled else 7 * 24

    @property
    def wake_hour_minute(self) -> tuple[int, int]:
        """When the wake runs: before start_hour when the NAT instance must start first."""
        if not self.nat_instance_sleeps:
            return self.start_hour, 0
        return self.start_hour - 1, 60 - self.nat_wake_before_start_minutes


def validate_stage_sleep(sleep: StageSleepConfig, *, stage: str, never_sleeps: bool) -> None:
    """The section's own rules (the cross-section ones are in config/validation.py)."""
    path = "sleep"
    if sleep.enabled and never_sleeps:
        fail(f"{path}.enabled", f"{stage} never sleeps")
    if not 0 <= sleep.start_hour < sleep.stop_hour <= 23:
        fail(f"{path}.start_hour", "need 0 <= start < stop <= 23")
    for flag in ("load_balancer_sleeps", "nat_instance_sleeps"):
        if getattr(sleep, flag) and not sleep.enabled:
            fail(f"{path}.{flag}", "only a stage that sleeps (sleep.enabled) sleeps this")
    if not 20 <= sleep.finish_after_stop_minutes <= 59:
        fail(f"{path}.finish_after_stop_minutes", "need 20..59 minutes after stop_hour")
    if not 1 <= sleep.nat_wake_before_start_minutes <= 59:
        fail(f"{path}.nat_wake_before_start_minutes", "need 1..59 minutes before start_hour")
    if sleep.nat_instance_sleeps and sleep.start_hour == 0:
        fail(f"{path}.nat_instance_sleeps", "the NAT instance wakes the hour before start_hour")
    if not 5 <= sleep.deploy_retry_minutes <= 60 or not 0 <= sleep.deploy_retry_attempts <= 8:
        fail(f"{path}.deploy_retry_minutes", "retry every 5..60 minutes, at most 8 times")
    if not 10 <= sleep.wake_check_after_minutes <= 60:
        fail(f"{path}.wake_check_after_minutes", "need 10..60 minutes")
