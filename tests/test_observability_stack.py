"""ObservabilityStack invariants, per stage: dashboard, alarms, topic, budget, dev schedule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openmarket_cdk.config import STAGE_NAMES, stage_config
from tests.cfn import of_type, only, ref_id
from tests.conftest import Synthesized

pytestmark = pytest.mark.parametrize("stage", STAGE_NAMES)
FUNCTIONS = ("image-processor", "order-notification", "report-generator", "data-sync")


def _rendered(value: Any) -> str:
    """Fn::Join with its tokens replaced by a marker, so the JSON body can be read."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(p if isinstance(p, str) else "TOKEN" for p in parts)
    raise AssertionError(f"unexpected {value!r}")


def _metric_name(alarm: dict[str, Any]) -> str:
    if "MetricName" in alarm:
        return str(alarm["MetricName"])
    (metric,) = [m for m in alarm["Metrics"] if "MetricStat" in m]
    return str(metric["MetricStat"]["Metric"]["MetricName"])


def _alarms(synthesized: Synthesized, stage: str) -> dict[str, dict[str, Any]]:
    alarms = of_type(synthesized.template(stage, "observability"), "AWS::CloudWatch::Alarm")
    prefix = f"openmarket-{stage}-"
    return {
        a["Properties"]["AlarmName"].removeprefix(prefix): a["Properties"] for a in alarms.values()
    }


def test_dashboard_has_the_required_widgets(synthesized: Synthesized, stage: str) -> None:
    dashboard = only(synthesized.template(stage, "observability"), "AWS::CloudWatch::Dashboard")
    assert dashboard["DashboardName"] == f"openmarket-{stage}-platform"
    body = json.loads(_rendered(dashboard["DashboardBody"]))
    graphs = [w for w in body["widgets"] if w["type"] == "metric"]
    assert len(graphs) >= 14
    titles = " | ".join(w["properties"].get("title", "") for w in graphs)
    for topic in (
        "ALB requests",
        "ALB 5xx",
        "p95 / p99",
        "healthy targets",
        "EKS node CPU",
        "EKS node memory",
        "Aurora CPU",
        "Aurora connections",
        "Aurora replica lag",
        "Aurora freeable memory",
        "Cache CPU",
        "Cache memory",
        "Cache hit rate",
        "Cache evictions",
        "Cache replication lag",
        "Dead-letter queue depth",
        "NAT bytes",
        *FUNCTIONS,
    ):
        assert topic in titles, topic


def test_alarm_thresholds_come_from_the_original_targets(
    synthesized: Synthesized, stage: str
) -> None:
    obs = stage_config(stage).observability
    sleep = stage_config(stage).sleep
    alarms = _alarms(synthesized, stage)
    expected = {
        "aurora-cpu": (70, "GreaterThanThreshold", "CPUUtilization"),
        "aurora-connections": (100, "GreaterThanThreshold", "DatabaseConnections"),
        "cache-memory": (80, "GreaterThanThreshold", "DatabaseMemoryUsagePercentage"),
        "cache-hit-rate": (80, "LessThanThreshold", "CacheHitRate"),
        "alb-p95-latency": (0.5, "GreaterThanThreshold", "TargetResponseTime"),
    }
    if sleep.load_balancer_sleeps:
        # A new ALB (new id) every morning: alarms bound to one id would go blind after the
        # first night, so there are none; a failed night's sleep alarms instead.
        assert not [name for name in alarms if name.startswith("alb-")]
        del expected["alb-p95-latency"]
    if sleep.enabled:
        # A sleep or wake that failed in part: the stage-sleep function's errors.
        sleep_errors = alarms["stage-sleep-errors"]
        assert (_metric_name(sleep_errors), sleep_errors["Threshold"]) == ("Errors", 0.5)
        assert sleep_errors["Dimensions"] == [
            {"Name": "FunctionName", "Value": stage_config(stage).names.stage_sleep_function_name}
        ]
    for name, (threshold, comparison, metric) in expected.items():
        alarm = alarms[name]
        assert (alarm["Threshold"], alarm["ComparisonOperator"], _metric_name(alarm)) == (
            threshold,
            comparison,
            metric,
        ), name
    if not sleep.load_balancer_sleeps:
        assert alarms["alb-p95-latency"]["ExtendedStatistic"] == "p95"
        five_xx = alarms["alb-5xx-rate"]
        assert five_xx["Threshold"] == obs.alb_5xx_percent == 1.0
        expression = next(m for m in five_xx["Metrics"] if "Expression" in m)["Expression"]
        assert "/" in expression and "100" in expression  # a share of requests, not a count
    for function in FUNCTIONS:
        for kind, metric in (("errors", "Errors"), ("throttles", "Throttles")):
            alarm = alarms[f"{function}-{kind}"]
            assert _metric_name(alarm) == metric and alarm["Threshold"] < 1
        dlq = alarms[f"{function}-dlq-not-empty"]
        assert (_metric_name(dlq), dlq["Threshold"]) == ("ApproximateNumberOfMessagesVisible", 0)
        assert f"{function.title().replace('-', '')}DeadLetterQueue" in json.dumps(
            dlq["Dimensions"]
        )
    assert len(alarms) >= 7


