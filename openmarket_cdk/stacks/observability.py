"""ObservabilityStack: the CloudWatch dashboard, alarms, alert topic, budget and dev schedule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Fn, Stack
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import custom_resources as cr
from constructs import Construct

from openmarket_cdk.common import pascal_case, retain_or_destroy
from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.alerting_signals import AlertingSignals
from openmarket_cdk.constructs.function import METRICS_NAMESPACE
from openmarket_cdk.nag import acknowledge
from openmarket_cdk.runbooks import alarm_description

FIVE_MINUTES = Duration.minutes(5)
# The singleton function AwsCustomResource puts in the stack (a fixed id inside CDK).
_AWS_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"


@dataclass(frozen=True)
class ObservabilityInputs:
    """What the dashboard and alarms watch, from the stacks before this one."""

    aurora_cluster_identifier: str
    cache_replication_group_id: str
    cache_node_count: int
    functions: dict[str, lambda_.IFunction]
    dead_letter_queues: dict[str, sqs.IQueue]
    load_balancer_name: str
    nat_gateway_ids: tuple[str, ...]


class ObservabilityStack(Stack):
    """What the operations team looks at and is woken by, per stage.

    Deploys one CloudWatch dashboard (ALB, EKS nodes, Aurora writer and readers by role,
    cache, each Lambda, dead-letter queues, NAT), alarms with the original design's thresholds
    from config
    (readers by role, so the ones auto scaling adds count), a composite "platform degraded"
    alarm, a KMS-encrypted SNS topic with the e-mail subscription from config, an AWS Budgets
    budget with alerts at 80% and 100%, and in dev the working-hours schedule that scales the
    node group to zero outside weekdays 09:00-18:00 Asia/Seoul.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        inputs: ObservabilityInputs,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._config = config
        self._inputs = inputs
        obs = config.observability
        prefix = config.prefix

        key = kms.Key(
            self,
            "AlertsKey",
            alias=f"alias/{prefix}/alerts",
            description=f"Encrypts the {prefix} alerts topic",
            enable_key_rotation=True,
            removal_policy=retain_or_destroy(config.retain_on_delete),
        )
        # CloudWatch alarms and AWS Budgets publish to the encrypted topic.
        for service in ("cloudwatch.amazonaws.com", "budgets.amazonaws.com"):
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    principals=[iam.ServicePrincipal(service)],
                    resources=["*"],
                    conditions={"StringEquals": {"aws:SourceAccount": config.account}},
                )
            )
        self.topic = sns.Topic(
            self,
            "AlertsTopic",
            topic_name=f"{prefix}-alerts",
            display_name=f"OpenMarket {config.name} alerts",
            master_key=key,
            enforce_ssl=True,
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(obs.alarm_email))
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("budgets.amazonaws.com")],
                resources=[self.topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": config.account}},
            )
        )
        self._action = cloudwatch_actions.SnsAction(self.topic)

        # A sleeping ALB (dev) is a new one each morning, with a new id: alarms bound to
        # one id would go blind after the first night. Its graphs search by name instead, and
        # it has no CloudWatch alarms (the backend's Prometheus alerts still cover errors
        # and latency); a stage whose ALB lives on is looked up once, at deploy time.
        self._load_balancer = (
            None if config.sleep.load_balancer_sleeps else self._load_balancer_dimension()
        )
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._alarms()
        if config.sleep.enabled:
            # A failed or partly failed sleep or wake (the function raises after doing what it
            # could): the ALB, NAT or nodes bill all night, or the stage is not whole.
            self._alarm(
                "stage-sleep-errors",
                cloudwatch.Metric(
                    namespace="AWS/Lambda",
                    metric_name="Errors",
                    dimensions_map={"FunctionName": config.stage_sleep_function_name},
                    statistic="Sum",
                    period=FIVE_MINUTES,
                ),
                0.5,
                cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                f"{config.prefix}: a sleep or wake of the stage failed in part",
                periods=1,
            )
        # Prometheus' alerts, watched from outside the cluster: a dead man's switch on
        # Alertmanager's heartbeat and an alarm on its failed deliveries.
        self.alerting = AlertingSignals(self, "AlertingSignals", config=config)
        for alarm in (self.alerting.paging, self.alerting.delivery_failing):
            alarm.add_alarm_action(self._action)
            alarm.add_ok_action(self._action)
        self.composite = cloudwatch.CompositeAlarm(
            self,
            "PlatformDegraded",
            composite_alarm_name=f"{prefix}-platform-degraded",
            alarm_description=alarm_description(
                "Any customer-facing signal of OpenMarket is in alarm", "platform-degraded"
            ),
            alarm_rule=cloudwatch.AlarmRule.any_of(
                *(
                    cloudwatch.AlarmRule.from_alarm(alarm, cloudwatch.AlarmState.ALARM)
                    for name, alarm in self.alarms.items()
                    if name in _DEGRADING
                )
            ),
        )
        self.composite.add_alarm_action(self._action)
        self.dashboard = self._dashboard()
        self._budget()

    # --- metrics ----------------------------------------------------------------------------
    def _load_balancer_dimension(self) -> str:
        """``app/<name>/<id>``: the ALB belongs to the ingress controller, so look it up.

        The ALB is created by the AWS Load Balancer Controller from the Ingress; its id is only
        known once it exists. This stack depends on the cluster stack, which completes only
        once the controller has made the ALB (``LoadBalancerReady``, a bounded wait that names
        the Ingress when it fails) and publishes its DNS name in SSM; a deploy-time
        DescribeLoadBalancers finds it, and runs again whenever that name changed (a new ALB).
        The ARN's last three parts are the dimension.
        """
        # The cluster stack publishes the ALB's DNS name, read here at every deploy: a new
        # ALB (new name) is a new physical id, so the lookup runs again.
        hostname = ssm.StringParameter.value_for_string_parameter(
            self, self._config.load_balancer_hostname_parameter
        )
        lookup = cr.AwsCustomResource(
            self,
            "LoadBalancerLookup",
            on_update=cr.AwsSdkCall(
                service="ElasticLoadBalancingV2",
                action="describeLoadBalancers",
                parameters={"Names": [self._inputs.load_balancer_name]},
                physical_resource_id=cr.PhysicalResourceId.of(hostname),
                output_paths=["LoadBalancers.0.LoadBalancerArn"],
            ),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["elasticloadbalancing:DescribeLoadBalancers"],
                        # Describe* has no resource-level permissions.
                        resources=["*"],
                    )
                ]
            ),
            install_latest_aws_sdk=False,
        )
        acknowledge(
            lookup,
            "AwsSolutions-IAM5[Resource::*]",
            "elasticloadbalancing:DescribeLoadBalancers has no resource-level permissions; "
            "the lookup only reads.",
        )
        provider = self.node.try_find_child(_AWS_CUSTOM_RESOURCE_PROVIDER_ID)
        if provider is not None:
            acknowledge(
                provider,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]",
                "CDK's own AwsCustomResource provider (deploy-time only) uses the basic role.",
            )
        arn = lookup.get_response_field("LoadBalancers.0.LoadBalancerArn")
        # arn:aws:elasticloadbalancing:region:account:loadbalancer/app/<name>/<id>
        return Fn.select(1, Fn.split(":loadbalancer/", arn))

    def _nat_instance_ids(self) -> list[str]:
        """The NAT instance ids, from the network stack's SSM parameter, resolved at each
        deploy of this stack (not an export: see NetworkStack)."""
        count = self._config.network.nat_instance_count
        if not count:
            return []
        ids = ssm.StringParameter.value_for_string_parameter(
            self, self._config.nat_instance_ids_parameter
        )
        return [Fn.select(index, Fn.split(",", ids, count)) for index in range(count)]

    def _alb(self, metric: str, statistic: str = "Sum") -> cloudwatch.IMetric:
        if self._load_balancer is None:
            # Whichever ALB of this name exists (a sleeping one is recreated every morning).
            return cloudwatch.MathExpression(
                expression=(
                    "SEARCH('{AWS/ApplicationELB,LoadBalancer} "
                    f'MetricName="{metric}" {self._inputs.load_balancer_name}\', '
                    f"'{statistic}', 300)"
                ),
                label=metric,
                period=FIVE_MINUTES,
            )
        return cloudwatch.Metric(
            namespace="AWS/ApplicationELB",
            metric_name=metric,
            dimensions_map={"LoadBalancer": self._load_balancer},
            statistic=statistic,
            period=FIVE_MINUTES,
        )

    def _aurora(self, metric: str, statistic: str = "Average") -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/RDS",
            metric_name=metric,
            dimensions_map={"DBClusterIdentifier": self._inputs.aurora_cluster_identifier},
            statistic=statistic,
            period=FIVE_MINUTES,
        )

    def _aurora_role(self, metric: str, role: str, statistic: str = "Average") -> cloudwatch.Metric:
        """A metric of every instance in one role (WRITER or READER), by cluster: readers
        that Aurora Auto Scaling adds are covered without knowing their instance ids."""
        return cloudwatch.Metric(
            namespace="AWS/RDS",
            metric_name=metric,
            dimensions_map={
                "DBClusterIdentifier": self._inputs.aurora_cluster_identifier,
                "Role": role,
            },
            statistic=statistic,
            period=FIVE_MINUTES,
            label=role.lower(),
        )

    @property
    def _has_readers(self) -> bool:
        return self._config.aurora.max_reader_count > 0

    def _cache(self, metric: str, node: int = 1, statistic: str = "Average") -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/ElastiCache",
            metric_name=metric,
            dimensions_map={
                "CacheClusterId": f"{self._inputs.cache_replication_group_id}-{node:03d}"
            },
            statistic=statistic,
            period=FIVE_MINUTES,
            label=f"node {node:03d}",
        )

    def _nodes(self, metric: str) -> cloudwatch.Metric:
        # Container Insights (amazon-cloudwatch-observability add-on) node metrics.
        return cloudwatch.Metric(
            namespace="ContainerInsights",
            metric_name=metric,
            dimensions_map={"ClusterName": self._config.cluster_name},
            statistic="Average",
            period=FIVE_MINUTES,
        )

    def _aurora_by_role(self, metric: str, statistic: str = "Average") -> list[cloudwatch.Metric]:
        """The writer and, where there are readers, the readers (however many) apart."""
        if not self._has_readers:
            return [self._aurora(metric, statistic)]
        return [self._aurora_role(metric, role, statistic) for role in ("WRITER", "READER")]

    # --- alarms -----------------------------------------------------------------------------
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
            alarm_name=f"{self._config.prefix}-{name}",
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

    def _alb_alarms(self) -> None:
        obs = self._config.observability
        above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        five_xx = cloudwatch.MathExpression(
            expression="100 * (elb5xx + target5xx) / MAX([requests, 1])",
            using_metrics={
                "elb5xx": self._alb("HTTPCode_ELB_5XX_Count"),
                "target5xx": self._alb("HTTPCode_Target_5XX_Count"),
                "requests": self._alb("RequestCount"),
            },
            label="5xx % of requests",
            period=FIVE_MINUTES,
        )
        self._alarm(
            "alb-5xx-rate",
            five_xx,
            obs.alb_5xx_percent,
            above,
            f"More than {obs.alb_5xx_percent:g}% of requests end in 5xx",
        )
        self._alarm(
            "alb-p95-latency",
            self._alb("TargetResponseTime", "p95"),
            obs.alb_p95_latency_seconds,
            above,
            f"API p95 above {obs.alb_p95_latency_seconds * 1000:g} ms",
        )

    def _alarms(self) -> None:
        obs = self._config.observability
        above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        below = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
        self._alarm(
            "aurora-cpu",
            self._aurora("CPUUtilization"),
            obs.aurora_cpu_percent,
            above,
            f"Aurora CPU above {obs.aurora_cpu_percent:g}%",
        )
        self._alarm(
            "aurora-connections",
            self._aurora("DatabaseConnections", "Maximum"),
            obs.aurora_connections,
            above,
            f"Aurora connections above {obs.aurora_connections}",
        )
        if self._has_readers:
            # Auto Scaling adds readers at the same target; still above it after 30 minutes
            # means the readers are at their maximum or cannot be added.
            self._alarm(
                "aurora-reader-cpu",
                self._aurora_role("CPUUtilization", "READER"),
                obs.aurora_cpu_percent,
                above,
                f"Aurora readers' CPU above {obs.aurora_cpu_percent:g}% for 30 minutes, "
                "despite reader auto scaling (at its maximum?)",
                periods=6,
            )
        self._alarm(
            "cache-memory",
            self._cache("DatabaseMemoryUsagePercentage", statistic="Maximum"),
            obs.redis_memory_percent,
            above,
            f"Cache memory above {obs.redis_memory_percent:g}%",
        )
        self._alarm(
            "cache-hit-rate",
            self._cache("CacheHitRate"),
            obs.redis_hit_rate_percent,
            below,
            f"Cache hit rate below {obs.redis_hit_rate_percent:g}%",
            periods=6,
        )
        if self._load_balancer is not None:
            self._alb_alarms()
        for name, function in self._inputs.functions.items():
            self._alarm(
                f"{name}-errors",
                function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                obs.lambda_errors - 0.5,
                above,
                f"{name} failed at least {obs.lambda_errors} time(s) in 5 minutes",
                periods=1,
                section="function-errors",
            )
            self._alarm(
                f"{name}-throttles",
                function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
                obs.lambda_throttles - 0.5,
                above,
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
            above,
            "image-processor could not read more than "
            f"{obs.image_uploads_denied_per_15min} uploads in 15 minutes (403 to the HEAD: "
            "deleted, or a lost s3:GetObject on uploads/)",
            periods=1,
        )
        for name, queue in self._inputs.dead_letter_queues.items():
            self._alarm(
                f"{name}-dlq-not-empty",
                queue.metric_approximate_number_of_messages_visible(
                    period=FIVE_MINUTES, statistic="Maximum"
                ),
                0,
                above,
                f"Events of {name} failed for good and wait in its dead-letter queue",
                periods=1,
                section="dead-letter-queue-not-empty",
            )

    # --- dashboard --------------------------------------------------------------------------
    def _dashboard(self) -> cloudwatch.Dashboard:
        inputs = self._inputs
        cache_nodes = range(1, inputs.cache_node_count + 1)

        def graph(
            title: str, *metrics: cloudwatch.IMetric, unit: str = ""
        ) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(
                title=title,
                left=list(metrics),
                width=8,
                height=6,
                left_y_axis=cloudwatch.YAxisProps(label=unit, show_units=False) if unit else None,
            )

        functions = inputs.functions
        widgets: list[cloudwatch.IWidget] = [
            cloudwatch.TextWidget(
                markdown=f"# OpenMarket {self._config.name}\nALB, EKS, Aurora, cache, "
                "functions, queues and NAT; alarms notify the alerts topic.",
                width=24,
                height=2,
            ),
            graph("ALB requests", self._alb("RequestCount")),
            graph(
                "ALB 5xx",
                self._alb("HTTPCode_ELB_5XX_Count"),
                self._alb("HTTPCode_Target_5XX_Count"),
            ),
            graph(
                "ALB latency p95 / p99",
                self._alb("TargetResponseTime", "p95"),
                self._alb("TargetResponseTime", "p99"),
                unit="seconds",
            ),
            graph(
                "ALB healthy targets",
                cloudwatch.MathExpression(
                    expression=(
                        "SEARCH('{AWS/ApplicationELB,LoadBalancer,TargetGroup} "
                        'MetricName="HealthyHostCount" '
                        f"{inputs.load_balancer_name}', 'Minimum', 300)"
                    ),
                    label="healthy",
                    period=FIVE_MINUTES,
                ),
            ),
            graph("EKS node CPU %", self._nodes("node_cpu_utilization"), unit="%"),
            graph("EKS node memory %", self._nodes("node_memory_utilization"), unit="%"),
            graph("Aurora CPU %", *self._aurora_by_role("CPUUtilization"), unit="%"),
            graph(
                "Aurora connections",
                *self._aurora_by_role("DatabaseConnections", "Maximum"),
            ),
            graph(
                "Aurora replica lag",
                self._aurora_role("AuroraReplicaLag", "READER", "Maximum")
                if self._has_readers
                else self._aurora("AuroraReplicaLag", "Maximum"),
                unit="ms",
            ),
            graph("Aurora freeable memory", self._aurora("FreeableMemory", "Minimum")),
            graph("Cache CPU %", *(self._cache("EngineCPUUtilization", n) for n in cache_nodes)),
            graph(
                "Cache memory %",
                *(self._cache("DatabaseMemoryUsagePercentage", n) for n in cache_nodes),
            ),
            graph("Cache hit rate %", *(self._cache("CacheHitRate", n) for n in cache_nodes)),
            graph(
                "Cache evictions",
                *(self._cache("Evictions", n, "Sum") for n in cache_nodes),
            ),
            graph(
                "Cache replication lag",
                *(self._cache("ReplicationLag", n, "Maximum") for n in cache_nodes),
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
            graph(
                "Dead-letter queue depth",
                *(
                    queue.metric_approximate_number_of_messages_visible(
                        period=FIVE_MINUTES, statistic="Maximum", label=name
                    )
                    for name, queue in inputs.dead_letter_queues.items()
                ),
            )
        )
        nat_metrics: list[cloudwatch.Metric] = [
            cloudwatch.Metric(
                namespace="AWS/NATGateway",
                metric_name="BytesOutToDestination",
                dimensions_map={"NatGatewayId": gateway},
                statistic="Sum",
                period=FIVE_MINUTES,
            )
            for gateway in inputs.nat_gateway_ids
        ] + [
            cloudwatch.Metric(
                namespace="AWS/EC2",
                metric_name="NetworkOut",
                dimensions_map={"InstanceId": instance},
                statistic="Sum",
                period=FIVE_MINUTES,
                label="NAT instance bytes out",
            )
            for instance in self._nat_instance_ids()
        ]
        widgets.append(graph("NAT bytes out", *nat_metrics))
        widgets.append(
            cloudwatch.AlarmStatusWidget(
                title="Alarms",
                alarms=[self.composite, *self.alerting.alarms, *self.alarms.values()],
                width=24,
                height=4,
            )
        )
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{self._config.prefix}-platform",
            default_interval=Duration.hours(6),
        )
        dashboard.add_widgets(*widgets)
        return dashboard

    # --- budget -----------------------------------------------------------------------------
    def _budget(self) -> None:
        obs = self._config.observability
        budgets.CfnBudget(
            self,
            "MonthlyBudget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=f"{self._config.prefix}-monthly",
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(
                    amount=obs.budget_usd_per_month, unit="USD"
                ),
                # Costs of resources tagged Stage=<stage> (activate the cost allocation tag).
                filter_expression=budgets.CfnBudget.ExpressionProperty(
                    tags=budgets.CfnBudget.TagValuesProperty(
                        key="Stage", values=[self._config.name], match_options=["EQUALS"]
                    )
                ),
            ),
            notifications_with_subscribers=[
                budgets.CfnBudget.NotificationWithSubscribersProperty(
                    notification=budgets.CfnBudget.NotificationProperty(
                        comparison_operator="GREATER_THAN",
                        notification_type="ACTUAL",
                        threshold=percent,
                        threshold_type="PERCENTAGE",
                    ),
                    subscribers=[
                        budgets.CfnBudget.SubscriberProperty(
                            address=self.topic.topic_arn, subscription_type="SNS"
                        )
                    ],
                )
                for percent in (80, 100)
            ],
        )


# Alarms whose state means customers are affected: they feed the composite alarm.
_DEGRADING = frozenset(
    {"alb-5xx-rate", "alb-p95-latency", "aurora-cpu", "aurora-connections", "cache-memory"}
)
