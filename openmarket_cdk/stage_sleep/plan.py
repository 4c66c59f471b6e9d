"""A stage's sleep plan from its config: the schedules' input and `make wake`'s (plain Python)."""

from __future__ import annotations

from openmarket_cdk.config import SLEEPS_TAG, STACK_KINDS, AuroraCapacity, StageConfig
from openmarket_cdk.stage_sleep.runtime.contract import StagePlan, ZoneNodes

# The Ingress's class while awake: the AWS Load Balancer Controller's (its chart's default).
ALB_INGRESS_CLASS = "alb"


def stage_plan(config: StageConfig) -> StagePlan:
    """What ``config``'s sleep touches. A stage that does not sleep has no plan to run, but
    one can still be built (tests, docs)."""
    sleep = config.sleep
    aurora = config.aurora
    provisioned = aurora.capacity is AuroraCapacity.PROVISIONED
    return StagePlan(
        stage=config.name,
        cluster_name=config.names.cluster_name,
        stacks=tuple(config.names.stack_name(kind) for kind in STACK_KINDS),
        zones=tuple(
            ZoneNodes(zone, minimum, maximum)
            for zone, (minimum, maximum) in config.node_group_sizes.items()
        ),
        cluster_function=config.names.stage_sleep_cluster_function_name,
        autoscaler_replicas=config.kubernetes.node_autoscaler.replicas,
        ingress_class=ALB_INGRESS_CLASS if sleep.load_balancer_sleeps else None,
        load_balancer_name=config.names.load_balancer_name if sleep.load_balancer_sleeps else None,
        nat_instance_tag=f"{SLEEPS_TAG}={config.name}" if sleep.nat_instance_sleeps else None,
        database_cluster=aurora_cluster
        if (aurora_cluster := config.names.aurora_cluster_identifier) and provisioned
        else None,
        reader_scaling_resource=f"cluster:{config.names.aurora_cluster_identifier}"
        if provisioned and aurora.max_reader_count > aurora.reader_count
        else None,
        deploy_retry_minutes=sleep.deploy_retry_minutes,
        deploy_retry_attempts=sleep.deploy_retry_attempts,
        wake_check_after_minutes=sleep.wake_check_after_minutes,
    )