# Alarms that page through another: the heartbeat alarm of a sleeping stage through its
# composite (whose actions the stage-asleep alarm suppresses), and that suppressor itself.
SILENT_IN_SLEEPING_STAGES = {"alerting-heartbeat-missing", "stage-asleep"}


def test_every_alarm_notifies_the_encrypted_topic(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "observability")
    topic_id = next(
        i
        for i, t in of_type(template, "AWS::SNS::Topic").items()
        if t["Properties"]["TopicName"] == f"openmarket-{stage}-alerts"
    )
    topic = of_type(template, "AWS::SNS::Topic")[topic_id]["Properties"]
    assert "KmsMasterKeyId" in topic
    sleeps = stage_config(stage).sleep.enabled
    paging = {
        **_alarms(synthesized, stage),
        **{
            c["Properties"]["AlarmName"].removeprefix(f"openmarket-{stage}-"): c["Properties"]
            for c in of_type(template, "AWS::CloudWatch::CompositeAlarm").values()
        },
    }
    for name, alarm in paging.items():
        if sleeps and name in SILENT_IN_SLEEPING_STAGES:
            assert "AlarmActions" not in alarm, name
            continue
        assert [ref_id(a) for a in alarm["AlarmActions"]] == [topic_id], name
    subscription = only(template, "AWS::SNS::Subscription")
    assert subscription["Protocol"] == "email"
    assert subscription["Endpoint"] == stage_config(stage).observability.alarm_email


def test_composite_platform_degraded_alarm(synthesized: Synthesized, stage: str) -> None:
    composite = next(
        c["Properties"]
        for c in of_type(
            synthesized.template(stage, "observability"), "AWS::CloudWatch::CompositeAlarm"
        ).values()
        if c["Properties"]["AlarmName"] == f"openmarket-{stage}-platform-degraded"
    )
    rule = json.dumps(composite["AlarmRule"])
    alb_alarms = ("Alb5XxRateAlarm", "AlbP95LatencyAlarm")
    if stage_config(stage).sleep.load_balancer_sleeps:
        alb_alarms = ()  # none exist (see test_alarm_thresholds_come_from_spec_targets)
    for alarm in (*alb_alarms, "AuroraCpuAlarm", "CacheMemoryAlarm"):
        assert alarm in rule
    assert composite["AlarmActions"]


def test_budget_alerts_at_80_and_100_percent(synthesized: Synthesized, stage: str) -> None:
    budget = only(synthesized.template(stage, "observability"), "AWS::Budgets::Budget")
    limit = budget["Budget"]["BudgetLimit"]
    assert (limit["Amount"], limit["Unit"]) == (
        stage_config(stage).observability.budget_usd_per_month,
        "USD",
    )
    thresholds = sorted(
        n["Notification"]["Threshold"] for n in budget["NotificationsWithSubscribers"]
    )
    assert thresholds == [80, 100]


