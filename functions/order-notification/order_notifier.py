"""Sending the order notification: SES e-mail, SNS SMS, idempotency on orderId, DLQ for bad events.

Delivery semantics
------------------
* The channels (e-mail, SMS) are independent: each is attempted whatever happened to the other,
  and each is its own Powertools ``idempotent_function`` keyed on ``orderId`` (records
  ``order-notification.email#<hash>`` and ``order-notification.sms#<hash>``). A second delivery
  of the same order sends nothing; a retry after a failed channel does not resend the one that
  succeeded.
* A **permanent** failure (SES rejects the message or address, SNS rejects the number: see
  :data:`PERMANENT_ERROR_CODES`) is final for that channel: the original event goes to the DLQ
  with the channel and the AWS error code as its reason (no personal data), the channel's
  idempotency record is completed with that outcome (so retries and duplicates never try it
  again) and the invocation does not fail because of it.
* A **transient** failure (throttling, 5xx, network, account/configuration errors an operator
  can fix, an in-progress duplicate, DynamoDB or SQS trouble) removes that channel's in-progress
  record; once every channel has been attempted the invocation raises :class:`DeliveryError`
  (no PII in its message), so Lambda retries the event and finally dead-letters it.
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
from aws_lambda_powertools.metrics import MetricUnit, single_metric
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
METRIC_CHANNEL_FAILED: Final = "OrderNotificationChannelFailed"  # dimension Channel
METRIC_UNDELIVERED: Final = "OrderNotificationUndelivered"  # every channel failed permanently
# Set by the CDK construct (openmarket_cdk/constructs/function.py) on every function; Powertools'
# Metrics reads it by itself, the single metric here gets it through Settings.
METRICS_NAMESPACE_ENV: Final = "POWERTOOLS_METRICS_NAMESPACE"

# DynamoDB attribute names (Powertools defaults); the CDK table must match.
IDEMPOTENCY_KEY_ATTR: Final = "id"
IDEMPOTENCY_TTL_ATTR: Final = "expiration"
# Stable record prefixes: renaming Python functions must not change the keys of live records.
EMAIL_KEY_PREFIX: Final = "order-notification.email"
SMS_KEY_PREFIX: Final = "order-notification.sms"

MAX_REASON_CHARS: Final = 2000
_ORDER_ID_RE: Final = re.compile(ORDER_ID_PATTERN)

Channel = Literal["email", "sms"]

# AWS error codes that mean "this message to this recipient will never be accepted", per
# channel. Everything else (throttling, 5xx, timeouts, AccessDenied, an unverified sender or a
# suspended account...) is retried: those heal by waiting or by an operator's fix, and after
# Lambda's retries the event lands in the on-failure DLQ, from where it can be redriven.
PERMANENT_ERROR_CODES: Final[Mapping[Channel, frozenset[str]]] = {
    # SES v2 SendEmail: the message or a recipient address is rejected / malformed.
    "email": frozenset({"MessageRejected", "BadRequestException"}),
    # SNS Publish to a phone number: invalid, unsupported or opted-out destination.
    "sms": frozenset({"InvalidParameter", "InvalidParameterValue"}),
}
DLQ_ERROR_TYPE_PERMANENT: Final = "PermanentDeliveryFailure"


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or malformed."""


class DeliveryError(RuntimeError):
    """One or more channels failed transiently; raised so the invocation is retried.

    Only the channel and the AWS error code (or exception type) are kept: AWS error messages
    can quote addresses. ``failures`` lists every failed channel; ``channel``/``code`` are the
    first one's.
    """

    def __init__(self, channel: str, code: str, *more: tuple[str, str]) -> None:
        self.failures: tuple[tuple[str, str], ...] = ((channel, code), *more)
        super().__init__(
            "; ".join(f"order {name} delivery failed: {error}" for name, error in self.failures)
        )
        self.channel = channel
        self.code = code


class ChannelResult(TypedDict, total=False):
    channel: Channel
    status: Literal["sent", "failed"]
    messageId: str
    errorCode: str  # status "failed": the AWS error code of the permanent failure
    replayed: bool


class NotificationResult(TypedDict, total=False):
    status: Literal["sent", "partial", "failed", "duplicate", "invalid"]
    orderId: str
    channels: list[ChannelResult]
    reason: str


