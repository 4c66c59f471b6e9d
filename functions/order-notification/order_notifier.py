"""Sending the order notification: SES e-mail, SNS SMS, idempotency on orderId, DLQ for bad events.

Delivery semantics
------------------
* Each channel (e-mail, SMS) is its own Powertools ``idempotent_function`` keyed on ``orderId``
  (records ``order-notification.email#<hash>`` and ``order-notification.sms#<hash>``). A second
  delivery of the same order sends nothing; a retry after a failed SMS does not resend the
  e-mail.
* An AWS error while sending raises :class:`DeliveryError` (no PII in its message). Powertools
  deletes the in-progress record of the failed channel, so the retry Lambda/EventBridge make
  is not blocked by it.
* An event that fails validation is sent by the function itself to the DLQ (body: the original
  event, attributes: ``reason``/``errorType``) and the invocation succeeds, so it is not retried.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from botocore.exceptions import BotoCoreError, ClientError
from order_events import ORDER_ID_PATTERN, OrderCreatedDetail
from order_messages import mask_email, mask_phone, render_email, render_sms
from pydantic import ValidationError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

# boto3 ships no type information; these aliases document which client is expected.
SESv2Client = Any
SNSClient = Any
SQSClient = Any
DynamoDBClient = Any

METRIC_SENT: Final = "OrderNotificationSent"
METRIC_INVALID: Final = "OrderNotificationInvalid"
METRIC_DUPLICATE: Final = "OrderNotificationDuplicate"
METRIC_FAILED: Final = "OrderNotificationFailed"

# DynamoDB attribute names (Powertools defaults); the CDK table must match.
IDEMPOTENCY_KEY_ATTR: Final = "id"
IDEMPOTENCY_TTL_ATTR: Final = "expiration"
# Stable record prefixes: renaming Python functions must not change the keys of live records.
EMAIL_KEY_PREFIX: Final = "order-notification.email"
SMS_KEY_PREFIX: Final = "order-notification.sms"

MAX_REASON_CHARS: Final = 2000
_ORDER_ID_RE: Final = re.compile(ORDER_ID_PATTERN)


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or malformed."""


class DeliveryError(RuntimeError):
    """SES/SNS refused or failed the request; raised so the invocation is retried.

    Only the channel and the AWS error code are kept: AWS error messages can quote addresses.
    """

    def __init__(self, channel: str, code: str) -> None:
        super().__init__(f"order {channel} delivery failed: {code}")
        self.channel = channel
        self.code = code


class ChannelResult(TypedDict, total=False):
    channel: Literal["email", "sms"]
    messageId: str
    replayed: bool


class NotificationResult(TypedDict, total=False):
    status: Literal["sent", "duplicate", "invalid"]
    orderId: str
    channels: list[ChannelResult]
    reason: str


@dataclass(frozen=True, slots=True)
class Settings:
    sender_email: str
    idempotency_table: str
    dlq_url: str
    idempotency_ttl_hours: int = 24
    ses_configuration_set: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        missing = [n for n in ("SENDER_EMAIL", "IDEMPOTENCY_TABLE", "DLQ_URL") if not env.get(n)]
        if missing:
            raise ConfigurationError(f"missing environment variable(s): {', '.join(missing)}")
        raw_ttl = env.get("IDEMPOTENCY_TTL_HOURS", "24")
        try:
            ttl_hours = int(raw_ttl)
        except ValueError:
            ttl_hours = 0
        if ttl_hours < 1:
            raise ConfigurationError(f"IDEMPOTENCY_TTL_HOURS must be an integer >= 1: {raw_ttl!r}")
        return cls(
            sender_email=env["SENDER_EMAIL"],
            idempotency_table=env["IDEMPOTENCY_TABLE"],
            dlq_url=env["DLQ_URL"],
            idempotency_ttl_hours=ttl_hours,
            ses_configuration_set=env.get("SES_CONFIGURATION_SET") or None,
        )


def describe_validation_error(error: ValidationError) -> str:
    """``detail.items.0.quantity: Input should be greater than or equal to 1; ...``.

    Input values are left out on purpose (they can be personal data).
    """
    parts = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(str(p) for p in item["loc"]) or "event"
        parts.append(f"{loc}: {item['msg']}")
    reason = "; ".join(parts) or error.title
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 3] + "..."


