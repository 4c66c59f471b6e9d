"""PlatformDashboard: the stage's one CloudWatch dashboard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.observability_metrics import FIVE_MINUTES, PlatformMetrics


def _graph(title: str, *metrics: cloudwatch.IMetric, unit: str = "") -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        left=list(metrics),
        width=8,
        height=6,
        left_y_axis=cloudwatch.YAxisProps(label=unit, show_units=False) if unit else None,
    )


class PlatformDashboard(Construct):
    """``<prefix>-platform``: the ALB, the EKS nodes, Aurora's writer and readers by role,
    each cache node, each function, the dead-letter queues and NAT, then the state of
    ``alarms``. The dashboard is the ``Default`` child: it keeps the logical ID it had as the
    stack's own ``Dashboard``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        metrics: PlatformMetrics,
        functions: Mapping[str, lambda_.IFunction],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        alarms: Sequence[cloudwatch.IAlarm],
    ) -> None:
        super().__init__(scope, construct_id)
        cache_nodes = metrics.cache_nodes
        widgets: list[cloudwatch.IWidget] = [
            cloudwatch.TextWidget(
                markdown=f"# OpenMarket {config.name}\nALB, EKS, Aurora, cache, "
                "functions, queues and NAT; alarms notify the alerts topic.",
                width=24,
                height=2,
            ),
            _graph("ALB requests", metrics.alb("RequestCount")),
            _graph(
                "ALB 5xx",
                metrics.alb("HTTPCode_ELB_5XX_Count"),
                metrics.alb("HTTPCode_Target_5XX_Count"),
            ),
            _graph(
                "ALB latency p95 / p99",
                metrics.alb("TargetResponseTime", "p95"),
                metrics.alb("TargetResponseTime", "p99"),
                unit="seconds",
            ),
            _graph("ALB healthy targets", metrics.alb_healthy_targets()),
            _graph("EKS node CPU %", metrics.nodes("node_cpu_utilization"), unit="%"),
            _graph("EKS node memory %", metrics.nodes("node_memory_utilization"), unit="%"),
            _graph("Aurora CPU %", *metrics.aurora_by_role("CPUUtilization"), unit="%"),
            _graph(
                "Aurora connections",
                *metrics.aurora_by_role("DatabaseConnections", "Maximum"),
            ),
            _graph(
                "Aurora replica lag",
                metrics.aurora_role("AuroraReplicaLag", "READER", "Maximum")
                if metrics.has_readers
                else metrics.aurora("AuroraReplicaLag", "Maximum"),
                unit="ms",
            ),
            _graph("Aurora freeable memory", metrics.aurora("FreeableMemory", "Minimum")),
            _graph("Cache CPU %", *(metrics.cache("EngineCPUUtilization", n) for n in cache_nodes)),
            _graph(
                "Cache memory %",
                *(metrics.cache("DatabaseMemoryUsagePercentage", n) for n in cache_nodes),
            ),
            _graph("Cache hit rate %", *(metrics.cache("CacheHitRate", n) for n in cache_nodes)),
            _graph(
                "Cache evictions",
                *(metrics.cache("Evictions", n, "Sum") for n in cache_nodes),
            ),
            _graph(
                "Cache replication lag",
                *(metrics.cache("ReplicationLag", n, "Maximum") for n in cache_nodes),
                unit="seconds",
            ),
        ]
        for name, function in functions.items():
            widgets.append(
                cloudwatch.GraphWidget(
                    title=f"{name}: invocations, errors, throttles",
                    left=[
                        function.metric_invocations(period=FIVE_MINUTES),
                        function.metric_errors(period=FIVE_MINUTES),
                        function.metric_throttles(period=FIVE_MINUTES),
                    ],
                    right=[function.metric_duration(period=FIVE_MINUTES, statistic="p95")],
                    width=8,
                    height=6,
                )
            )
        widgets.append(
            _graph(
                "Dead-letter queue depth",
                *(
                    queue.metric_approximate_number_of_messages_visible(
                        period=FIVE_MINUTES, statistic="Maximum", label=name
                    )
                    for name, queue in dead_letter_queues.items()
                ),
            )
        )
        widgets.append(_graph("NAT bytes out", *metrics.nat_bytes_out()))
        widgets.append(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=24, height=4)
        )
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Default",
            dashboard_name=f"{config.names.prefix}-platform",
            default_interval=Duration.hours(6),
        )
        self.dashboard.add_widgets(*widgets)
