"""AlertingSignals: the in-cluster alerting, watched from outside the cluster."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from openmarket_cdk.config import StageConfig
from openmarket_cdk.runbooks import alarm_description
from openmarket_cdk.stage_sleep.runtime.contract import SLEEP_METRIC, SLEEP_METRIC_NAMESPACE

FIVE_MINUTES = Duration.minutes(5)


def _published(topic_name: str) -> cloudwatch.Metric:
    """Messages published to one topic per 5 minutes (no publish: no data point)."""
    return cloudwatch.Metric(
        namespace="AWS/SNS",
        metric_name="NumberOfMessagesPublished",
        dimensions_map={"TopicName": topic_name},
        statistic="Sum",
        period=FIVE_MINUTES,
    )


class AlertingSignals(Construct):
    """Two SNS topics Alertmanager publishes to, and the CloudWatch alarms that read them, so
    a person hears by e-mail when Prometheus alerts can no longer reach anyone:

    - **heartbeat**: Alertmanager sends the always-firing ``Watchdog`` alert here every few
      minutes. No publish for ``heartbeat_missing_minutes`` (missing data is breaching) means
      Prometheus, Alertmanager, their node or their way out is gone: the dead man's switch.
      A stage that sleeps (dev, staging) is expected to fall silent at night: the paging alarm
      is then a composite whose actions the ``stage-asleep`` alarm suppresses (its state is
      the night schedule's marker, held between the two marks), until
      ``heartbeat_wake_grace_minutes`` after the morning's mark, time for the monitoring to
      start. A heartbeat still missing then pages.
    - **delivery failures**: Alertmanager publishes the ``AlertDeliveryFailing`` alert here
      when a Slack channel fails (including a webhook URL never stored): one publish alarms.

    The topics use SNS's AWS-managed key: only Alertmanager's pod role publishes (IAM), and no
    AWS service needs the key.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        obs = config.observability
        prefix = config.names.prefix
        sns_key = kms.Alias.from_alias_name(self, "SnsManagedKey", "alias/aws/sns")
        self.heartbeat_topic = sns.Topic(
            self,
            "HeartbeatTopic",
            topic_name=config.names.alerting_heartbeat_topic_name,
            display_name=f"OpenMarket {config.name} alerting heartbeat",
            master_key=sns_key,
            enforce_ssl=True,
        )
        self.delivery_failures_topic = sns.Topic(
            self,
            "DeliveryFailuresTopic",
            topic_name=config.names.alert_delivery_failures_topic_name,
            display_name=f"OpenMarket {config.name} alert delivery failures",
            master_key=sns_key,
            enforce_ssl=True,
        )
        periods = obs.heartbeat_missing_minutes // 5
        self.heartbeat_missing = cloudwatch.Alarm(
            self,
            "HeartbeatMissing",
            alarm_name=f"{prefix}-alerting-heartbeat-missing",
            alarm_description=alarm_description(
                f"No Alertmanager heartbeat for {obs.heartbeat_missing_minutes} minutes: "
                "Prometheus alerts reach nobody",
                "alerting-heartbeat-missing",
            ),
            metric=_published(config.names.alerting_heartbeat_topic_name),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            # Silence is the signal.
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        self.stage_asleep: cloudwatch.Alarm | None = None
        self.paging: cloudwatch.AlarmBase = self.heartbeat_missing
        if config.sleep.enabled:
            self.stage_asleep = cloudwatch.Alarm(
                self,
                "StageAsleep",
                alarm_name=f"{prefix}-stage-asleep",
                alarm_description=alarm_description(
                    "The stage sleeps (its night schedule's mark; 0 again from the morning "
                    "schedule or make wake): not an incident, it silences the heartbeat alarm",
                    "stage-asleep",
                ),
                metric=cloudwatch.Metric(
                    namespace=SLEEP_METRIC_NAMESPACE,
                    metric_name=SLEEP_METRIC,
                    dimensions_map={"Stage": config.name},
                    statistic="Maximum",
                    period=FIVE_MINUTES,
                ),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                # Two marks a day: between them the last one holds.
                treat_missing_data=cloudwatch.TreatMissingData.IGNORE,
            )
            self.paging = cloudwatch.CompositeAlarm(
                self,
                "AlertingDead",
                composite_alarm_name=f"{prefix}-alerting-dead",
                alarm_description=alarm_description(
                    f"No Alertmanager heartbeat for {obs.heartbeat_missing_minutes} minutes "
                    "while the stage is awake: Prometheus alerts reach nobody",
                    "alerting-heartbeat-missing",
                ),
                alarm_rule=cloudwatch.AlarmRule.from_alarm(
                    self.heartbeat_missing, cloudwatch.AlarmState.ALARM
                ),
                actions_suppressor=self.stage_asleep,
                # The night's mark comes before the heartbeat stops; one minute is plenty.
                actions_suppressor_wait_period=Duration.minutes(1),
                actions_suppressor_extension_period=Duration.minutes(
                    obs.heartbeat_wake_grace_minutes
                ),
            )
        self.delivery_failing = cloudwatch.Alarm(
            self,
            "DeliveryFailing",
            alarm_name=f"{prefix}-alert-delivery-failing",
            alarm_description=alarm_description(
                "Alertmanager could not deliver to a Slack channel (webhook URL unset, revoked "
                "or Slack unreachable)",
                "alert-delivery-failing",
            ),
            metric=_published(config.names.alert_delivery_failures_topic_name),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    @property
    def alarms(self) -> list[cloudwatch.AlarmBase]:
        """Every alarm here, for the dashboard's status widget."""
        found: list[cloudwatch.AlarmBase] = [self.paging, self.delivery_failing]
        if self.paging is not self.heartbeat_missing:
            found.append(self.heartbeat_missing)
        return found
