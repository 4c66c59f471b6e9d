"""AWS Load Balancer Controller annotations shared by the Ingress and the Services."""

from __future__ import annotations

ALB = "alb.ingress.kubernetes.io"

# Target group health checks. The Ingress carries them as defaults; each Service repeats
# them with its own path (Service annotations override the Ingress's for that target group).
HEALTHCHECK_SETTINGS = {
    f"{ALB}/healthcheck-protocol": "HTTP",
    f"{ALB}/healthcheck-port": "traffic-port",
    f"{ALB}/success-codes": "200",
    f"{ALB}/healthcheck-interval-seconds": "15",
    f"{ALB}/healthcheck-timeout-seconds": "5",
    f"{ALB}/healthy-threshold-count": "2",
    f"{ALB}/unhealthy-threshold-count": "2",
}

# Shorter than the 300 s default: a pod that stops is out of rotation within 30 s.
DEREGISTRATION_DELAY_S = 30


def target_group_annotations(health_path: str) -> dict[str, str]:
    """The annotations of a Service that is an ALB target group: its own health path."""
    return {
        **HEALTHCHECK_SETTINGS,
        f"{ALB}/healthcheck-path": health_path,
        f"{ALB}/target-group-attributes": (
            f"deregistration_delay.timeout_seconds={DEREGISTRATION_DELAY_S}"
        ),
    }
