"""The observability stack's CloudWatch alarms, by what they watch: the data stores, the ALB,
the functions and their queues, and the stage's sleep. Each alarm is named
``<prefix>-<name>``, links its runbook section and notifies the alerts topic."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from openmarket_cdk.common import pascal_case
from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.function import METRICS_NAMESPACE
from openmarket_cdk.constructs.observability_metrics import FIVE_MINUTES, PlatformMetrics
from openmarket_cdk.runbooks import alarm_description

ABOVE = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
BELOW = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD


class AlarmGroup(Construct):
    """Alarms that notify ``action`` when they fire and when they clear; ``alarms`` by name."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        action: cloudwatch.IAlarmAction,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._action = action
        self.alarms: dict[str, cloudwatch.Alarm] = {}

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        description: str,
        periods: int = 3,
        section: str | None = None,
    ) -> cloudwatch.Alarm:
        """An alarm named ``<prefix>-<name>`` whose description links its runbook section
        (``section``, by default the name)."""
        alarm = cloudwatch.Alarm(
            self,
            f"{pascal_case(name)}Alarm",
            alarm_name=f"{self._config.names.prefix}-{name}",
            alarm_description=alarm_description(description, section or name),
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            # Idle stages (dev at night) produce no data; that is not an incident.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms[name] = alarm
        return alarm


class DataAlarms(AlarmGroup):
    """Aurora's CPU and connections (and its readers' CPU, where it has readers), the cache's
    memory and hit rate."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        action: cloudwatch.IAlarmAction,
        metrics: PlatformMetrics,
    ) -> None:
        super().__init__(scope, construct_id, config=config, action=action)
        obs = config.observability
        self._alarm(
            "aurora-cpu",
            metrics.aurora("CPUUtilization"),
            obs.aurora_cpu_percent,
            ABOVE,
            f"Aurora CPU above {obs.aurora_cpu_percent:g}%",
        )
        self._alarm(
            "aurora-connections",
            metrics.aurora("DatabaseConnections", "Maximum"),
            obs.aurora_connections,
            ABOVE,
            f"Aurora connections above {obs.aurora_connections}",
        )
        if metrics.has_readers:
            # Auto Scaling adds readers at the same target; still above it after 30 minutes
            # means the readers are at their maximum or cannot be added.
            self._alarm(
                "aurora-reader-cpu",
                metrics.aurora_role("CPUUtilization", "READER"),
                obs.aurora_cpu_percent,
                ABOVE,
                f"Aurora readers' CPU above {obs.aurora_cpu_percent:g}% for 30 minutes, "
                "despite reader auto scaling (at its maximum?)",
                periods=6,
            )
        self._alarm(
            "cache-memory",
            metrics.cache("DatabaseMemoryUsagePercentage", statistic="Maximum"),
            obs.redis_memory_percent,
            ABOVE,
            f"Cache memory above {obs.redis_memory_percent:g}%",
        )
        self._alarm(
            "cache-hit-rate",
            metrics.cache("CacheHitRate"),
            obs.redis_hit_rate_percent,
            BELOW,
            f"Cache hit rate below {obs.redis_hit_rate_percent:g}%",
            periods=6,
        )


class LoadBalancerAlarms(AlarmGroup):
    """The ALB's 5xx share of requests and its p95 latency. Only for an ALB that lives on
    (``metrics.load_balancer``): alarms bound to the id of one that sleeps would go blind
    after the first night."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        action: cloudwatch.IAlarmAction,
        metrics: PlatformMetrics,
    ) -> None:
        super().__init__(scope, construct_id, config=config, action=action)
        obs = config.observability
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
        self._alarm(
            "alb-5xx-rate",
            five_xx,
            obs.alb_5xx_percent,
            ABOVE,
            f"More than {obs.alb_5xx_percent:g}% of requests end in 5xx",
        )
        self._alarm(
            "alb-p95-latency",
            metrics.alb("TargetResponseTime", "p95"),
            obs.alb_p95_latency_seconds,
            ABOVE,
            f"API p95 above {obs.alb_p95_latency_seconds * 1000:g} ms",
        )


class FunctionAlarms(AlarmGroup):
    """Each function's errors and throttles, image-processor's unreadable uploads, and each
    dead-letter queue that is not empty."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        action: cloudwatch.IAlarmAction,
        functions: Mapping[str, lambda_.IFunction],
        dead_letter_queues: Mapping[str, sqs.IQueue],
    ) -> None:
        super().__init__(scope, construct_id, config=config, action=action)
        obs = config.observability
        for name, function in functions.items():
            self._alarm(
                f"{name}-errors",
                function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                obs.lambda_errors - 0.5,
                ABOVE,
                f"{name} failed at least {obs.lambda_errors} time(s) in 5 minutes",
                periods=1,
                section="function-errors",
            )
            self._alarm(
                f"{name}-throttles",
                function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
                obs.lambda_throttles - 0.5,
                ABOVE,
                f"{name} was throttled at least {obs.lambda_throttles} time(s) in 5 minutes",
                periods=1,
                section="function-throttles",
            )
        # A deleted upload answers 403 to the HEAD (the function may not list the bucket) and
        # is skipped, not dead-lettered: so a lost s3:GetObject would look the same. Many of
        # them in a short time is that regression, not users deleting uploads. (A HEAD that
        # works and a GET that is denied, e.g. a lost kms:Decrypt, fails and dead-letters.)
        self._alarm(
            "image-processor-uploads-denied",
            cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name="ImagesSkipped",
                dimensions_map={"service": "image-processor", "Reason": "missing-or-denied"},
                statistic="Sum",
                period=Duration.minutes(15),
            ),
            obs.image_uploads_denied_per_15min,
            ABOVE,
            "image-processor could not read more than "
            f"{obs.image_uploads_denied_per_15min} uploads in 15 minutes (403 to the HEAD: "
            "deleted, or a lost s3:GetObject on uploads/)",
            periods=1,
        )
        for name, queue in dead_letter_queues.items():
            self._alarm(
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


class StageSleepAlarms(AlarmGroup):
    """A sleeping stage's failed or partly failed sleep or wake (the stage-sleep function
    raises after doing what it could): the ALB, NAT or nodes bill all night, or the stage is
    not whole."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        action: cloudwatch.IAlarmAction,
    ) -> None:
        super().__init__(scope, construct_id, config=config, action=action)
        self._alarm(
            "stage-sleep-errors",
            cloudwatch.Metric(
                namespace="AWS/Lambda",
                metric_name="Errors",
                dimensions_map={"FunctionName": config.names.stage_sleep_function_name},
                statistic="Sum",
                period=FIVE_MINUTES,
            ),
            0.5,
            ABOVE,
            f"{config.names.prefix}: a sleep or wake of the stage failed in part",
            periods=1,
        )
