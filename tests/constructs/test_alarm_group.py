"""The observability alarms on a bare stack: what every alarm of an AlarmGroup has, and the
per-function table, for thresholds no stage uses."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from openmarket_cdk.config import stage_config
from openmarket_cdk.constructs.observability_alarms import (
    ABOVE,
    AlarmGroup,
    AlarmSpec,
    at_least,
    function_alarms,
)
from openmarket_cdk.runbooks import runbook_url
from tests.constructs.bare import bare_stack

CONFIG = stage_config("staging")


def _alarms(specs: list[AlarmSpec]) -> tuple[dict[str, dict[str, Any]], str]:
    """Alarm properties by name, and the topic's logical id."""
    stack = bare_stack(CONFIG)
    topic = sns.Topic(stack, "Alerts")
    AlarmGroup(
        stack,
        "Group",
        config=CONFIG,
        action=cloudwatch_actions.SnsAction(topic),
        specs=specs,
    )
    template = Template.from_stack(stack)
    alarms = {
        alarm["Properties"]["AlarmName"]: alarm["Properties"]
        for alarm in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    (topic_id,) = template.find_resources("AWS::SNS::Topic")
    return alarms, topic_id


def test_every_alarm_is_named_linked_and_notifies_both_ways() -> None:
    metric = cloudwatch.Metric(namespace="Test", metric_name="Things")
    alarms, topic_id = _alarms(
        [
            AlarmSpec("things-high", metric, 10, ABOVE, "Too many things", periods=4),
            AlarmSpec("things-twice", metric, 1, ABOVE, "Again", section="things-high"),
        ]
    )
    prefix = CONFIG.names.prefix
    assert set(alarms) == {f"{prefix}-things-high", f"{prefix}-things-twice"}
    high, twice = alarms[f"{prefix}-things-high"], alarms[f"{prefix}-things-twice"]
    assert high["AlarmDescription"] == f"Too many things. Runbook: {runbook_url('things-high')}"
    assert twice["AlarmDescription"].endswith(runbook_url("things-high"))
    assert (high["EvaluationPeriods"], high["DatapointsToAlarm"]) == (4, 4)
    assert (twice["EvaluationPeriods"], twice["DatapointsToAlarm"]) == (3, 3)
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": topic_id}]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_function_alarms_follow_the_configured_counts() -> None:
    """Counts are whole events: "at least 3" alarms above 2.5, so 3 fire and 2 do not."""
    obs = replace(CONFIG.observability, lambda_errors=3, lambda_throttles=2)
    stack = bare_stack(CONFIG)
    specs = function_alarms(
        obs,
        {"worker": lambda_.Function.from_function_name(stack, "Worker", "worker")},
        {"worker": sqs.Queue.from_queue_arn(stack, "Dlq", "arn:aws:sqs:ap-northeast-2:1:dlq")},
    )
    by_name = {spec.name: spec for spec in specs}
    assert set(by_name) == {
        "worker-errors",
        "worker-throttles",
        "image-processor-uploads-denied",
        "worker-dlq-not-empty",
    }
    assert by_name["worker-errors"].threshold == at_least(3) == 2.5
    assert by_name["worker-throttles"].threshold == at_least(2)
    assert by_name["worker-errors"].section == "function-errors"
    assert by_name["worker-throttles"].section == "function-throttles"
    assert by_name["worker-dlq-not-empty"].section == "dead-letter-queue-not-empty"
    assert by_name["image-processor-uploads-denied"].threshold == obs.image_uploads_denied_per_15min
    alarms, _ = _alarms(specs)
    errors = alarms[f"{CONFIG.names.prefix}-worker-errors"]
    assert (errors["MetricName"], errors["Namespace"], errors["Threshold"]) == (
        "Errors",
        "AWS/Lambda",
        2.5,
    )
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": "worker"}]
