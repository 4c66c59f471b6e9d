"""order-notification Lambda: EventBridge ``OrderCreated`` -> SES e-mail (+ SNS SMS).

Thin handler: parse the event, build the clients once per execution environment, delegate to
:mod:`order_notifier`. See README.md for the event schema, environment and delivery semantics.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from order_events import OrderCreatedEvent
from order_notifier import NotificationResult, OrderNotifier, Settings

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "order-notification"

logger = Logger(service=SERVICE)
# No namespace here: Powertools reads POWERTOOLS_METRICS_NAMESPACE, which Settings requires.
metrics = Metrics(service=SERVICE)

# Bounded SDK retries and timeouts so one invocation stays well inside the 30 s function timeout.
_BOTO_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
)


@cache
def get_notifier() -> OrderNotifier:
    """Built on first use (not at import) so configuration errors surface as invocation errors."""
    return OrderNotifier(
        settings=Settings.from_env(),
        ses=boto3.client("sesv2", config=_BOTO_CONFIG),
        sns=boto3.client("sns", config=_BOTO_CONFIG),
        sqs=boto3.client("sqs", config=_BOTO_CONFIG),
        dynamodb=boto3.client("dynamodb", config=_BOTO_CONFIG),
        logger=logger,
        metrics=metrics,
    )


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> NotificationResult:
    notifier = get_notifier()
    try:
        order_event = parse(event=event, model=OrderCreatedEvent)
    except ValidationError as exc:
        return notifier.reject(event, exc)
    return notifier.notify(order_event.detail, context, event=event)
