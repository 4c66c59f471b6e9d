"""order-notification Lambda: EventBridge OrderCreated -> SES v2 e-mail + SNS SMS (moto)."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest.mock import patch

import boto3
import order_events
import order_messages
import order_notifier
import pytest
from botocore.exceptions import ClientError
from function_env import METRICS_NAMESPACE, METRICS_NAMESPACE_ENV, construct_env
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "functions" / "order-notification"
REGION = "ap-northeast-2"
SENDER = "orders@openmarket.example"
TABLE = "order-notification-idempotency"
DLQ_NAME = "order-notification-dlq"
CUSTOMER_EMAIL = "jane.doe+shop@example.com"
CUSTOMER_PHONE = "+821012345678"
MISSING = object()


def _load_index() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "order_notification_index", FUNCTION_DIR / "index.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    with construct_env():
        spec.loader.exec_module(module)
    return module


index = _load_index()


@dataclass
class FakeLambdaContext:
    function_name: str = "order-notification"
    function_version: str = "$LATEST"
    invoked_function_arn: str = (
        f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:order-notification"
    )
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/order-notification"
    log_stream_name: str = "2024/05/01/[$LATEST]test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Env:
    ses: Any
    sns: Any
    sqs: Any
    dynamodb: Any
    dlq_url: str
    logs: io.StringIO
    sent_emails: list[dict[str, Any]]

    def ses_sent_count(self) -> int:
        """Messages moto's SES backend accepted (SES v1 API: moto has no SES v2 GetAccount)."""
        quota = boto3.client("ses", region_name=REGION).get_send_quota()
        return int(quota["SentLast24Hours"])

    def sms(self) -> list[tuple[str, str]]:
        return list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())

    def dlq_messages(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.dlq_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        return list(response.get("Messages", []))

    def idempotency_items(self) -> list[dict[str, Any]]:
        return list(self.dynamodb.scan(TableName=TABLE)["Items"])

    def idempotency_record(self, prefix: str) -> dict[str, Any]:
        (item,) = [i for i in self.idempotency_items() if i["id"]["S"].startswith(prefix + "#")]
        return item

    def invoke(self, event: dict[str, Any]) -> Any:
        return index.handler(event, FakeLambdaContext())


def detail(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "orderId": "ORD-20240501-0001",
        "customerEmail": CUSTOMER_EMAIL,
        "customerPhone": CUSTOMER_PHONE,
        "items": [
            {"name": "<script>alert('x')</script> Mug & Co", "quantity": 2, "unitPrice": "12000"},
            {"name": "Tea sampler", "quantity": 1, "unitPrice": 8500},
        ],
        "total": "32500",
        "currency": "KRW",
        "createdAt": "2024-05-01T09:30:00+09:00",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not MISSING}


def envelope(order: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "OrderCreated",
        "source": "openmarket.orders",
        "account": DEFAULT_ACCOUNT_ID,
        "time": "2024-05-01T00:30:01Z",
        "region": REGION,
        "resources": [],
        "detail": order,
    }
    event.update(overrides)
    return event


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, metrics_namespace: str) -> Iterator[Env]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "order-notification")
    monkeypatch.setenv("SENDER_EMAIL", SENDER)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", TABLE)
    monkeypatch.setenv("IDEMPOTENCY_TTL_HOURS", "24")
    monkeypatch.delenv("SES_CONFIGURATION_SET", raising=False)

    with mock_aws():
        ses = boto3.client("sesv2", region_name=REGION)
        ses.create_email_identity(EmailIdentity=SENDER)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        # Same key schema and TTL attribute as README.md states for the CDK table.
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=TABLE,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
        )
        sqs = boto3.client("sqs", region_name=REGION)
        dlq_url = sqs.create_queue(QueueName=DLQ_NAME)["QueueUrl"]
        monkeypatch.setenv("DLQ_URL", dlq_url)

        index.get_notifier.cache_clear()
        notifier = index.get_notifier()
        sent_emails: list[dict[str, Any]] = []

        def capture(params: dict[str, Any], **_: Any) -> None:
            sent_emails.append(json.loads(json.dumps(params)))

        notifier.ses.meta.events.register("provide-client-params.sesv2.SendEmail", capture)

        logs = io.StringIO()
        handler = index.logger.registered_handler
        assert isinstance(handler, logging.StreamHandler)
        previous_stream = handler.setStream(logs)
        try:
            yield Env(
                ses=ses,
                sns=boto3.client("sns", region_name=REGION),
                sqs=sqs,
                dynamodb=dynamodb,
                dlq_url=dlq_url,
                logs=logs,
                sent_emails=sent_emails,
            )
        finally:
            handler.setStream(previous_stream)
            index.get_notifier.cache_clear()


