"""AuditStack invariants over the synthesized template: the account's audit trail, its
tamper-proof bucket, its CloudWatch Logs copy and one CIS alarm per monitoring control."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from openmarket_cdk.config import PLACEHOLDER_ACCOUNT, REGION, StageConfigError, account_config
from openmarket_cdk.config.validation import validate_account_config
from openmarket_cdk.constructs.audit_cis_alarms import CIS_CONTROLS, CIS_METRIC_NAMESPACE
from tests.cfn import of_type, only, ref_id
from tests.conftest import Synthesized
from tests.normalize import normalize_template

CONFIG = account_config(PLACEHOLDER_ACCOUNT)
TRAIL_ARN = f"arn:aws:cloudtrail:{REGION}:{PLACEHOLDER_ACCOUNT}:trail/{CONFIG.trail_name}"

# The patterns AWS Security Hub's CIS checks require verbatim (CloudWatch.1-.5, .7, .10, .11),
# copied from the Security Hub user guide rather than from the stack, so a reformatted or
# "improved" pattern in the stack fails here.
SECURITY_HUB_PATTERNS = {
    "RootAccountUsage": '{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && '
    '$.eventType !="AwsServiceEvent"}',
    "UnauthorizedApiCalls": '{($.errorCode="*UnauthorizedOperation") || '
    '($.errorCode="AccessDenied*")}',
    "ConsoleSignInWithoutMfa": '{ ($.eventName = "ConsoleLogin") && '
    '($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && '
    '($.responseElements.ConsoleLogin = "Success") }',
    "IamPolicyChanges": "{($.eventName=DeleteGroupPolicy) || ($.eventName=DeleteRolePolicy) || "
    "($.eventName=DeleteUserPolicy) || ($.eventName=PutGroupPolicy) || "
    "($.eventName=PutRolePolicy) || ($.eventName=PutUserPolicy) || ($.eventName=CreatePolicy) || "
    "($.eventName=DeletePolicy) || ($.eventName=CreatePolicyVersion) || "
    "($.eventName=DeletePolicyVersion) || ($.eventName=AttachRolePolicy) || "
    "($.eventName=DetachRolePolicy) || ($.eventName=AttachUserPolicy) || "
    "($.eventName=DetachUserPolicy) || ($.eventName=AttachGroupPolicy) || "
    "($.eventName=DetachGroupPolicy)}",
    "CloudTrailConfigurationChanges": "{($.eventName=CreateTrail) || ($.eventName=UpdateTrail) || "
    "($.eventName=DeleteTrail) || ($.eventName=StartLogging) || ($.eventName=StopLogging)}",
    "KmsKeyDisabledOrScheduledForDeletion": "{($.eventSource=kms.amazonaws.com) && "
    "(($.eventName=DisableKey) || ($.eventName=ScheduleKeyDeletion))}",
    "SecurityGroupChanges": "{($.eventName=AuthorizeSecurityGroupIngress) || "
    "($.eventName=AuthorizeSecurityGroupEgress) || ($.eventName=RevokeSecurityGroupIngress) || "
    "($.eventName=RevokeSecurityGroupEgress) || ($.eventName=CreateSecurityGroup) || "
    "($.eventName=DeleteSecurityGroup)}",
    "NetworkAclChanges": "{($.eventName=CreateNetworkAcl) || ($.eventName=CreateNetworkAclEntry) "
    "|| ($.eventName=DeleteNetworkAcl) || ($.eventName=DeleteNetworkAclEntry) || "
    "($.eventName=ReplaceNetworkAclEntry) || ($.eventName=ReplaceNetworkAclAssociation)}",
}


@pytest.fixture(scope="module")
def template(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.account_templates["audit"]


def _bucket(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    for logical_id, bucket in of_type(template, "AWS::S3::Bucket").items():
        if bucket["Properties"]["BucketName"] == name:
            return logical_id, bucket
    raise AssertionError(f"no bucket named {name}")


def _bucket_policy(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    (policy,) = [
        p
        for p in of_type(template, "AWS::S3::BucketPolicy").values()
        if ref_id(p["Properties"]["Bucket"]) == logical_id
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _key_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    (key,) = of_type(template, "AWS::KMS::Key").values()
    statements: list[dict[str, Any]] = key["Properties"]["KeyPolicy"]["Statement"]
    return statements


def test_trail_records_management_events_of_every_region_with_validation(
    template: dict[str, Any],
) -> None:
    trail = only(template, "AWS::CloudTrail::Trail")
    assert trail["TrailName"] == CONFIG.trail_name
    assert trail["IsLogging"] is True
    assert trail["IsMultiRegionTrail"] is True
    assert trail["IncludeGlobalServiceEvents"] is True
    assert trail["EnableLogFileValidation"] is True
    assert trail["EventSelectors"] == [{"IncludeManagementEvents": True, "ReadWriteType": "All"}]
    (key_id,) = of_type(template, "AWS::KMS::Key")
    assert ref_id(trail["KMSKeyId"]) == key_id


def test_trail_bucket_is_locked_tiered_private_tls_only_and_kms_encrypted(
    template: dict[str, Any],
) -> None:
    logical_id, bucket = _bucket(template, CONFIG.trail_bucket_name)
    assert ref_id(only(template, "AWS::CloudTrail::Trail")["S3BucketName"]) == logical_id
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    # Object Lock, compliance mode: not even root can delete or overwrite before it ends.
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": CONFIG.trail_retention_days}},
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["Transitions"] == [
        {"StorageClass": "GLACIER", "TransitionInDays": CONFIG.trail_glacier_after_days}
    ]
    assert rule["ExpirationInDays"] == CONFIG.trail_retention_days
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    (key_id,) = of_type(template, "AWS::KMS::Key")
    assert ref_id(encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]) == key_id
    # CIS: the trail bucket's own access is logged, to a separate bucket.
    logs_id, _ = _bucket(template, CONFIG.access_logs_bucket_name)
    assert ref_id(props["LoggingConfiguration"]["DestinationBucketName"]) == logs_id


@pytest.mark.parametrize("name", [CONFIG.trail_bucket_name, CONFIG.access_logs_bucket_name])
def test_audit_buckets_deny_plain_http(template: dict[str, Any], name: str) -> None:
    logical_id, _ = _bucket(template, name)
    assert any(
        s["Effect"] == "Deny"
        and s["Action"] == "s3:*"
        and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in _bucket_policy(template, logical_id)
    )


def test_only_this_trail_may_write_the_trail_bucket(template: dict[str, Any]) -> None:
    logical_id, _ = _bucket(template, CONFIG.trail_bucket_name)
    statements = _bucket_policy(template, logical_id)
    (deny,) = [
        s
        for s in statements
        if s["Effect"] == "Deny" and s["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    ]
    assert deny["Action"] == "s3:PutObject"
    assert deny["Condition"] == {"StringNotEquals": {"aws:SourceArn": TRAIL_ARN}}


def test_trail_delivers_to_an_encrypted_log_group_through_its_own_role(
    template: dict[str, Any],
) -> None:
    trail = only(template, "AWS::CloudTrail::Trail")
    (group_id, group), *others = of_type(template, "AWS::Logs::LogGroup").items()
    assert not others
    assert ref_id(trail["CloudWatchLogsLogGroupArn"]) == group_id
    assert group["Properties"]["LogGroupName"] == CONFIG.trail_log_group_name
    assert group["Properties"]["RetentionInDays"] == CONFIG.trail_log_group_retention_days
    (key_id,) = of_type(template, "AWS::KMS::Key")
    assert ref_id(group["Properties"]["KmsKeyId"]) == key_id
    role_id = ref_id(trail["CloudWatchLogsRoleArn"])
    role = template["Resources"][role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    (policy,) = [
        p
        for p in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert ref_id(statement["Resource"]) == group_id


def test_key_lets_cloudtrail_encrypt_only_for_this_trail(template: dict[str, Any]) -> None:
    statements = {s.get("Sid"): s for s in _key_statements(template)}
    encrypt = statements["CloudTrailEncryptsLogFiles"]
    assert encrypt["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert encrypt["Action"] == "kms:GenerateDataKey*"
    assert encrypt["Condition"]["StringEquals"] == {"aws:SourceArn": TRAIL_ARN}
    context = f"arn:aws:cloudtrail:*:{PLACEHOLDER_ACCOUNT}:trail/*"
    assert encrypt["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:cloudtrail:arn": context
    }
    describe = statements["CloudTrailDescribesKey"]
    assert describe["Condition"] == {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}


def test_key_lets_cloudwatch_logs_use_it_for_the_trail_log_group_only(
    template: dict[str, Any],
) -> None:
    statements = {s.get("Sid"): s for s in _key_statements(template)}
    logs = statements["CloudWatchLogsEncryptsTrailLogGroup"]
    assert logs["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnEquals": {
            "kms:EncryptionContext:aws:logs:arn": (
                f"arn:aws:logs:{REGION}:{PLACEHOLDER_ACCOUNT}:log-group:"
                f"{CONFIG.trail_log_group_name}"
            )
        }
    }
    # Every statement for a service principal is conditioned.
    for statement in _key_statements(template):
        if "Service" in statement["Principal"]:
            assert statement.get("Condition"), statement


def test_key_rotates_and_is_kept(template: dict[str, Any]) -> None:
    (key,) = of_type(template, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


def test_alarms_topic_is_encrypted_and_mails_the_configured_address(
    template: dict[str, Any],
) -> None:
    (topic_id, topic), *others = of_type(template, "AWS::SNS::Topic").items()
    assert not others
    (key_id,) = of_type(template, "AWS::KMS::Key")
    assert ref_id(topic["Properties"]["KmsMasterKeyId"]) == key_id
    (subscription,) = of_type(template, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == CONFIG.alarm_email
    assert ref_id(subscription["Properties"]["TopicArn"]) == topic_id


# Changes the platform's own automation makes routinely (deploys, make smoke): counted apart.
ROUTINE = {"IamPolicyChanges", "SecurityGroupChanges", "NetworkAclChanges"}
ROUTINE_SUFFIX = "ByPlatformAutomation"


def _filters(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f["Properties"]["MetricTransformations"][0]["MetricName"]: f["Properties"]
        for f in of_type(template, "AWS::Logs::MetricFilter").values()
    }


def test_one_metric_filter_with_the_cis_pattern_per_control(template: dict[str, Any]) -> None:
    (group_id,) = of_type(template, "AWS::Logs::LogGroup")
    filters = _filters(template)
    assert filters.keys() == SECURITY_HUB_PATTERNS.keys() | {
        f"{m}{ROUTINE_SUFFIX}" for m in ROUTINE
    }
    for metric, pattern in SECURITY_HUB_PATTERNS.items():
        props = filters[metric]
        assert props["FilterPattern"] == pattern, metric
        assert ref_id(props["LogGroupName"]) == group_id
        (transformation,) = props["MetricTransformations"]
        assert transformation["MetricNamespace"] == CIS_METRIC_NAMESPACE
        assert transformation["MetricValue"] == "1"


def test_routine_changes_by_the_platforms_automation_are_counted_apart(
    template: dict[str, Any],
) -> None:
    """A deploy (CloudFormation's execution role) or make smoke (the GitHub deploy role)
    changing a security group is the platform at work: it must not page security."""
    filters = _filters(template)
    for metric in ROUTINE:
        routine = filters[f"{metric}{ROUTINE_SUFFIX}"]["FilterPattern"]
        # The whole CIS pattern, and one of the platform's roles.
        assert SECURITY_HUB_PATTERNS[metric][1:-1].strip() in routine
        assert '$.userIdentity.sessionContext.sessionIssuer.userName = "cdk-*-cfn-exec-role-*"' in (
            routine
        )
        assert (
            '$.userIdentity.sessionContext.sessionIssuer.userName = "openmarket-github-deploy"'
            in (routine)
        )


def test_one_alarm_per_control_notifies_the_topic(template: dict[str, Any]) -> None:
    (topic_id,) = of_type(template, "AWS::SNS::Topic")
    alarms = {
        a["Properties"]["AlarmName"].removeprefix("openmarket-audit-"): a["Properties"]
        for a in of_type(template, "AWS::CloudWatch::Alarm").values()
    }
    assert alarms.keys() == SECURITY_HUB_PATTERNS.keys()
    for name, alarm in alarms.items():
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["EvaluationPeriods"] == 1
        assert [ref_id(action) for action in alarm["AlarmActions"]] == [topic_id]
        if name in ROUTINE:
            # Every matching event, minus the platform's routine ones.
            expression, every, routine = alarm["Metrics"]
            assert expression["Expression"] == "FILL(every, 0) - FILL(routine, 0)"
            assert every["MetricStat"]["Metric"]["MetricName"] == name
            assert routine["MetricStat"]["Metric"]["MetricName"] == f"{name}{ROUTINE_SUFFIX}"
            assert every["MetricStat"]["Metric"]["Namespace"] == CIS_METRIC_NAMESPACE
        else:
            assert alarm["MetricName"] == name
            assert alarm["Namespace"] == CIS_METRIC_NAMESPACE, name
            assert alarm["Statistic"] == "Sum"


def test_every_control_of_the_brief_is_covered() -> None:
    assert len(CIS_CONTROLS) == len({c.metric_name for c in CIS_CONTROLS}) == 8


def test_the_audit_stack_is_protected_and_named(synthesized: Synthesized) -> None:
    stack = synthesized.app.node.find_child("Audit")
    artifact = synthesized.app.synth().get_stack_artifact(stack.node.id)
    assert artifact.stack_name == "openmarket-audit"
    assert artifact.termination_protection is True
    # Everything stateful stays when the stack is deleted.
    for resource in json.loads(json.dumps(artifact.template))["Resources"].values():
        if resource["Type"] in ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Logs::LogGroup"):
            assert resource["DeletionPolicy"] == "Retain", resource["Type"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("trail_name", "a", "trail name"),
        ("trail_retention_days", 0, "Object Lock"),
        ("trail_glacier_after_days", 400, "before the trail's expiry"),
        ("trail_log_group_retention_days", 100, "retention value"),
        ("alarm_email", "nobody", "e-mail"),
        ("account", "12345", "12-digit"),
    ],
)
def test_account_config_names_the_bad_field(field: str, value: Any, message: str) -> None:
    with pytest.raises(StageConfigError, match=rf"'account\.{field}'.*{message}"):
        validate_account_config(replace(CONFIG, **{field: value}))


def test_template_matches_snapshot(template: dict[str, Any], snapshot: SnapshotAssertion) -> None:
    assert normalize_template(template) == snapshot(extension_class=JSONSnapshotExtension)