def _aws_error_code(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def _peek_order_id(event: Any) -> str | None:
    """The orderId of an event that failed validation, if it looks like one."""
    detail = event.get("detail") if isinstance(event, dict) else None
    order_id = detail.get("orderId") if isinstance(detail, dict) else None
    if isinstance(order_id, str) and _ORDER_ID_RE.fullmatch(order_id):
        return order_id
    return None


class OrderNotifier:
    def __init__(
        self,
        *,
        settings: Settings,
        ses: SESv2Client,
        sns: SNSClient,
        sqs: SQSClient,
        dynamodb: DynamoDBClient,
        logger: Logger,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.ses = ses
        self.sns = sns
        self.sqs = sqs
        self.logger = logger
        self.metrics = metrics
        self.idempotency_config = IdempotencyConfig(
            event_key_jmespath="orderId",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=settings.idempotency_ttl_hours * 3600,
            response_hook=self._on_replay,
        )

        def store() -> DynamoDBPersistenceLayer:
            return DynamoDBPersistenceLayer(
                table_name=settings.idempotency_table,
                key_attr=IDEMPOTENCY_KEY_ATTR,
                expiry_attr=IDEMPOTENCY_TTL_ATTR,
                boto3_client=dynamodb,
            )

        self._email_once = idempotent_function(
            self._send_email,
            data_keyword_argument="order",
            persistence_store=store(),
            config=self.idempotency_config,
            key_prefix=EMAIL_KEY_PREFIX,
        )
        self._sms_once = idempotent_function(
            self._send_sms,
            data_keyword_argument="order",
            persistence_store=store(),
            config=self.idempotency_config,
            key_prefix=SMS_KEY_PREFIX,
        )

    # -- valid events -------------------------------------------------------------------------

    def notify(self, order: OrderCreatedDetail, context: LambdaContext) -> NotificationResult:
        self.logger.set_correlation_id(order.order_id)
        self.idempotency_config.register_lambda_context(context)
        phone = order.customer_phone
        self.logger.info(
            "Notifying customer of new order",
            extra={
                "customer_email": mask_email(order.customer_email),
                "customer_phone": mask_phone(phone) if phone else None,
                "item_count": len(order.items),
            },
        )
        channels: list[ChannelResult] = []
        try:
            channels.append(self._email_once(order=order))
            if order.customer_phone:
                channels.append(self._sms_once(order=order))
        except Exception as exc:
            self.metrics.add_metric(name=METRIC_FAILED, unit=MetricUnit.Count, value=1)
            self.logger.warning(
                "Order notification failed; raising so the event is retried",
                extra={"error_type": type(exc).__name__, "error": str(exc)},
            )
            raise

        if all(c.get("replayed") for c in channels):
            self.metrics.add_metric(name=METRIC_DUPLICATE, unit=MetricUnit.Count, value=1)
            self.logger.info("Duplicate OrderCreated event; nothing sent")
            return {"status": "duplicate", "orderId": order.order_id, "channels": channels}

        self.metrics.add_metric(name=METRIC_SENT, unit=MetricUnit.Count, value=1)
        self.logger.info("Order notification sent", extra={"channels": channels})
        return {"status": "sent", "orderId": order.order_id, "channels": channels}

    def _on_replay(self, response: Any, idempotent_data: DataRecord) -> Any:
        """Powertools calls this when a completed record is found, i.e. nothing is sent."""
        if isinstance(response, dict):
            return {**response, "replayed": True}
        return response

    def _send_email(self, *, order: OrderCreatedDetail) -> ChannelResult:
        content = render_email(order)
        request: dict[str, Any] = {
            "FromEmailAddress": self.settings.sender_email,
            "Destination": {"ToAddresses": [order.customer_email]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": content.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Html": {"Data": content.html, "Charset": "UTF-8"},
                        "Text": {"Data": content.text, "Charset": "UTF-8"},
                    },
                }
            },
        }
        if self.settings.ses_configuration_set:
            request["ConfigurationSetName"] = self.settings.ses_configuration_set
        try:
            response = self.ses.send_email(**request)
        except (ClientError, BotoCoreError) as exc:
            raise DeliveryError("email", _aws_error_code(exc)) from None
        return {"channel": "email", "messageId": str(response["MessageId"])}

    def _send_sms(self, *, order: OrderCreatedDetail) -> ChannelResult:
        try:
            response = self.sns.publish(
                PhoneNumber=order.customer_phone,
                Message=render_sms(order),
                MessageAttributes={
                    "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise DeliveryError("sms", _aws_error_code(exc)) from None
        return {"channel": "sms", "messageId": str(response["MessageId"])}

    # -- invalid events -----------------------------------------------------------------------

    def reject(self, event: Any, error: ValidationError) -> NotificationResult:
        """Send an event that cannot be valid to the DLQ and return normally (no retry)."""
        reason = describe_validation_error(error)
        order_id = _peek_order_id(event)
        if order_id:
            self.logger.set_correlation_id(order_id)
        attributes: dict[str, dict[str, str]] = {
            "reason": {"DataType": "String", "StringValue": reason},
            "errorType": {"DataType": "String", "StringValue": "ValidationError"},
        }
        if order_id:
            attributes["orderId"] = {"DataType": "String", "StringValue": order_id}
        self.sqs.send_message(
            QueueUrl=self.settings.dlq_url,
            MessageBody=json.dumps(event, default=str),
            MessageAttributes=attributes,
        )
        self.metrics.add_metric(name=METRIC_INVALID, unit=MetricUnit.Count, value=1)
        self.logger.warning("Invalid OrderCreated event sent to the DLQ", extra={"reason": reason})
        result: NotificationResult = {"status": "invalid", "reason": reason}
        if order_id:
            result["orderId"] = order_id
        return result