@dataclass(frozen=True, slots=True)
class Settings:
    sender_email: str
    idempotency_table: str
    dlq_url: str
    metrics_namespace: str
    idempotency_ttl_hours: int = 24
    ses_configuration_set: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        required = ("SENDER_EMAIL", "IDEMPOTENCY_TABLE", "DLQ_URL", METRICS_NAMESPACE_ENV)
        missing = [n for n in required if not env.get(n)]
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
            metrics_namespace=env[METRICS_NAMESPACE_ENV],
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

    def notify(
        self,
        order: OrderCreatedDetail,
        context: LambdaContext,
        event: Mapping[str, Any] | None = None,
    ) -> NotificationResult:
        """Send every channel of `order`; `event` (the original envelope) goes to the DLQ when
        a channel fails permanently."""
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
        envelope = (
            dict(event)
            if event is not None
            else {"detail": order.model_dump(mode="json", by_alias=True)}
        )
        attempts: list[tuple[Channel, Any]] = [("email", self._email_once)]
        if phone:
            attempts.append(("sms", self._sms_once))

        channels: list[ChannelResult] = []
        retry: list[tuple[str, str]] = []
        for name, send in attempts:
            try:
                channels.append(send(order=order, event=envelope))
            except Exception as exc:  # this channel only: the others are still attempted
                if isinstance(exc, DeliveryError):
                    code = exc.code
                elif isinstance(exc, (ClientError, BotoCoreError)):  # DynamoDB, SQS
                    code = _aws_error_code(exc)
                else:  # e.g. IdempotencyAlreadyInProgressError (a concurrent duplicate)
                    code = type(exc).__name__
                retry.append((name, code))
                self.logger.warning(
                    "Order notification channel failed; it will be retried",
                    extra={"channel": name, "error_type": type(exc).__name__, "error": code},
                )

        if retry:
            self.metrics.add_metric(name=METRIC_FAILED, unit=MetricUnit.Count, value=1)
            self.logger.warning(
                "Order notification incomplete; raising so the event is retried",
                extra={"channels": channels, "retry": [name for name, _ in retry]},
            )
            raise DeliveryError(*retry[0], *retry[1:])

        if all(c.get("replayed") for c in channels):
            self.metrics.add_metric(name=METRIC_DUPLICATE, unit=MetricUnit.Count, value=1)
            self.logger.info("Duplicate OrderCreated event; nothing sent")
            return {"status": "duplicate", "orderId": order.order_id, "channels": channels}

        sent = [c for c in channels if c.get("status", "sent") == "sent"]
        status: Literal["sent", "partial", "failed"] = (
            "sent" if len(sent) == len(channels) else "partial" if sent else "failed"
        )
        self.metrics.add_metric(
            name=METRIC_SENT if sent else METRIC_UNDELIVERED, unit=MetricUnit.Count, value=1
        )
        self.logger.info(
            "Order notification finished", extra={"status": status, "channels": channels}
        )
        return {"status": status, "orderId": order.order_id, "channels": channels}

    def _on_replay(self, response: Any, idempotent_data: DataRecord) -> Any:
        """Powertools calls this when a completed record is found, i.e. nothing is sent."""
        if isinstance(response, dict):
            return {**response, "replayed": True}
        return response

    def _send_email(self, *, order: OrderCreatedDetail, event: Mapping[str, Any]) -> ChannelResult:
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
            return self._channel_failed("email", exc, order, event)
        return {"channel": "email", "status": "sent", "messageId": str(response["MessageId"])}

    def _send_sms(self, *, order: OrderCreatedDetail, event: Mapping[str, Any]) -> ChannelResult:
        try:
            response = self.sns.publish(
                PhoneNumber=order.customer_phone,
                Message=render_sms(order),
                MessageAttributes={
                    "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
                },
            )
        except (ClientError, BotoCoreError) as exc:
            return self._channel_failed("sms", exc, order, event)
        return {"channel": "sms", "status": "sent", "messageId": str(response["MessageId"])}

    def _channel_failed(
        self,
        channel: Channel,
        exc: ClientError | BotoCoreError,
        order: OrderCreatedDetail,
        event: Mapping[str, Any],
    ) -> ChannelResult:
        """Classify a send error: transient -> raise (retried); permanent -> record, return.

        Runs inside the channel's idempotent function, so a permanent failure is stored as the
        channel's completed outcome only after its DLQ message was accepted: if SQS fails, the
        record is removed and the whole attempt is retried (nothing is lost).
        """
        code = _aws_error_code(exc)
        if not self._is_permanent(channel, exc, code):
            raise DeliveryError(channel, code) from None
        reason = f"{channel} delivery permanently failed: {code}"
        self.sqs.send_message(
            QueueUrl=self.settings.dlq_url,
            MessageBody=json.dumps(event, default=str),
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason},
                "errorType": {"DataType": "String", "StringValue": DLQ_ERROR_TYPE_PERMANENT},
                "channel": {"DataType": "String", "StringValue": channel},
                "errorCode": {"DataType": "String", "StringValue": code},
                "orderId": {"DataType": "String", "StringValue": order.order_id},
            },
        )
        destination = (
            mask_email(order.customer_email)
            if channel == "email"
            else mask_phone(order.customer_phone or "")
        )
        self.logger.error(
            "Order notification channel failed permanently; event sent to the DLQ",
            extra={"channel": channel, "error_code": code, "destination": destination},
        )
        with single_metric(
            name=METRIC_CHANNEL_FAILED,
            unit=MetricUnit.Count,
            value=1,
            namespace=self.settings.metrics_namespace,
            default_dimensions={"service": self.logger.service},
        ) as metric:
            metric.add_dimension(name="Channel", value=channel)
        return {"channel": channel, "status": "failed", "errorCode": code}

    def _is_permanent(self, channel: Channel, exc: ClientError | BotoCoreError, code: str) -> bool:
        if not isinstance(exc, ClientError) or code not in PERMANENT_ERROR_CODES[channel]:
            return False
        if channel == "email" and code == "MessageRejected":
            # SES also answers MessageRejected when *our* sender identity is not (or no longer)
            # verified: that is configuration, it affects every order and heals once fixed, so
            # it is retried like an outage. The message is only inspected, never logged.
            message = str(exc.response.get("Error", {}).get("Message", "")).lower()
            if self.settings.sender_email.lower() in message:
                return False
        return True

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
