"""The stage's sleep mark, one CloudWatch data point: 1 when its night schedule puts it to sleep,
0 when its morning schedule or `make wake` wakes it. The alerting dead man's switch of a
sleeping stage holds still while the last mark is 1 (constructs/alerting_signals.py)."""

from __future__ import annotations

from typing import Any

from openmarket_cdk.config import STAGE_SLEEP_METRIC, STAGE_SLEEP_METRIC_NAMESPACE


def stage_sleep_mark(stage: str, *, asleep: bool) -> dict[str, Any]:
    """The PutMetricData request (its API field names, as EventBridge Scheduler and boto3
    both take them)."""
    return {
        "Namespace": STAGE_SLEEP_METRIC_NAMESPACE,
        "MetricData": [
            {
                "MetricName": STAGE_SLEEP_METRIC,
                "Dimensions": [{"Name": "Stage", "Value": stage}],
                "Value": 1 if asleep else 0,
                "Unit": "Count",
            }
        ],
    }
