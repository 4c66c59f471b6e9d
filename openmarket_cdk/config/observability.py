"""The observability section: CloudWatch alarms, budget, dead man's switch, and its checks."""

from __future__ import annotations

from dataclasses import dataclass

from openmarket_cdk.config.checks import EMAIL
from openmarket_cdk.config.errors import fail


@dataclass(frozen=True)
class ObservabilityConfig:
    """CloudWatch dashboard and alarms (thresholds from the original design's targets),
    budget, schedule, the alerting dead man's switch."""

    alarm_email: str = "platform-alerts@openmarket.example"
    aurora_cpu_percent: float = 70.0
    aurora_connections: int = 100
    redis_memory_percent: float = 80.0
    redis_hit_rate_percent: float = 80.0
    # The original design's API targets; the ALB alarms and the backend's Prometheus alerts
    # both use them.
    alb_5xx_percent: float = 1.0
    alb_p95_latency_seconds: float = 0.5
    lambda_errors: int = 1
    lambda_throttles: int = 1
    # image-processor uploads it could not read (403/404) in 15 minutes before alarming.
    image_uploads_denied_per_15min: int = 5
    budget_usd_per_month: float = 950.0
    # Dead man's switch: Alertmanager publishes the always-firing Watchdog to an SNS topic
    # every heartbeat_interval_minutes; no publish for heartbeat_missing_minutes alarms by
    # e-mail. After a sleeping stage wakes, Prometheus and Alertmanager get
    # heartbeat_wake_grace_minutes to start before a missing heartbeat counts.
    heartbeat_interval_minutes: int = 5
    heartbeat_missing_minutes: int = 15
    heartbeat_wake_grace_minutes: int = 20


def validate_observability(obs: ObservabilityConfig, stage: str) -> None:
    if not EMAIL.fullmatch(obs.alarm_email):
        fail("observability.alarm_email", f"{obs.alarm_email!r} is not an e-mail address")
    for name in (
        "aurora_cpu_percent",
        "redis_memory_percent",
        "redis_hit_rate_percent",
        "alb_5xx_percent",
    ):
        if not 0 < getattr(obs, name) <= 100:
            fail(f"observability.{name}", "a percentage in (0, 100]")
    if obs.alb_p95_latency_seconds <= 0:
        fail("observability.alb_p95_latency_seconds", "must be positive")
    if obs.budget_usd_per_month <= 0:
        fail("observability.budget_usd_per_month", "must be positive")
    # The alarm looks at whole 5-minute periods; at least two heartbeats fit in its window, so
    # one late heartbeat never pages.
    if obs.heartbeat_missing_minutes % 5 or obs.heartbeat_missing_minutes < 10:
        fail("observability.heartbeat_missing_minutes", "a multiple of 5, at least 10")
    if not 1 <= obs.heartbeat_interval_minutes <= obs.heartbeat_missing_minutes // 2:
        fail(
            "observability.heartbeat_interval_minutes",
            "1 minute up to half of heartbeat_missing_minutes",
        )
    if not obs.heartbeat_missing_minutes <= obs.heartbeat_wake_grace_minutes <= 60:
        fail(
            "observability.heartbeat_wake_grace_minutes",
            "from heartbeat_missing_minutes up to 60: time for the monitoring to start",
        )
