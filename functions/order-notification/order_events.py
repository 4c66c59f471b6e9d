"""The ``OrderCreated`` event: Pydantic models, validation rules and the JSON Schema.

The models are the single source of truth for the event contract. ``order_created.schema.json``
next to this file is generated from :class:`OrderCreatedDetail` (``python order_events.py
--write``) and a test checks that it still matches, so the shipped schema cannot drift.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel
from pydantic.fields import ComputedFieldInfo, FieldInfo

EVENT_SOURCE: Final = "openmarket.orders"
EVENT_DETAIL_TYPE: Final = "OrderCreated"
SCHEMA_FILE: Final = Path(__file__).with_name("order_created.schema.json")
SCHEMA_ID: Final = "https://openmarket.example/schemas/order-created.schema.json"

# The WHATWG HTML "valid e-mail address" rule, with at least one dot in the domain.
# Written for both the Rust regex engine Pydantic uses and ECMA-262 (JSON Schema "pattern").
EMAIL_PATTERN: Final = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
# E.164: "+", country code (no leading zero), at most 15 digits in all.
E164_PATTERN: Final = r"^\+[1-9][0-9]{1,14}$"
ORDER_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
CURRENCY_PATTERN: Final = r"^[A-Z]{3}$"

CENT: Final = Decimal("0.01")

OrderId = Annotated[
    str,
    Field(
        pattern=ORDER_ID_PATTERN,
        description="Unique order id; the idempotency key of the notification.",
        examples=["ORD-20240501-0001"],
    ),
]
Email = Annotated[
    str,
    Field(
        pattern=EMAIL_PATTERN,
        max_length=254,
        description="Customer e-mail address (PII: never logged in full).",
        json_schema_extra={"format": "email"},
        examples=["customer@example.com"],
    ),
]
PhoneE164 = Annotated[
    str,
    Field(
        pattern=E164_PATTERN,
        description="Customer mobile number in E.164 format (PII: never logged in full).",
        examples=["+821012345678"],
    ),
]
Money = Annotated[
    Decimal,
    Field(
        ge=0,
        max_digits=18,
        decimal_places=4,
        description="Non-negative amount as a JSON number or decimal string; at most 4 decimals.",
        examples=["19.99"],
    ),
]
ItemName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Field(description="Product name as shown to the customer (free text).", examples=["Mug"]),
]
Quantity = Annotated[
    int,
    Field(strict=True, ge=1, le=1_000_000, description="Units ordered, at least 1.", examples=[2]),
]
Currency = Annotated[
    str,
    Field(
        pattern=CURRENCY_PATTERN,
        description="ISO 4217 alphabetic currency code (three upper-case letters).",
        examples=["KRW", "USD"],
    ),
]


def _title(name: str, info: FieldInfo | ComputedFieldInfo) -> str:
    """JSON Schema titles use the wire (camelCase) names."""
    return info.alias or to_camel(name)


_CAMEL = ConfigDict(
    alias_generator=to_camel,
    field_title_generator=_title,
    validate_by_alias=True,
    validate_by_name=False,
    serialize_by_alias=True,
    frozen=True,
)


class OrderItem(BaseModel):
    """One order line."""

    model_config = _CAMEL

    name: ItemName
    quantity: Quantity
    unit_price: Money

    @property
    def line_total(self) -> Decimal:
        return self.quantity * self.unit_price


class OrderCreatedDetail(BaseModel):
    """``detail`` of the ``OrderCreated`` event published by the OpenMarket backend."""

    model_config = ConfigDict(
        **_CAMEL,
        title="OrderCreatedDetail",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SCHEMA_ID,
            "examples": [
                {
                    "orderId": "ORD-20240501-0001",
                    "customerEmail": "customer@example.com",
                    "customerPhone": "+821012345678",
                    "items": [
                        {"name": "Ceramic mug", "quantity": 2, "unitPrice": "12000"},
                        {"name": "Tea sampler", "quantity": 1, "unitPrice": "8500"},
                    ],
                    "total": "32500",
                    "currency": "KRW",
                    "createdAt": "2024-05-01T09:30:00+09:00",
                }
            ],
        },
    )

    order_id: OrderId
    customer_email: Email
    customer_phone: PhoneE164 | None = None
    items: Annotated[list[OrderItem], Field(min_length=1)]
    total: Annotated[Money, Field(description="Must equal the sum of quantity x unitPrice.")]
    currency: Currency
    created_at: Annotated[
        AwareDatetime,
        Field(
            description="ISO 8601 date-time with a UTC offset.",
            examples=["2024-05-01T09:30:00+09:00"],
        ),
    ]

    @property
    def items_total(self) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = 60
            return sum((item.line_total for item in self.items), Decimal(0))

    @model_validator(mode="after")
    def _total_matches_items(self) -> OrderCreatedDetail:
        with localcontext() as ctx:
            ctx.prec = 60
            expected = self.items_total.quantize(CENT, rounding=ROUND_HALF_UP)
            given = self.total.quantize(CENT, rounding=ROUND_HALF_UP)
        if expected != given:
            raise ValueError(f"total {self.total} does not equal the sum of the items {expected}")
        return self


class OrderCreatedEvent(EventBridgeModel):
    """The EventBridge envelope the function receives (rule: source + detail-type below)."""

    source: Literal["openmarket.orders"]
    detail_type: Literal["OrderCreated"] = Field(alias="detail-type")
    detail: OrderCreatedDetail


def order_created_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the event ``detail``, as shipped in the schema file."""
    return OrderCreatedDetail.model_json_schema()


def render_json_schema() -> str:
    return json.dumps(order_created_json_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print or write the OrderCreated JSON Schema.")
    parser.add_argument("--write", action="store_true", help=f"write {SCHEMA_FILE.name}")
    args = parser.parse_args(argv)
    if args.write:
        SCHEMA_FILE.write_text(render_json_schema(), encoding="utf-8")
    else:
        sys.stdout.write(render_json_schema())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
