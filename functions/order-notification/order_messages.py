"""Rendering of the order e-mail and SMS, and masking of personal data for logs.

Every value that comes from the event is HTML-escaped before it goes into the HTML body.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from typing import Final

from order_events import OrderCreatedDetail

BRAND: Final = "OpenMarket"

# ISO 4217 minor units that differ from 2 (display only; validation compares to the cent).
_ZERO_DECIMALS: Final = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS: Final = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS: Final = "CLF UYW"
_MINOR_UNITS: Final[dict[str, int]] = {
    code: places
    for codes, places in ((_ZERO_DECIMALS, 0), (_THREE_DECIMALS, 3), (_FOUR_DECIMALS, 4))
    for code in codes.split()
}


@dataclass(frozen=True, slots=True)
class EmailContent:
    subject: str
    html: str
    text: str


def format_money(amount: Decimal, currency: str) -> str:
    """``(Decimal("32500"), "KRW")`` -> ``"32,500 KRW"``; "5.50 USD" for USD."""
    places = _MINOR_UNITS.get(currency, 2)
    quantum = Decimal(1).scaleb(-places)
    return f"{amount.quantize(quantum, rounding=ROUND_HALF_UP):,.{places}f} {currency}"


def render_email(order: OrderCreatedDetail) -> EmailContent:
    subject = f"{BRAND}: we received your order {order.order_id}"
    created = order.created_at.isoformat()
    total = format_money(order.total, order.currency)

    text_lines = [
        "Thank you for your order.",
        "",
        f"Order: {order.order_id}",
        f"Placed: {created}",
        "",
    ]
    text_lines += [
        f"- {item.name} x {item.quantity} @ {format_money(item.unit_price, order.currency)}"
        f" = {format_money(item.line_total, order.currency)}"
        for item in order.items
    ]
    text_lines += ["", f"Total: {total}", "", f"-- {BRAND}"]

    rows = "\n".join(
        "<tr>"
        f"<td>{escape(item.name)}</td>"
        f'<td style="text-align:right">{item.quantity}</td>'
        f'<td style="text-align:right">'
        f"{escape(format_money(item.unit_price, order.currency))}</td>"
        f'<td style="text-align:right">'
        f"{escape(format_money(item.line_total, order.currency))}</td>"
        "</tr>"
        for item in order.items
    )
    html = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{escape(subject)}</title></head>
<body style="font-family:sans-serif">
<p>Thank you for your order.</p>
<p>Order: <strong>{escape(order.order_id)}</strong><br>Placed: {escape(created)}</p>
<table cellpadding="4" style="border-collapse:collapse">
<thead><tr><th>Item</th><th>Qty</th><th>Unit price</th><th>Amount</th></tr></thead>
<tbody>
{rows}
</tbody>
<tfoot><tr><th colspan="3" style="text-align:right">Total</th>
<th style="text-align:right">{escape(total)}</th></tr></tfoot>
</table>
<p>&mdash; {escape(BRAND)}</p>
</body>
</html>
"""
    return EmailContent(subject=subject, html=html, text="\n".join(text_lines) + "\n")


def render_sms(order: OrderCreatedDetail) -> str:
    """Short, ASCII-only text (one GSM-7 segment for ordinary order ids)."""
    total = format_money(order.total, order.currency)
    return f"{BRAND}: order {order.order_id} received, total {total}. Details sent by e-mail."


def mask_email(address: str) -> str:
    """``customer@example.com`` -> ``c***@example.com`` (the domain is kept for support)."""
    local, sep, domain = address.rpartition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(number: str) -> str:
    """``+821012345678`` -> ``+82********78``."""
    if len(number) <= 5:
        return "***"
    return f"{number[:3]}{'*' * (len(number) - 5)}{number[-2:]}"
