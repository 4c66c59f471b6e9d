"""FunctionsStack invariants, per stage: the original design's sizes, triggers, DLQs, IAM scope,
logs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openmarket_cdk.config import PLACEHOLDER_ACCOUNT, STAGE_NAMES, stage_config
from tests.cfn import as_list, of_type, ref_id
from tests.conftest import Synthesized

pytestmark = pytest.mark.parametrize("stage", STAGE_NAMES)

# The original design: memory (MB) and timeout (s) per function.
ORIGINAL_SIZES = {
    "image-processor": (512, 60),
    "order-notification": (256, 30),
    "report-generator": (1024, 300),
    "data-sync": (512, 120),
}
IN_VPC = {"report-generator", "data-sync"}


def _functions(synthesized: Synthesized, stage: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """function short name -> (logical id, properties), our four functions only."""
    found = {}
    for logical_id, fn in of_type(
        synthesized.template(stage, "functions"), "AWS::Lambda::Function"
    ).items():
        name = str(fn["Properties"].get("FunctionName", ""))
        short = name.removeprefix(f"openmarket-{stage}-")
        if short in ORIGINAL_SIZES:
            found[short] = (logical_id, fn["Properties"])
    assert set(found) == set(ORIGINAL_SIZES)
    return found


def _policy_statements(synthesized: Synthesized, stage: str, role_id: str) -> list[dict[str, Any]]:
    template = synthesized.template(stage, "functions")
    statements: list[dict[str, Any]] = []
    for policy in of_type(template, "AWS::IAM::Policy").values():
        if any(ref_id(r) == role_id for r in policy["Properties"]["Roles"]):
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def test_sizes_runtime_and_architecture(synthesized: Synthesized, stage: str) -> None:
    for name, (_, props) in _functions(synthesized, stage).items():
        assert (props["MemorySize"], props["Timeout"]) == ORIGINAL_SIZES[name], name
        assert props["Runtime"] == "python3.14"
        assert props["Architectures"] == ["arm64"]
        assert props["Handler"] == "index.handler"
        assert props["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == "OpenMarket"
        assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == name


def test_explicit_log_groups_with_retention(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "functions")
    groups = of_type(template, "AWS::Logs::LogGroup")
    retention = stage_config(stage).functions.log_retention_days
    # The original design: Lambda logs kept 30 days; dev keeps 7 (its cost optimisation).
    assert retention == (7 if stage == "dev" else 30)
    for name, (_, props) in _functions(synthesized, stage).items():
        group = groups[str(ref_id(props["LoggingConfig"]["LogGroup"]))]["Properties"]
        assert group["LogGroupName"] == f"/aws/lambda/openmarket-{stage}-{name}"
        assert group["RetentionInDays"] == retention
    assert not of_type(template, "Custom::LogRetention")


def test_every_function_has_a_dlq(synthesized: Synthesized, stage: str) -> None:
    """Depth alarms on these queues live in the observability stack (tested there)."""
    template = synthesized.template(stage, "functions")
    invoke_configs = {
        ref_id(c["Properties"]["FunctionName"]): c["Properties"]
        for c in of_type(template, "AWS::Lambda::EventInvokeConfig").values()
    }
    queues = of_type(template, "AWS::SQS::Queue")
    for name, (logical_id, props) in _functions(synthesized, stage).items():
        queue_id = props["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0]
        queue = queues[queue_id]["Properties"]
        assert queue["QueueName"] == f"openmarket-{stage}-{name}-dlq"
        assert queue["SqsManagedSseEnabled"] is True
        assert invoke_configs[logical_id]["MaximumRetryAttempts"] == 2


def test_image_processor_is_triggered_by_uploads_only(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "functions")
    (notification,) = of_type(template, "Custom::S3BucketNotifications").values()
    props = notification["Properties"]
    assert props["Managed"] is False  # leaves any other notification of the bucket alone
    (config,) = props["NotificationConfiguration"]["LambdaFunctionConfigurations"]
    assert config["Events"] == ["s3:ObjectCreated:*"]
    assert config["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "uploads/"}]
    image_id, _ = _functions(synthesized, stage)["image-processor"]
    assert config["LambdaFunctionArn"]["Fn::GetAtt"][0] == image_id


def test_image_processor_iam_is_limited_to_its_prefixes(
    synthesized: Synthesized, stage: str
) -> None:
    _, props = _functions(synthesized, stage)["image-processor"]
    bucket = f"arn:aws:s3:::openmarket-{stage}-uploads-{PLACEHOLDER_ACCOUNT}"
    statements = _policy_statements(synthesized, stage, str(ref_id(props["Role"])))
    s3_resources = {
        r
        for s in statements
        if any(a.startswith("s3:") for a in as_list(s["Action"]))
        for r in as_list(s["Resource"])
    }
    assert s3_resources == {f"{bucket}/uploads/*", f"{bucket}/thumbnails/*"}
    writes = [s for s in statements if "s3:PutObject" in as_list(s["Action"])]
    assert [w["Resource"] for w in writes] == [f"{bucket}/thumbnails/*"]
    # Ordered overwrites (issue 13): it reads its thumbnails' state and withdraws a write an
    # overtaken attempt made, with conditional deletes only; it may not list the bucket (a
    # deleted upload answers 403, which the handler treats as gone).
    (delete,) = [s for s in statements if "s3:DeleteObject" in as_list(s["Action"])]
    assert delete["Resource"] == f"{bucket}/thumbnails/*"
    assert delete["Condition"] == {"Null": {"s3:if-match": "false"}}
    assert not any("s3:ListBucket" in as_list(s["Action"]) for s in statements)


def test_report_generator_knows_the_first_possible_order_date(
    synthesized: Synthesized, stage: str
) -> None:
    _, props = _functions(synthesized, stage)["report-generator"]
    variables = props["Environment"]["Variables"]
    assert variables["EARLIEST_ORDER_DATE"] == stage_config(stage).functions.earliest_order_date


def test_order_notification_rule_table_and_bus(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "functions")
    (bus,) = of_type(template, "AWS::Events::EventBus").values()
    assert bus["Properties"]["Name"] == f"openmarket-{stage}-orders"
    (rule,) = of_type(template, "AWS::Events::Rule").values()
    props = rule["Properties"]
    assert props["EventPattern"] == {
        "source": ["openmarket.orders"],
        "detail-type": ["OrderCreated"],
    }
    (target,) = props["Targets"]
    order_id, order = _functions(synthesized, stage)["order-notification"]
    assert target["Arn"]["Fn::GetAtt"][0] == order_id
    assert target["DeadLetterConfig"]["Arn"] == order["DeadLetterConfig"]["TargetArn"]
    (table,) = of_type(template, "AWS::DynamoDB::GlobalTable").values()
    table_props = table["Properties"]
    assert table_props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table_props["TimeToLiveSpecification"] == {
        "AttributeName": "expiration",
        "Enabled": True,
    }
    env = order["Environment"]["Variables"]
    assert ref_id(env["IDEMPOTENCY_TABLE"]) in of_type(template, "AWS::DynamoDB::GlobalTable")
    assert ref_id(env["DLQ_URL"]) == order["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0]


def test_schedules_run_in_seoul_time(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "functions")
    schedules = {
        s["Properties"]["Name"]: s["Properties"]
        for s in of_type(template, "AWS::Scheduler::Schedule").values()
    }
    report = schedules[f"openmarket-{stage}-report-generator"]
    # 00:00 KST; dev's NAT instance sleeps at night and the report reads its secret through
    # it, so dev's runs at 09:30 on working days.
    expected_report = "cron(30 9 ? * MON-FRI *)" if stage == "dev" else "cron(0 0 * * ? *)"
    assert report["ScheduleExpression"] == expected_report
    assert report["ScheduleExpressionTimezone"] == "Asia/Seoul"
    sync = schedules[f"openmarket-{stage}-data-sync"]
    # dev syncs in working hours only, so its Serverless Aurora can pause at night.
    expected = "cron(0 9-17 ? * MON-FRI *)" if stage == "dev" else "rate(1 hour)"
    assert sync["ScheduleExpression"] == expected
    if stage == "dev":  # working hours are Seoul's (a rate has no time zone)
        assert sync["ScheduleExpressionTimezone"] == "Asia/Seoul"
    functions = _functions(synthesized, stage)
    for name in ("report-generator", "data-sync"):
        target = schedules[f"openmarket-{stage}-{name}"]["Target"]
        logical_id, props = functions[name]
        assert target["Arn"]["Fn::GetAtt"][0] == logical_id
        assert target["DeadLetterConfig"]["Arn"] == props["DeadLetterConfig"]["TargetArn"]


def test_vpc_functions_use_private_subnets_and_their_security_group(
    synthesized: Synthesized, stage: str
) -> None:
    for name, (_, props) in _functions(synthesized, stage).items():
        if name in IN_VPC:
            vpc = json.dumps(props["VpcConfig"])
            assert "privateSubnet" in vpc and "FunctionsSecurityGroup" in vpc
            assert "databaseSubnet" not in vpc and "publicSubnet" not in vpc
            env = props["Environment"]["Variables"]
            # Reads go to the reader endpoint, never the writer.
            assert "ReadEndpoint" in json.dumps(env["DB_HOST"])
        else:
            assert "VpcConfig" not in props


def test_no_function_role_has_wildcard_actions(synthesized: Synthesized, stage: str) -> None:
    for name, (_, props) in _functions(synthesized, stage).items():
        for statement in _policy_statements(synthesized, stage, str(ref_id(props["Role"]))):
            for action in as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), (name, action)
            if statement.get("Effect", "Allow") == "Allow" and "*" in as_list(
                statement["Resource"]
            ):
                allowed = {"sns:Publish"} | {
                    "ec2:CreateNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSubnets",
                    "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses",
                }
                assert set(as_list(statement["Action"])) <= allowed, (name, statement)


def test_reports_go_to_their_own_bucket(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "functions")
    (bucket,) = of_type(template, "AWS::S3::Bucket").values()
    props = bucket["Properties"]
    assert props["BucketName"] == f"openmarket-{stage}-reports-{PLACEHOLDER_ACCOUNT}"
    assert props["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    _, report = _functions(synthesized, stage)["report-generator"]
    assert ref_id(report["Environment"]["Variables"]["REPORTS_BUCKET"]) in of_type(
        template, "AWS::S3::Bucket"
    )


def test_reports_are_encrypted_with_their_own_rotating_key(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "functions")
    (bucket,) = of_type(template, "AWS::S3::Bucket").values()
    (encryption,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    key_id = ref_id(encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"])
    assert key_id in of_type(template, "AWS::KMS::Key")
    assert template["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True
    # Access logs still go to the (SSE-S3) logs bucket, under the reports prefix.
    assert bucket["Properties"]["LoggingConfiguration"]["LogFilePrefix"] == "s3-access/reports/"
    # The report generator may have S3 make data keys under it, and nothing more.
    _, report = _functions(synthesized, stage)["report-generator"]
    role_id = ref_id(report["Role"])
    assert role_id is not None
    grants = [
        statement
        for statement in _policy_statements(synthesized, stage, role_id)
        if ref_id(statement["Resource"]) == key_id
    ]
    assert grants == [
        {
            "Action": "kms:GenerateDataKey",
            "Condition": {"StringEquals": {"kms:ViaService": "s3.ap-northeast-2.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [key_id, "Arn"]},
        }
    ]
