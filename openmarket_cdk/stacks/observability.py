"""ObservabilityStack: the CloudWatch dashboard, alarms, alert topic and budget of a stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from openmarket_cdk.common import retain_or_destroy
from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.alerting_signals import AlertingSignals
from openmarket_cdk.constructs.observability_alarms import (
    AlarmGroup,
    AlarmSpec,
    data_alarms,
    function_alarms,
    load_balancer_alarms,
    stage_sleep_alarms,
)
from openmarket_cdk.constructs.observability_budget import MonthlyBudget
from openmarket_cdk.constructs.observability_dashboard import PlatformDashboard
from openmarket_cdk.constructs.observability_metrics import (
    PlatformMetrics,
    load_balancer_dimension,
    nat_instance_ids,
)
from openmarket_cdk.runbooks import alarm_description

# Alarms whose state means customers are affected: they feed the composite alarm.
_DEGRADING = frozenset(
    {"alb-5xx-rate", "alb-p95-latency", "aurora-cpu", "aurora-connections", "cache-memory"}
)


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
    budget with alerts at 80% and 100%, and in a stage that sleeps an alarm on its failed
    sleeps and wakes (the schedule itself is the cluster stack's ``StageSleep``).

    The stateful resources (the alerts key and topic) are the stack's direct children, so
    their logical IDs never depend on how the parts are arranged.
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
        prefix = config.names.prefix

        # --- stateful: the alerts key and topic -----------------------------------------
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
        self.topic.add_subscription(
            subscriptions.EmailSubscription(config.observability.alarm_email)
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("budgets.amazonaws.com")],
                resources=[self.topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": config.account}},
            )
        )
        action = cloudwatch_actions.SnsAction(self.topic)

        # --- what is watched ------------------------------------------------------------
        # A sleeping ALB (dev) is a new one each morning, with a new id: alarms bound to
        # one id would go blind after the first night. Its graphs search by name instead, and
        # it has no CloudWatch alarms (the backend's Prometheus alerts still cover errors
        # and latency); a stage whose ALB lives on is looked up once, at deploy time.
        metrics = PlatformMetrics(
            config,
            aurora_cluster_identifier=inputs.aurora_cluster_identifier,
            cache_replication_group_id=inputs.cache_replication_group_id,
            cache_node_count=inputs.cache_node_count,
            load_balancer_name=inputs.load_balancer_name,
            load_balancer=(
                None
                if config.sleep.load_balancer_sleeps
                else load_balancer_dimension(self, config, inputs.load_balancer_name)
            ),
            nat_gateway_ids=inputs.nat_gateway_ids,
            nat_instance_ids=nat_instance_ids(self, config),
        )

        # --- alarms ---------------------------------------------------------------------
        obs = config.observability
        alarm_groups: dict[str, list[AlarmSpec]] = {"DataAlarms": data_alarms(obs, metrics)}
        if metrics.load_balancer is not None:
            alarm_groups["LoadBalancerAlarms"] = load_balancer_alarms(obs, metrics)
        alarm_groups["FunctionAlarms"] = function_alarms(
            obs, inputs.functions, inputs.dead_letter_queues
        )
        if config.sleep.enabled:
            alarm_groups["StageSleepAlarms"] = stage_sleep_alarms(config)
        groups = [
            AlarmGroup(self, group_id, config=config, action=action, specs=specs)
            for group_id, specs in alarm_groups.items()
        ]
        self.alarms: dict[str, cloudwatch.Alarm] = {
            name: alarm for group in groups for name, alarm in group.alarms.items()
        }
        # Prometheus' alerts, watched from outside the cluster: a dead man's switch on
        # Alertmanager's heartbeat and an alarm on its failed deliveries.
        self.alerting = AlertingSignals(self, "AlertingSignals", config=config)
        for alarm in (self.alerting.paging, self.alerting.delivery_failing):
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
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
        self.composite.add_alarm_action(action)

        # --- the dashboard and the budget -----------------------------------------------
        self.dashboard = PlatformDashboard(
            self,
            "Dashboard",
            config=config,
            metrics=metrics,
            functions=inputs.functions,
            dead_letter_queues=inputs.dead_letter_queues,
            alarms=[self.composite, *self.alerting.alarms, *self.alarms.values()],
        )
        self.budget = MonthlyBudget(self, "MonthlyBudget", config=config, topic=self.topic)
