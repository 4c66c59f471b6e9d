"""The functions section: the four Lambda functions' sizes and plumbing, and its checks."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from openmarket_cdk.config.checks import EMAIL, check_retention
from openmarket_cdk.config.errors import fail


@dataclass(frozen=True)
class FunctionSize:
    """Memory and timeout of one Lambda function (the original design's table)."""

    memory_mb: int
    timeout_s: int


@dataclass(frozen=True)
class FunctionsConfig:
    """The four Lambda functions (the original design: memory, timeout, trigger) and their
    plumbing."""

    image_processor: FunctionSize = FunctionSize(memory_mb=512, timeout_s=60)
    order_notification: FunctionSize = FunctionSize(memory_mb=256, timeout_s=30)
    report_generator: FunctionSize = FunctionSize(memory_mb=1024, timeout_s=300)
    data_sync: FunctionSize = FunctionSize(memory_mb=512, timeout_s=120)
    # name=box size in pixels, largest first: thumbnails/<name>/<path>/<name>.jpg
    thumbnail_sizes: str = "medium=800,thumb=200"
    jpeg_quality: int = 80
    sender_email: str = "no-reply@openmarket.example"
    idempotency_ttl_hours: int = 24
    report_top_products: int = 10
    # The first day an order can exist (launch): an earlier report date is an input error.
    earliest_order_date: str = "2026-01-01"
    report_currency: str = "KRW"
    # EventBridge Scheduler cron fields, Asia/Seoul: daily at 00:00 KST (the day-of-week field:
    # None = every day).
    report_schedule_hour: str = "0"
    report_schedule_minute: str = "0"
    report_schedule_weekdays: str | None = None
    schedule_time_zone: str = "Asia/Seoul"
    data_sync_every_minutes: int = 60
    # dev: sync only during working hours, so Aurora Serverless (0 ACU) can pause at night.
    data_sync_working_hours_only: bool = False
    # Async invocations: Lambda retries twice, then the event goes to the dead-letter queue.
    async_retry_attempts: int = 2
    max_event_age_minutes: int = 60
    dead_letter_retention_days: int = 14
    log_retention_days: int = 30

    @property
    def sizes(self) -> dict[str, FunctionSize]:
        """Function name (its folder under functions/) -> size."""
        return {
            "image-processor": self.image_processor,
            "order-notification": self.order_notification,
            "report-generator": self.report_generator,
            "data-sync": self.data_sync,
        }


def validate_functions(fn: FunctionsConfig) -> None:
    for name, size in (
        ("image_processor", fn.image_processor),
        ("order_notification", fn.order_notification),
        ("report_generator", fn.report_generator),
        ("data_sync", fn.data_sync),
    ):
        if not 128 <= size.memory_mb <= 10240:
            fail(f"functions.{name}.memory_mb", "Lambda memory is 128..10240 MB")
        if not 1 <= size.timeout_s <= 900:
            fail(f"functions.{name}.timeout_s", "Lambda timeout is 1..900 s")
    if not re.fullmatch(r"[a-z]+=\d+(,[a-z]+=\d+)*", fn.thumbnail_sizes):
        fail("functions.thumbnail_sizes", "expected 'name=pixels,...', e.g. 'medium=800'")
    try:
        datetime.date.fromisoformat(fn.earliest_order_date)
    except ValueError:
        fail("functions.earliest_order_date", f"{fn.earliest_order_date!r} is not YYYY-MM-DD")
    if not 1 <= fn.jpeg_quality <= 95:
        fail("functions.jpeg_quality", "must be 1..95")
    if not EMAIL.fullmatch(fn.sender_email):
        fail("functions.sender_email", f"{fn.sender_email!r} is not an e-mail address")
    if not 0 <= fn.async_retry_attempts <= 2:
        fail("functions.async_retry_attempts", "Lambda allows 0..2 async retries")
    if not 1 <= fn.max_event_age_minutes <= 360:
        fail("functions.max_event_age_minutes", "Lambda allows 1..360 minutes")
    if not 1 <= fn.dead_letter_retention_days <= 14:
        fail("functions.dead_letter_retention_days", "SQS keeps messages 1..14 days")
    if fn.data_sync_working_hours_only and fn.data_sync_every_minutes > 60:
        fail("functions.data_sync_every_minutes", "at most 60 when syncing in working hours only")
    if fn.data_sync_every_minutes not in (5, 10, 15, 20, 30, 60, 120, 180, 360, 720):
        fail("functions.data_sync_every_minutes", "pick a divisor-friendly interval, e.g. 60")
    check_retention(fn.log_retention_days, "functions.log_retention_days")
