"""The observability stack's CloudWatch alarms, by what they watch: the data stores, the ALB,
the functions and their queues, and the stage's sleep. Each group is a table of alarm specs;
``AlarmGroup`` makes them alike: named ``<prefix>-<name>``, linked to their runbook section,
notifying the alerts topic when they fire and when they clear."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from openmarket_cdk.common import pascal_case
from openmarket_cdk.config import METRICS_NAMESPACE, ObservabilityConfig, StageConfig
from openmarket_cdk.constructs.observability_metrics import FIVE_MINUTES, PlatformMetrics
from openmarket_cdk.runbooks import alarm_description

ABOVE = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
BELOW = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: above or below ``threshold`` for ``periods`` periods in a row. Its runbook
    section is ``section``, by default its name."""

    name: str
    metric: cloudwatch.IMetric
    threshold: float
    comparison: cloudwatch.ComparisonOperator
    description: str
    periods: int = 3
    section: str | None = None


def at_least(count: int) -> float:
    """The threshold for "``count`` or more" of a Sum of whole events (``ABOVE`` it)."""
    return count - 0.5


class AlarmGroup(Construct):
    """The alarms of ``specs``, each notifying ``action`` when it fires and when it clears;
    ``alarms`` by name."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        action: cloudwatch.IAlarmAction,
        specs: Iterable[AlarmSpec],
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for spec in specs:
            alarm = cloudwatch.Alarm(
                self,
                f"{pascal_case(spec.name)}Alarm",
                alarm_name=f"{config.names.prefix}-{spec.name}",
                alarm_description=alarm_description(spec.description, spec.section or spec.name),
                metric=spec.metric,
                threshold=spec.threshold,
                comparison_operator=spec.comparison,
                evaluation_periods=spec.periods,
                datapoints_to_alarm=spec.periods,
                # Idle stages (dev at night) produce no data; that is not an incident.
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            self.alarms[spec.name] = alarm


def data_alarms(obs: ObservabilityConfig, metrics: PlatformMetrics) -> list[AlarmSpec]:
    """Aurora's CPU and connections (and its readers' CPU, where it has readers), the cache's
    memory and hit rate."""
    cpu = obs.aurora_cpu_percent
    specs = [
        AlarmSpec(
            "aurora-cpu", metrics.aurora("CPUUtilization"), cpu, ABOVE, f"Aurora CPU above {cpu:g}%"
        ),
        AlarmSpec(
            "aurora-connections",
            metrics.aurora("DatabaseConnections", "Maximum"),
            obs.aurora_connections,
            ABOVE,
            f"Aurora connections above {obs.aurora_connections}",
        ),
    ]
    if metrics.has_readers:
        # Auto Scaling adds readers at the same target; still above it after 30 minutes
        # means the readers are at their maximum or cannot be added.
        specs.append(
            AlarmSpec(
                "aurora-reader-cpu",
                metrics.aurora_role("CPUUtilization", "READER"),
                cpu,
                ABOVE,
                f"Aurora readers' CPU above {cpu:g}% for 30 minutes, "
                "despite reader auto scaling (at its maximum?)",
                periods=6,
            )
        )
    return [
        *specs,
        AlarmSpec(
            "cache-memory",
            metrics.cache("DatabaseMemoryUsagePercentage", statistic="Maximum"),
            obs.redis_memory_percent,
            ABOVE,
            f"Cache memory above {obs.redis_memory_percent:g}%",
        ),
        AlarmSpec(
            "cache-hit-rate",
            metrics.cache("CacheHitRate"),
            obs.redis_hit_rate_percent,
            BELOW,
            f"Cache hit rate below {obs.redis_hit_rate_percent:g}%",
            periods=6,
        ),
    ]


def load_balancer_alarms(obs: ObservabilityConfig, metrics: PlatformMetrics) -> list[AlarmSpec]:
    """The ALB's 5xx share of requests and its p95 latency. Only for an ALB that lives on
    (``metrics.load_balancer``): alarms bound to the id of one that sleeps would go blind
    after the first night."""
    five_xx = cloudwatch.MathExpression(
        expression="100 * (elb5xx + target5xx) / MAX([requests, 1])",
        using_metrics={
            "elb5xx": metrics.alb("HTTPCode_ELB_5XX_Count"),
            "target5xx": metrics.alb("HTTPCode_Target_5XX_Count"),
            "requests": metrics.alb("RequestCount"),
        },
        label="5xx % of requests",
        period=FIVE_MINUTES,
    )
    latency = obs.alb_p95_latency_seconds
    return [
        AlarmSpec(
            "alb-5xx-rate",
            five_xx,
            obs.alb_5xx_percent,
            ABOVE,
            f"More than {obs.alb_5xx_percent:g}% of requests end in 5xx",
        ),
        AlarmSpec(
            "alb-p95-latency",
            metrics.alb("TargetResponseTime", "p95"),
            latency,
            ABOVE,
            f"API p95 above {latency * 1000:g} ms",
        ),
    ]


def function_alarms(
    obs: ObservabilityConfig,
    functions: Mapping[str, lambda_.IFunction],
    dead_letter_queues: Mapping[str, sqs.IQueue],
) -> list[AlarmSpec]:
    """Each function's errors and throttles, image-processor's unreadable uploads, and each
    dead-letter queue that is not empty."""
    specs: list[AlarmSpec] = []
    for name, function in functions.items():
        # (what is counted, its metric, how many in 5 minutes alarm, what happened)
        for kind, metric, count, happened in (
            ("errors", function.metric_errors, obs.lambda_errors, "failed"),
            ("throttles", function.metric_throttles, obs.lambda_throttles, "was throttled"),
        ):
            specs.append(
                AlarmSpec(
                    f"{name}-{kind}",
                    metric(period=FIVE_MINUTES, statistic="Sum"),
                    at_least(count),
                    ABOVE,
                    f"{name} {happened} at least {count} time(s) in 5 minutes",
                    periods=1,
                    section=f"function-{kind}",
                )
            )
    # A deleted upload answers 403 to the HEAD (the function may not list the bucket) and
    # is skipped, not dead-lettered: so a lost s3:GetObject would look the same. Many of
    # them in a short time is that regression, not users deleting uploads. (A HEAD that
    # works and a GET that is denied, e.g. a lost kms:Decrypt, fails and dead-letters.)
    denied = obs.image_uploads_denied_per_15min
    specs.append(
        AlarmSpec(
            "image-processor-uploads-denied",
            cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name="ImagesSkipped",
                dimensions_map={"service": "image-processor", "Reason": "missing-or-denied"},
                statistic="Sum",
                period=Duration.minutes(15),
            ),
            denied,
            ABOVE,
            f"image-processor could not read more than {denied} uploads in 15 minutes (403 to "
            "the HEAD: deleted, or a lost s3:GetObject on uploads/)",
            periods=1,
        )
    )
    for name, queue in dead_letter_queues.items():
        specs.append(
            AlarmSpec(
                f"{name}-dlq-not-empty",
                queue.metric_approximate_number_of_messages_visible(
                    period=FIVE_MINUTES, statistic="Maximum"
                ),
                0,
                ABOVE,
                f"Events of {name} failed for good and wait in its dead-letter queue",
                periods=1,
                section="dead-letter-queue-not-empty",
            )
        )
    return specs


def stage_sleep_alarms(config: StageConfig) -> list[AlarmSpec]:
    """A sleeping stage's failed or partly failed sleep or wake (the stage-sleep function
    raises after doing what it could): the ALB, NAT or nodes bill all night, or the stage is
    not whole."""
    errors = cloudwatch.Metric(
        namespace="AWS/Lambda",
        metric_name="Errors",
        dimensions_map={"FunctionName": config.names.stage_sleep_function_name},
        statistic="Sum",
        period=FIVE_MINUTES,
    )
    return [
        AlarmSpec(
            "stage-sleep-errors",
            errors,
            at_least(1),
            ABOVE,
            f"{config.names.prefix}: a sleep or wake of the stage failed in part",
            periods=1,
        )
    ]