def test_reader_alarm_and_graphs_follow_autoscaled_readers(
    synthesized: Synthesized, stage: str
) -> None:
    """Readers are watched by cluster and role, so readers Aurora Auto Scaling adds (instance
    ids unknown to the template) are in the alarm and on the dashboard too."""
    alarms = _alarms(synthesized, stage)
    dashboard = only(synthesized.template(stage, "observability"), "AWS::CloudWatch::Dashboard")
    body = json.loads(_rendered(dashboard["DashboardBody"]))
    graphs = {w["properties"].get("title"): w["properties"] for w in body["widgets"]}
    no_instance_ids = json.dumps([alarms, body])
    assert "DBInstanceIdentifier" not in no_instance_ids
    if stage == "dev":  # a single Serverless v2 writer: no readers to follow
        assert "aurora-reader-cpu" not in alarms
        return
    reader_cpu = alarms["aurora-reader-cpu"]
    (stat,) = [m["MetricStat"] for m in reader_cpu["Metrics"] if "MetricStat" in m]
    dimensions = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
    assert set(dimensions) == {"DBClusterIdentifier", "Role"}
    assert dimensions["Role"] == "READER"
    assert "Aurora" in json.dumps(dimensions["DBClusterIdentifier"])  # the data stack's cluster
    assert _metric_name(reader_cpu) == "CPUUtilization"
    assert reader_cpu["Threshold"] == stage_config(stage).observability.aurora_cpu_percent
    # Longer than a scale-out (cooldown plus a new reader's start): woken only if it fails.
    minutes = reader_cpu["EvaluationPeriods"] * stat["Period"] / 60
    assert minutes > stage_config(stage).aurora.reader_scale_out_cooldown_minutes + 10
    for title in ("Aurora CPU %", "Aurora connections", "Aurora replica lag"):
        rendered = json.dumps(graphs[title]["metrics"])
        assert '"Role", "READER"' in rendered, title


def test_unreadable_uploads_alarm_where_the_dlq_no_longer_sees_them(
    synthesized: Synthesized, stage: str
) -> None:
    """image-processor skips an upload it cannot read (403 without ListBucket = deleted), so a
    lost read permission would never reach its DLQ: this alarm watches those skips."""
    alarm = _alarms(synthesized, stage)["image-processor-uploads-denied"]
    assert alarm["Namespace"] == "OpenMarket"
    assert alarm["MetricName"] == "ImagesSkipped"
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        "service": "image-processor",
        "Reason": "missing-or-denied",
    }
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == ("Sum", 900, 1)
    assert alarm["Threshold"] == stage_config(stage).observability.image_uploads_denied_per_15min
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_the_sleep_marks_arm_and_disarm_the_dead_mans_switch(
    synthesized: Synthesized, stage: str
) -> None:
    """A sleeping stage marks itself asleep when it sleeps and awake when it wakes (its
    stage-sleep function); the alerting heartbeat's paging composite is suppressed by the
    mark, and for the grace time after the stage wakes. prod never sleeps: its heartbeat alarm
    pages itself."""
    template = synthesized.template(stage, "observability")
    config = stage_config(stage)
    alarms = _alarms(synthesized, stage)
    heartbeat = alarms["alerting-heartbeat-missing"]
    assert heartbeat["TreatMissingData"] == "breaching"
    assert heartbeat["EvaluationPeriods"] * heartbeat["Period"] == 15 * 60
    assert heartbeat["Dimensions"] == [
        {"Name": "TopicName", "Value": f"openmarket-{stage}-alerting-heartbeat"}
    ]
    composites = {
        c["Properties"]["AlarmName"]: c["Properties"]
        for c in of_type(template, "AWS::CloudWatch::CompositeAlarm").values()
    }
    if not config.sleep.enabled:
        assert f"openmarket-{stage}-alerting-dead" not in composites
        assert "stage-asleep" not in alarms
        return
    asleep = alarms["stage-asleep"]
    assert asleep["TreatMissingData"] == "ignore"  # two marks a day: the last one holds
    dead = composites[f"openmarket-{stage}-alerting-dead"]
    assert "AlertingSignalsHeartbeatMissing" in json.dumps(dead["AlarmRule"])
    assert "AlertingSignalsStageAsleep" in json.dumps(dead["ActionsSuppressor"])
    assert dead["ActionsSuppressorExtensionPeriod"] == 20 * 60
    # The marks themselves come from the stage-sleep function (tests/test_stage_sleep_runtime.py).
