"""CisAlarms: the CIS AWS Foundations monitoring controls on the trail's log group, one metric
filter and one alarm each."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

from openmarket_cdk.config import AccountConfig
from openmarket_cdk.runbooks import alarm_description

# Where the CIS metrics are published (no dimensions).
CIS_METRIC_NAMESPACE = "OpenMarket/CIS"
FIVE_MINUTES = Duration.minutes(5)


@dataclass(frozen=True)
class CisControl:
    """One CIS AWS Foundations monitoring control: a metric filter and its alarm."""

    construct_id: str
    metric_name: str
    description: str
    filter_pattern: str
    # The platform's own automation does this routinely (CloudFormation deploys change
    # security groups, network ACLs and IAM policies; the deploy role's `make smoke` opens and
    # closes dev's ALB group): such events are counted apart and do not page.
    routine: bool = False

    @property
    def runbook_section(self) -> str:
        return f"cis-{self.metric_name.lower()}"


# The filter patterns exactly as AWS Security Hub's CIS checks expect them (controls
# CloudWatch.1-.5, .7, .10, .11; CIS AWS Foundations Benchmark v1.2.0 3.x / v1.4.0 4.x):
# Security Hub fails a control when the pattern differs, so none is reformatted or extended.
CIS_CONTROLS: tuple[CisControl, ...] = (
    CisControl(
        "RootUsage",
        "RootAccountUsage",
        'CIS 4.3: the "root" user was used',
        '{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS '
        '&& $.eventType !="AwsServiceEvent"}',
    ),
    CisControl(
        "UnauthorizedApiCalls",
        "UnauthorizedApiCalls",
        "CIS 4.1: API calls were refused (UnauthorizedOperation / AccessDenied)",
        '{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}',
    ),
    CisControl(
        "ConsoleSignInWithoutMfa",
        "ConsoleSignInWithoutMfa",
        "CIS 4.2: an IAM user signed in to the console without MFA",
        '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") '
        '&& ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }',
    ),
    CisControl(
        "IamPolicyChanges",
        "IamPolicyChanges",
        "CIS 4.4: an IAM policy was created, changed, attached or detached",
        "{($.eventName=DeleteGroupPolicy) || ($.eventName=DeleteRolePolicy) || "
        "($.eventName=DeleteUserPolicy) || ($.eventName=PutGroupPolicy) || "
        "($.eventName=PutRolePolicy) || ($.eventName=PutUserPolicy) || "
        "($.eventName=CreatePolicy) || ($.eventName=DeletePolicy) || "
        "($.eventName=CreatePolicyVersion) || ($.eventName=DeletePolicyVersion) || "
        "($.eventName=AttachRolePolicy) || ($.eventName=DetachRolePolicy) || "
        "($.eventName=AttachUserPolicy) || ($.eventName=DetachUserPolicy) || "
        "($.eventName=AttachGroupPolicy) || ($.eventName=DetachGroupPolicy)}",
        routine=True,
    ),
    CisControl(
        "CloudTrailChanges",
        "CloudTrailConfigurationChanges",
        "CIS 4.5: a trail was created, updated, deleted, started or stopped",
        "{($.eventName=CreateTrail) || ($.eventName=UpdateTrail) || "
        "($.eventName=DeleteTrail) || ($.eventName=StartLogging) || "
        "($.eventName=StopLogging)}",
    ),
    CisControl(
        "KmsKeyDisabledOrDeleted",
        "KmsKeyDisabledOrScheduledForDeletion",
        "CIS 4.7: a customer-managed KMS key was disabled or scheduled for deletion",
        "{($.eventSource=kms.amazonaws.com) && (($.eventName=DisableKey) || "
        "($.eventName=ScheduleKeyDeletion))}",
    ),
    CisControl(
        "SecurityGroupChanges",
        "SecurityGroupChanges",
        "CIS 4.10: a security group or one of its rules changed",
        "{($.eventName=AuthorizeSecurityGroupIngress) || "
        "($.eventName=AuthorizeSecurityGroupEgress) || "
        "($.eventName=RevokeSecurityGroupIngress) || "
        "($.eventName=RevokeSecurityGroupEgress) || "
        "($.eventName=CreateSecurityGroup) || ($.eventName=DeleteSecurityGroup)}",
        routine=True,
    ),
    CisControl(
        "NetworkAclChanges",
        "NetworkAclChanges",
        "CIS 4.11: a network ACL or one of its entries changed",
        "{($.eventName=CreateNetworkAcl) || ($.eventName=CreateNetworkAclEntry) || "
        "($.eventName=DeleteNetworkAcl) || ($.eventName=DeleteNetworkAclEntry) || "
        "($.eventName=ReplaceNetworkAclEntry) || ($.eventName=ReplaceNetworkAclAssociation)}",
        routine=True,
    ),
)


class CisAlarms(Construct):
    """On the trail's ``log_group``, one metric filter and one alarm per CIS control
    (``CIS_CONTROLS``), each alarm notifying ``action``; ``alarms`` by metric name."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AccountConfig,
        log_group: logs.ILogGroup,
        action: cloudwatch.IAlarmAction,
    ) -> None:
        super().__init__(scope, construct_id)
        self._log_group = log_group
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for control in CIS_CONTROLS:
            metric_filter = logs.MetricFilter(
                self,
                f"{control.construct_id}Filter",
                log_group=log_group,
                filter_name=control.metric_name,
                filter_pattern=logs.FilterPattern.literal(control.filter_pattern),
                metric_namespace=CIS_METRIC_NAMESPACE,
                metric_name=control.metric_name,
                metric_value="1",
            )
            alarm = cloudwatch.Alarm(
                self,
                f"{control.construct_id}Alarm",
                alarm_name=f"openmarket-audit-{control.metric_name}",
                alarm_description=alarm_description(control.description, control.runbook_section),
                metric=self._paging_metric(control, metric_filter, config),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                # No matching event in a period is the normal, quiet state.
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)
            self.alarms[control.metric_name] = alarm

    def _paging_metric(
        self, control: CisControl, metric_filter: logs.MetricFilter, config: AccountConfig
    ) -> cloudwatch.IMetric:
        """The CIS metric itself, or for a control the platform's automation trips routinely,
        the CIS metric minus those routine events (a second filter on the same log group:
        the CIS pattern and a routine actor). The CIS filter and metric stay exactly as
        Security Hub expects; only what pages leaves the routine out."""
        every = metric_filter.metric(statistic="Sum", period=FIVE_MINUTES)
        if not control.routine:
            return every
        actors = " || ".join(
            f'($.userIdentity.sessionContext.sessionIssuer.userName = "{role}")'
            for role in config.routine_role_names
        )
        routine_filter = logs.MetricFilter(
            self,
            f"{control.construct_id}RoutineFilter",
            log_group=self._log_group,
            filter_name=f"{control.metric_name}ByPlatformAutomation",
            filter_pattern=logs.FilterPattern.literal(
                f"{{ ({control.filter_pattern.strip()[1:-1].strip()}) && ({actors}) }}"
            ),
            metric_namespace=CIS_METRIC_NAMESPACE,
            metric_name=f"{control.metric_name}ByPlatformAutomation",
            metric_value="1",
        )
        return cloudwatch.MathExpression(
            expression="FILL(every, 0) - FILL(routine, 0)",
            using_metrics={
                "every": every,
                "routine": routine_filter.metric(statistic="Sum", period=FIVE_MINUTES),
            },
            label=f"{control.metric_name} by people and unknown principals",
            period=FIVE_MINUTES,
        )
