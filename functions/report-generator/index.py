"""report-generator Lambda handler: daily sales report (schedule: 00:00 Asia/Seoul).

Event: anything (the scheduled event) → report for the previous KST day (skipped while that day
is before EARLIEST_ORDER_DATE); `{"date": "YYYY-MM-DD"}` → backfill that KST day, which must lie
between EARLIEST_ORDER_DATE and yesterday (KST). Invalid input raises (see README.md).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from typing import Any

import boto3
import pymysql
import sales_report
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "report-generator"
logger = Logger(service=SERVICE)
# No namespace here: Powertools reads POWERTOOLS_METRICS_NAMESPACE (the stack sets it).
metrics = Metrics(service=SERVICE)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Injectable clock (tests replace it); must return an aware datetime.
clock: Callable[[], dt.datetime] = _utc_now


@metrics.log_metrics
@logger.inject_lambda_context(log_event=True, clear_state=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        return _generate(event)
    except sales_report.ReportInputError as exc:
        metrics.add_metric(name="ReportInvalidInput", unit=MetricUnit.Count, value=1)
        logger.error("rejected report request", extra={"reason": str(exc)})
        raise
    except sales_report.ReportConfigError as exc:
        metrics.add_metric(name="ReportConfigError", unit=MetricUnit.Count, value=1)
        logger.error("invalid function configuration", extra={"reason": str(exc)})
        raise
    except Exception:
        metrics.add_metric(name="ReportFailed", unit=MetricUnit.Count, value=1)
        logger.exception("daily report failed")
        raise


def _generate(event: Any) -> dict[str, Any]:
    started = time.perf_counter()
    settings = sales_report.ReportSettings.from_env(os.environ)
    day = sales_report.resolve_report_date(event, clock(), settings.earliest_order_date)
    logger.append_keys(report_date=day.isoformat())
    if day < settings.earliest_order_date:
        # Only the scheduled run gets here (a requested date this early is a ReportInputError):
        # the previous KST day predates the first possible order, so there is nothing to report.
        metrics.add_metric(name="ReportSkipped", unit=MetricUnit.Count, value=1)
        logger.info(
            "no report: the day is before EARLIEST_ORDER_DATE",
            extra={"earliest_order_date": settings.earliest_order_date.isoformat()},
        )
        return {"date": day.isoformat(), "skipped": True, "reason": "before EARLIEST_ORDER_DATE"}

    secrets = boto3.client("secretsmanager")
    secret = sales_report.parse_db_secret(
        secrets.get_secret_value(SecretId=settings.db_secret_arn)["SecretString"]
    )
    conn = pymysql.connect(**sales_report.connection_kwargs(settings, secret))
    try:
        report = sales_report.build_report(
            conn, day, top_n=settings.top_n, currency=settings.currency
        )
    finally:
        conn.close()
    query_ms = (time.perf_counter() - started) * 1000

    # Nothing is written before every query has succeeded; summary.json goes last.
    files = sales_report.render_report(report)
    keys = sales_report.write_report(boto3.client("s3"), settings.reports_bucket, day, files)
    total_ms = (time.perf_counter() - started) * 1000

    if report.other_currencies:
        logger.warning(
            "orders in other currencies were excluded",
            extra={"currencies": sorted(report.other_currencies)},
        )
    metrics.add_metric(name="ReportGenerated", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ReportOrders", unit=MetricUnit.Count, value=report.order_count)
    metrics.add_metric(
        name="ReportGrossRevenue", unit=MetricUnit.NoUnit, value=float(report.gross_revenue)
    )
    metrics.add_metric(name="ReportDuration", unit=MetricUnit.Milliseconds, value=total_ms)
    logger.info(
        "daily report written",
        extra={
            "bucket": settings.reports_bucket,
            "keys": keys,
            "order_count": report.order_count,
            "gross_revenue": str(report.gross_revenue),
            "query_ms": round(query_ms, 1),
            "total_ms": round(total_ms, 1),
        },
    )
    return {
        "date": day.isoformat(),
        "bucket": settings.reports_bucket,
        "keys": keys,
        "orderCount": report.order_count,
        "grossRevenue": str(report.gross_revenue),
    }
