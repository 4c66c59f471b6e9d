"""data-sync Lambda handler: hourly stock + hot-products refresh from Aurora (reader) to Redis.

Event: anything (the scheduled event) → incremental sync (full resync when the watermark is
missing); `{"fullResync": true}` forces a full resync. See README.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
import inventory_sync
import pymysql
import redis
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "data-sync"
logger = Logger(service=SERVICE)
# No namespace here: Powertools reads POWERTOOLS_METRICS_NAMESPACE (the stack sets it).
metrics = Metrics(service=SERVICE)


def _force_full(event: Any) -> bool:
    if not isinstance(event, Mapping):
        return False
    value = event.get("fullResync", False)
    if not isinstance(value, bool):
        raise inventory_sync.SyncConfigError(f"fullResync must be true or false, got {value!r}")
    return value


@metrics.log_metrics
@logger.inject_lambda_context(log_event=True, clear_state=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        return _sync(event)
    except inventory_sync.SyncConfigError as exc:
        metrics.add_metric(name="SyncConfigError", unit=MetricUnit.Count, value=1)
        logger.error("invalid function configuration or input", extra={"reason": str(exc)})
        raise
    except Exception:
        metrics.add_metric(name="SyncFailed", unit=MetricUnit.Count, value=1)
        logger.exception("inventory sync failed")
        raise


def _sync(event: Any) -> dict[str, Any]:
    settings = inventory_sync.SyncSettings.from_env(os.environ)
    force_full = _force_full(event)
    secrets = boto3.client("secretsmanager")
    db_kwargs = inventory_sync.db_connection_kwargs(
        settings, secrets.get_secret_value(SecretId=settings.db_secret_arn)["SecretString"]
    )
    redis_kwargs = inventory_sync.redis_connection_kwargs(
        settings, secrets.get_secret_value(SecretId=settings.redis_secret_arn)["SecretString"]
    )
    client = redis.Redis(**redis_kwargs)
    conn = pymysql.connect(**db_kwargs)
    try:
        result = inventory_sync.run_sync(conn, client, settings, force_full=force_full)
    finally:
        conn.close()
        client.close()

    if result.mode == "full":
        metrics.add_metric(name="FullResync", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="StockRowsRead", unit=MetricUnit.Count, value=result.rows)
    metrics.add_metric(name="StockKeysWritten", unit=MetricUnit.Count, value=result.written)
    metrics.add_metric(name="StockKeysDeleted", unit=MetricUnit.Count, value=result.deleted)
    metrics.add_metric(name="HotProducts", unit=MetricUnit.Count, value=result.hot_products)
    metrics.add_metric(name="SyncDuration", unit=MetricUnit.Milliseconds, value=result.duration_ms)
    logger.info("inventory sync finished", extra=result.as_dict())
    return result.as_dict()