def emitted_metrics(stdout: str) -> dict[str, str]:
    """Metric name -> namespace, from the EMF lines Powertools Metrics printed."""
    metrics: dict[str, str] = {}
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        blob = json.loads(line)
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                metrics[metric["Name"]] = directive["Namespace"]
    return metrics


def record_prefixes(env: Env) -> list[str]:
    return sorted(item["id"]["S"].split("#")[0] for item in env.idempotency_items())


def emf_blobs(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"')]


def rejected(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


SES_REJECTS_ADDRESS = rejected(
    "MessageRejected",
    "Email address is not verified. The following identities failed the check in region "
    f"AP-NORTHEAST-2: {CUSTOMER_EMAIL}",
    "SendEmail",
)
SNS_REJECTS_NUMBER = rejected(
    "InvalidParameter",
    f"Invalid parameter: PhoneNumber Reason: {CUSTOMER_PHONE} is not valid to publish to",
    "Publish",
)


def assert_no_pii(text: str) -> None:
    assert CUSTOMER_EMAIL not in text
    assert CUSTOMER_PHONE not in text
    assert "jane.doe" not in text


# -- happy path -------------------------------------------------------------------------------


def test_valid_event_with_phone_sends_one_email_and_one_sms(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    result = env.invoke(envelope(detail()))

    assert result["status"] == "sent"
    assert [c["channel"] for c in result["channels"]] == ["email", "sms"]

    assert len(env.sent_emails) == 1
    email = env.sent_emails[0]
    assert email["FromEmailAddress"] == SENDER
    assert email["Destination"] == {"ToAddresses": [CUSTOMER_EMAIL]}
    simple = email["Content"]["Simple"]
    assert "ORD-20240501-0001" in simple["Subject"]["Data"]
    html = simple["Body"]["Html"]["Data"]
    text = simple["Body"]["Text"]["Data"]
    # User-provided values are escaped in HTML, verbatim in the text part.
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Mug &amp; Co" in html
    assert "<script>alert('x')</script> Mug & Co x 2 @ 12,000 KRW = 24,000 KRW" in text
    assert "32,500 KRW" in html and "Total: 32,500 KRW" in text
    assert "2024-05-01T09:30:00+09:00" in text
    # moto accepted the identity check and recorded the message
    assert env.ses_sent_count() == 1

    sms = env.sms()
    assert len(sms) == 1
    phone, message = sms[0]
    assert phone == CUSTOMER_PHONE
    assert "ORD-20240501-0001" in message and "32,500 KRW" in message

    items = env.idempotency_items()
    ids = sorted(item["id"]["S"].split("#")[0] for item in items)
    assert ids == ["order-notification.email", "order-notification.sms"]
    for item in items:
        assert item["status"]["S"] == "COMPLETED"
        ttl = int(item["expiration"]["N"])
        assert abs(ttl - (time.time() + 24 * 3600)) < 120

    stdout = capsys.readouterr().out
    assert emitted_metrics(stdout) == {"OrderNotificationSent": METRICS_NAMESPACE}

    logs = env.logs.getvalue()
    assert_no_pii(logs)
    assert_no_pii(stdout)
    records = [json.loads(line) for line in logs.splitlines()]
    assert records and all(r.get("correlation_id") == "ORD-20240501-0001" for r in records)
    first = next(r for r in records if r["message"] == "Notifying customer of new order")
    assert first["customer_email"] == "j***@example.com"
    assert first["customer_phone"] == "+82********78"


def test_valid_event_without_phone_sends_no_sms(env: Env) -> None:
    result = env.invoke(envelope(detail(customerPhone=MISSING, orderId="ORD-2")))

    assert result["status"] == "sent"
    assert len(env.sent_emails) == 1
    assert env.sms() == []
    assert [i["id"]["S"].split("#")[0] for i in env.idempotency_items()] == [
        "order-notification.email"
    ]


def test_float_amounts_are_compared_as_decimals(env: Env) -> None:
    order = detail(
        orderId="ORD-FLOAT",
        items=[{"name": "Sticker", "quantity": 3, "unitPrice": 0.1}],
        total=0.3,
        currency="USD",
    )
    result = env.invoke(envelope(order))

    assert result["status"] == "sent"
    assert (
        "Sticker x 3 @ 0.10 USD = 0.30 USD"
        in env.sent_emails[0]["Content"]["Simple"]["Body"]["Text"]["Data"]
    )


# -- idempotency ------------------------------------------------------------------------------


def test_duplicate_order_id_sends_nothing_more(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    first = env.invoke(envelope(detail()))
    capsys.readouterr()
    # EventBridge redelivery: same detail, new envelope id.
    second = env.invoke(envelope(detail()))

    assert first["status"] == "sent"
    assert second["status"] == "duplicate"
    assert all(c["replayed"] for c in second["channels"])
    assert len(env.sent_emails) == 1
    assert len(env.sms()) == 1
    assert env.ses_sent_count() == 1
    stdout = capsys.readouterr().out
    assert emitted_metrics(stdout) == {"OrderNotificationDuplicate": METRICS_NAMESPACE}


def test_transient_ses_error_raises_and_does_not_block_the_retry(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    event = envelope(detail())
    throttled = ClientError(
        {"Error": {"Code": "Throttling", "Message": f"Rate exceeded for {CUSTOMER_EMAIL}"}},
        "SendEmail",
    )
    notifier = index.get_notifier()
    with (
        patch.object(notifier.ses, "send_email", side_effect=throttled),
        pytest.raises(order_notifier.DeliveryError) as raised,
    ):
        env.invoke(event)

    assert raised.value.code == "Throttling"
    assert raised.value.failures == (("email", "Throttling"),)
    assert CUSTOMER_EMAIL not in str(raised.value)
    # The e-mail's in-progress record is deleted; the SMS went out all the same.
    assert record_prefixes(env) == ["order-notification.sms"]
    assert len(env.sms()) == 1
    assert env.dlq_messages() == []  # transient: retried by Lambda, not dead-lettered here
    assert emitted_metrics(capsys.readouterr().out) == {
        "OrderNotificationFailed": METRICS_NAMESPACE
    }
    assert_no_pii(env.logs.getvalue())

    retry = env.invoke(event)
    assert retry["status"] == "sent"
    assert [(c["channel"], c.get("replayed", False)) for c in retry["channels"]] == [
        ("email", False),
        ("sms", True),
    ]
    assert len(env.sent_emails) == 1
    assert len(env.sms()) == 1  # not sent twice


def test_sms_failure_retry_does_not_resend_the_email(env: Env) -> None:
    event = envelope(detail())
    notifier = index.get_notifier()
    error = ClientError({"Error": {"Code": "InternalError", "Message": "oops"}}, "Publish")
    with (
        patch.object(notifier.sns, "publish", side_effect=error),
        pytest.raises(order_notifier.DeliveryError, match="sms delivery failed: InternalError"),
    ):
        env.invoke(event)
    assert len(env.sent_emails) == 1
    assert [i["id"]["S"].split("#")[0] for i in env.idempotency_items()] == [
        "order-notification.email"
    ]

    retry = env.invoke(event)
    assert retry["status"] == "sent"
    assert [c.get("replayed", False) for c in retry["channels"]] == [True, False]
    assert len(env.sent_emails) == 1
    assert len(env.sms()) == 1


# -- independent channels ---------------------------------------------------------------------


def test_permanent_email_failure_still_sends_the_sms_and_is_dead_lettered_once(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    event = envelope(detail())
    notifier = index.get_notifier()
    with patch.object(notifier.ses, "send_email", side_effect=SES_REJECTS_ADDRESS) as ses:
        result = env.invoke(event)  # must not raise: retrying cannot help the e-mail
        assert ses.call_count == 1

        assert result["status"] == "partial"
        assert result["channels"] == [
            {"channel": "email", "status": "failed", "errorCode": "MessageRejected"},
            {"channel": "sms", "status": "sent", "messageId": result["channels"][1]["messageId"]},
        ]
        assert len(env.sms()) == 1  # the customer with a valid phone number is told

        (message,) = env.dlq_messages()
        assert json.loads(message["Body"]) == event  # the original event, for a redrive
        attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
        assert attributes == {
            "reason": "email delivery permanently failed: MessageRejected",
            "errorType": "PermanentDeliveryFailure",
            "channel": "email",
            "errorCode": "MessageRejected",
            "orderId": "ORD-20240501-0001",
        }
        email_record = env.idempotency_record("order-notification.email")
        assert email_record["status"]["S"] == "COMPLETED"
        assert json.loads(email_record["data"]["S"])["status"] == "failed"

        stdout = capsys.readouterr().out
        failed = [b for b in emf_blobs(stdout) if "OrderNotificationChannelFailed" in b]
        assert len(failed) == 1 and failed[0]["Channel"] == "email"
        assert failed[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == METRICS_NAMESPACE
        assert "OrderNotificationSent" in emitted_metrics(stdout)
        records = [json.loads(line) for line in env.logs.getvalue().splitlines()]
        error = next(r for r in records if r["level"] == "ERROR")
        assert error["channel"] == "email" and error["error_code"] == "MessageRejected"
        assert error["destination"] == "j***@example.com"
        assert_no_pii(env.logs.getvalue())
        assert_no_pii(stdout)
        assert_no_pii(json.dumps(attributes))

        # Redelivered (EventBridge at-least-once, or a redrive): not retried forever.
        again = env.invoke(event)
        assert ses.call_count == 1
    assert again["status"] == "duplicate"
    assert env.dlq_messages() == []  # the earlier message was received above; none is new
    assert len(env.sms()) == 1


def test_permanent_sms_failure_does_not_stop_the_email(env: Env) -> None:
    notifier = index.get_notifier()
    with patch.object(notifier.sns, "publish", side_effect=SNS_REJECTS_NUMBER):
        result = env.invoke(envelope(detail()))
    assert result["status"] == "partial"
    assert [(c["channel"], c["status"]) for c in result["channels"]] == [
        ("email", "sent"),
        ("sms", "failed"),
    ]
    assert len(env.sent_emails) == 1
    (message,) = env.dlq_messages()
    assert message["MessageAttributes"]["reason"]["StringValue"] == (
        "sms delivery permanently failed: InvalidParameter"
    )
    assert_no_pii(env.logs.getvalue())


def test_both_channels_rejected_fails_without_retry(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    notifier = index.get_notifier()
    with (
        patch.object(notifier.ses, "send_email", side_effect=SES_REJECTS_ADDRESS),
        patch.object(notifier.sns, "publish", side_effect=SNS_REJECTS_NUMBER),
    ):
        result = env.invoke(envelope(detail()))
    assert result["status"] == "failed"
    assert sorted(m["MessageAttributes"]["channel"]["StringValue"] for m in env.dlq_messages()) == [
        "email",
        "sms",
    ]
    assert emitted_metrics(capsys.readouterr().out) == {
        "OrderNotificationChannelFailed": METRICS_NAMESPACE,
        "OrderNotificationUndelivered": METRICS_NAMESPACE,
    }


def test_permanent_email_and_transient_sms_retry_only_the_sms(env: Env) -> None:
    event = envelope(detail())
    notifier = index.get_notifier()
    outage = rejected("InternalError", "try again", "Publish")
    with patch.object(notifier.ses, "send_email", side_effect=SES_REJECTS_ADDRESS) as ses:
        with (
            patch.object(notifier.sns, "publish", side_effect=outage),
            pytest.raises(order_notifier.DeliveryError, match="sms delivery failed: InternalError"),
        ):
            env.invoke(event)
        assert record_prefixes(env) == ["order-notification.email"]
        assert len(env.dlq_messages()) == 1

        retry = env.invoke(event)  # Lambda's retry: SNS has recovered
        assert ses.call_count == 1  # the rejected e-mail is not tried again
    assert retry["status"] == "partial"
    assert [(c["channel"], c.get("replayed", False)) for c in retry["channels"]] == [
        ("email", True),
        ("sms", False),
    ]
    assert len(env.sms()) == 1
    assert env.dlq_messages() == []  # no second DLQ message for the same failure


def test_unverified_sender_is_configuration_and_is_retried(env: Env) -> None:
    """moto's own MessageRejected for an unverified sender: an operator's fix heals it."""
    env.ses.delete_email_identity(EmailIdentity=SENDER)
    event = envelope(detail())
    with pytest.raises(
        order_notifier.DeliveryError, match="email delivery failed: MessageRejected"
    ):
        env.invoke(event)
    assert len(env.sms()) == 1  # independent of the e-mail
    assert env.dlq_messages() == []
    assert record_prefixes(env) == ["order-notification.sms"]

    env.ses.create_email_identity(EmailIdentity=SENDER)
    assert env.invoke(event)["status"] == "sent"
    assert env.ses_sent_count() == 1
    assert len(env.sms()) == 1


def test_account_level_email_errors_are_retried_not_dead_lettered_here(env: Env) -> None:
    notifier = index.get_notifier()
    codes = ["AccessDeniedException", "SendingPausedException", "TooManyRequestsException"]
    for number, code in enumerate(codes):
        error = rejected(code, "no", "SendEmail")
        with (
            patch.object(notifier.ses, "send_email", side_effect=error),
            pytest.raises(order_notifier.DeliveryError) as raised,
        ):
            env.invoke(envelope(detail(orderId=f"ORD-ACCOUNT-{number}")))
        assert raised.value.failures == (("email", code),)
        assert len(env.sms()) == number + 1  # the SMS of each order went out regardless
    assert env.dlq_messages() == []
    assert record_prefixes(env) == ["order-notification.sms"] * len(codes)


def test_dlq_outage_while_recording_a_rejection_loses_nothing(env: Env) -> None:
    event = envelope(detail())
    notifier = index.get_notifier()
    sqs_down = rejected("ServiceUnavailable", "later", "SendMessage")
    with (
        patch.object(notifier.ses, "send_email", side_effect=SES_REJECTS_ADDRESS),
        patch.object(notifier.sqs, "send_message", side_effect=sqs_down),
        pytest.raises(
            order_notifier.DeliveryError, match="email delivery failed: ServiceUnavailable"
        ),
    ):
        env.invoke(event)
    assert record_prefixes(env) == ["order-notification.sms"]  # e-mail outcome not recorded
    with patch.object(notifier.ses, "send_email", side_effect=SES_REJECTS_ADDRESS):
        assert env.invoke(event)["status"] == "partial"
    assert len(env.dlq_messages()) == 1
    assert len(env.sms()) == 1


# -- invalid events ---------------------------------------------------------------------------

INVALID_EVENTS: dict[str, tuple[dict[str, Any], str]] = {
    "missing orderId": (envelope(detail(orderId=MISSING)), "detail.orderId: Field required"),
    "negative quantity": (
        envelope(
            detail(
                items=[{"name": "Mug", "quantity": -1, "unitPrice": "10"}],
                total="-10",
            )
        ),
        "detail.items.0.quantity: Input should be greater than or equal to 1",
    ),
    "negative price": (
        envelope(detail(items=[{"name": "Mug", "quantity": 1, "unitPrice": "-1"}], total="0")),
        "detail.items.0.unitPrice: Input should be greater than or equal to 0",
    ),
    "total mismatch": (
        envelope(detail(total="32500.01")),
        "total 32500.01 does not equal the sum of the items 32500.00",
    ),
    "bad e-mail": (
        envelope(detail(customerEmail="jane.doe(at)example.com")),
        "detail.customerEmail: String should match pattern",
    ),
    "phone not E.164": (
        envelope(detail(customerPhone="010-1234-5678")),
        "detail.customerPhone: String should match pattern",
    ),
    "currency not ISO 4217": (
        envelope(detail(currency="won")),
        "detail.currency: String should match pattern",
    ),
    "naive createdAt": (
        envelope(detail(createdAt="2024-05-01T09:30:00")),
        "detail.createdAt: Input should have timezone info",
    ),
    "no items": (
        envelope(detail(items=[], total="0")),
        "detail.items: List should have at least 1 item",
    ),
    "wrong detail-type": (
        envelope(detail(), **{"detail-type": "OrderShipped"}),
        "detail-type: Input should be 'OrderCreated'",
    ),
    "wrong source": (
        envelope(detail(), source="openmarket.payments"),
        "source: Input should be 'openmarket.orders'",
    ),
}


@pytest.mark.parametrize("case", list(INVALID_EVENTS))
def test_invalid_event_goes_to_dlq_without_raising(
    env: Env, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    event, expected_reason = INVALID_EVENTS[case]

    result = env.invoke(event)  # must not raise: no retry for an event that cannot succeed

    assert result["status"] == "invalid"
    assert expected_reason in result["reason"]
    assert env.sent_emails == []
    assert env.sms() == []
    assert env.idempotency_items() == []

    messages = env.dlq_messages()
    assert len(messages) == 1
    message = messages[0]
    assert json.loads(message["Body"]) == event
    attributes = message["MessageAttributes"]
    assert expected_reason in attributes["reason"]["StringValue"]
    assert attributes["errorType"]["StringValue"] == "ValidationError"

    assert "jane.doe(at)example.com" not in result["reason"]
    assert_no_pii(env.logs.getvalue())
    assert emitted_metrics(capsys.readouterr().out) == {
        "OrderNotificationInvalid": METRICS_NAMESPACE
    }


def test_invalid_event_keeps_order_id_as_correlation_id(env: Env) -> None:
    event = envelope(detail(orderId="ORD-BAD-TOTAL", total="1"))

    env.invoke(event)

    message = env.dlq_messages()[0]
    assert message["MessageAttributes"]["orderId"]["StringValue"] == "ORD-BAD-TOTAL"
    records = [json.loads(line) for line in env.logs.getvalue().splitlines()]
    warning = next(r for r in records if r["level"] == "WARNING")
    assert warning["correlation_id"] == "ORD-BAD-TOTAL"
    assert "does not equal the sum" in warning["reason"]


# -- contract, configuration and helpers ------------------------------------------------------


def test_json_schema_file_matches_the_model() -> None:
    shipped = json.loads(order_events.SCHEMA_FILE.read_text(encoding="utf-8"))
    assert shipped == order_events.OrderCreatedDetail.model_json_schema(), (
        "order_created.schema.json is stale: run "
        "`python functions/order-notification/order_events.py --write`"
    )
    assert order_events.SCHEMA_FILE.read_text(encoding="utf-8") == (
        order_events.render_json_schema()
    )


def test_schema_example_is_a_valid_detail() -> None:
    for example in order_events.order_created_json_schema()["examples"]:
        order_events.OrderCreatedDetail.model_validate(example)


def test_settings_require_environment() -> None:
    with pytest.raises(
        order_notifier.ConfigurationError,
        match=f"SENDER_EMAIL, DLQ_URL, {METRICS_NAMESPACE_ENV}$",
    ):
        order_notifier.Settings.from_env({"IDEMPOTENCY_TABLE": "t"})
    base = {
        "SENDER_EMAIL": SENDER,
        "IDEMPOTENCY_TABLE": TABLE,
        "DLQ_URL": "https://q",
        METRICS_NAMESPACE_ENV: "Elsewhere",
    }
    assert order_notifier.Settings.from_env(base).idempotency_ttl_hours == 24
    assert order_notifier.Settings.from_env(base).metrics_namespace == "Elsewhere"
    with pytest.raises(order_notifier.ConfigurationError, match="IDEMPOTENCY_TTL_HOURS"):
        order_notifier.Settings.from_env({**base, "IDEMPOTENCY_TTL_HOURS": "0"})


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [("32500", "KRW", "32,500 KRW"), ("5.5", "USD", "5.50 USD"), ("1.2345", "BHD", "1.235 BHD")],
)
def test_format_money(amount: str, currency: str, expected: str) -> None:
    from decimal import Decimal

    assert order_messages.format_money(Decimal(amount), currency) == expected


def test_masking() -> None:
    assert order_messages.mask_email("jane.doe@example.com") == "j***@example.com"
    assert order_messages.mask_email("not-an-address") == "***"
    assert order_messages.mask_phone("+821012345678") == "+82********78"
    assert order_messages.mask_phone("+123") == "***"
