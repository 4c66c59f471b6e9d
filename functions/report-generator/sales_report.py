"""Daily sales report for OpenMarket: SQL aggregation, rendering and S3 output.

The report covers one Korea Standard Time (KST, UTC+09:00, no daylight saving) calendar day.
Orders are selected by `orders.created_at` (stored in UTC) in the half-open UTC range that
corresponds to that KST day, so an order at 23:59:59.999 KST belongs to the day and one at
00:00:00.000 KST the next day belongs to the next day.

All aggregation happens in MySQL (GROUP BY); rows come back through an unbuffered cursor
(`SSCursor`) and are folded on the fly, so memory depends on the number of products and
sellers sold that day, never on the number of orders.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import heapq
import io
import json
import re
import ssl
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Final, Protocol

import pymysql
import pymysql.cursors

KST = dt.timezone(dt.timedelta(hours=9), "KST")
TIMEZONE_NAME = "Asia/Seoul"
# Orders that count as sales: paid and not cancelled/refunded. PENDING (not paid yet),
# CANCELLED and REFUNDED are excluded. The status is the one at the time the report runs.
COUNTED_STATUSES: tuple[str, ...] = ("PAID", "SHIPPED", "DELIVERED")
REPORT_PREFIX = "reports/daily"
SCHEMA_VERSION = 1
_CENT = Decimal("0.01")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The first KST day whose UTC range starts inside MySQL's DATETIME range ('1000-01-01 ...'):
# the technical floor of any report, and the default of EARLIEST_ORDER_DATE.
MIN_SUPPORTED_DATE = dt.date(1000, 1, 2)
_FUNCTION_DIR = Path(__file__).resolve().parent

# The functions' metrics namespace, set by the construct (openmarket_cdk/config/facts.py).
METRICS_NAMESPACE_ENV: Final = "POWERTOOLS_METRICS_NAMESPACE"


class ReportInputError(ValueError):
    """The invocation asked for something the function cannot do (bad or future date)."""


class ReportConfigError(RuntimeError):
    """The function's environment or secrets are incomplete or invalid."""


# --------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------


def resolve_report_date(
    event: object, now: dt.datetime, earliest: dt.date = MIN_SUPPORTED_DATE
) -> dt.date:
    """Pick the KST day to report on.

    `{"date": "YYYY-MM-DD"}` backfills that day; without `date` (the scheduled run at 00:00
    KST) the report is for the previous KST day relative to `now`. A requested day must lie in
    the supported range: from `earliest` (the first day orders can exist,
    EARLIEST_ORDER_DATE) up to yesterday in KST; anything else is a `ReportInputError`.

    The scheduled day is returned as it is, even when it is before `earliest` (the first night
    after launch): the caller decides to skip it, because that is not a caller's mistake.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(KST).date()
    if event is None:
        event = {}
    if not isinstance(event, Mapping):
        raise ReportInputError(f"event must be a JSON object, got {type(event).__name__}")
    raw = event.get("date")
    if raw is None:
        return today - dt.timedelta(days=1)
    if not isinstance(raw, str) or not _DATE_RE.fullmatch(raw):
        raise ReportInputError(f"date must be a string YYYY-MM-DD, got {raw!r}")
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise ReportInputError(f"date {raw!r} is not a valid calendar date") from exc
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    supported = f"reports cover {earliest.isoformat()} to {yesterday}"
    if day < earliest:
        raise ReportInputError(
            f"date {raw} is before the first possible order date {earliest.isoformat()} "
            f"(EARLIEST_ORDER_DATE); {supported}"
        )
    if day >= today:
        raise ReportInputError(
            f"date {raw} is not a complete KST day yet (today in {TIMEZONE_NAME} is "
            f"{today.isoformat()}); only past days can be reported; {supported}"
        )
    return day


def utc_range(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Naive-UTC [start, end) of a KST day, as stored in `orders.created_at`."""
    start = dt.datetime.combine(day, dt.time(0), KST).astimezone(dt.UTC).replace(tzinfo=None)
    return start, start + dt.timedelta(days=1)


def report_key_prefix(day: dt.date) -> str:
    return f"{REPORT_PREFIX}/{day:%Y/%m/%d}"


# --------------------------------------------------------------------------------------
# Settings and connection
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportSettings:
    """Configuration from environment variables (documented in README.md)."""

    reports_bucket: str
    db_secret_arn: str
    db_host: str | None = None
    db_port: int | None = None
    db_name: str | None = None
    db_user: str | None = None
    db_tls: bool = True
    db_ssl_ca: str | None = None
    db_connect_timeout: int = 10
    db_read_timeout: int = 240
    top_n: int = 10
    currency: str = "KRW"
    earliest_order_date: dt.date = MIN_SUPPORTED_DATE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReportSettings:
        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ReportConfigError(f"environment variable {name} is required")
            return value

        def optional(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def integer(name: str, default: int, low: int, high: int) -> int:
            raw = optional(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError as exc:
                raise ReportConfigError(f"{name} must be an integer, got {raw!r}") from exc
            if not low <= value <= high:
                raise ReportConfigError(f"{name} must be between {low} and {high}, got {value}")
            return value

        # Powertools' Metrics reads it itself; checked here so a missing one fails at cold
        # start with its name, not at the first flush after the report is written.
        required(METRICS_NAMESPACE_ENV)
        tls = (optional("DB_TLS") or "required").lower()
        if tls not in ("required", "disabled"):
            raise ReportConfigError(f"DB_TLS must be 'required' or 'disabled', got {tls!r}")
        currency = (optional("REPORT_CURRENCY") or "KRW").upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise ReportConfigError(f"REPORT_CURRENCY must be an ISO 4217 code, got {currency!r}")
        port = optional("DB_PORT")
        earliest = MIN_SUPPORTED_DATE
        raw_earliest = optional("EARLIEST_ORDER_DATE")
        if raw_earliest is not None:
            try:
                if not _DATE_RE.fullmatch(raw_earliest):
                    raise ValueError(raw_earliest)
                earliest = dt.date.fromisoformat(raw_earliest)
            except ValueError:
                raise ReportConfigError(
                    f"EARLIEST_ORDER_DATE must be a calendar date YYYY-MM-DD, got {raw_earliest!r}"
                ) from None
            if earliest < MIN_SUPPORTED_DATE:
                raise ReportConfigError(
                    f"EARLIEST_ORDER_DATE must not be before {MIN_SUPPORTED_DATE.isoformat()} "
                    f"(the range MySQL DATETIME supports), got {raw_earliest}"
                )
        return cls(
            reports_bucket=required("REPORTS_BUCKET"),
            db_secret_arn=required("DB_SECRET_ARN"),
            db_host=optional("DB_HOST"),
            db_port=integer("DB_PORT", 3306, 1, 65535) if port else None,
            db_name=optional("DB_NAME"),
            db_user=optional("DB_USER"),
            db_tls=tls == "required",
            db_ssl_ca=optional("DB_SSL_CA"),
            db_connect_timeout=integer("DB_CONNECT_TIMEOUT_SECONDS", 10, 1, 120),
            db_read_timeout=integer("DB_READ_TIMEOUT_SECONDS", 240, 1, 900),
            top_n=integer("TOP_PRODUCTS_N", 10, 1, 1000),
            currency=currency,
            earliest_order_date=earliest,
        )


def parse_db_secret(secret_string: str) -> dict[str, Any]:
    """Parse the RDS-generated JSON secret (username, password, host, port, dbname)."""
    try:
        data = json.loads(secret_string)
    except ValueError as exc:
        raise ReportConfigError("the database secret is not valid JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("password"), str):
        raise ReportConfigError("the database secret must be a JSON object with a 'password'")
    return data


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """TLS client context. With a CA bundle (e.g. the RDS global bundle) the server certificate
    chain and host name are verified; without one the link is encrypted but unauthenticated."""
    if ca_file:
        ca = Path(ca_file)
        if not ca.is_absolute():
            ca = _FUNCTION_DIR / ca
        if not ca.is_file():
            raise ReportConfigError(f"DB_SSL_CA file not found: {ca}")
        context = ssl.create_default_context(cafile=str(ca))
        # Python 3.13+ enables strict X.509 checks that some CA bundles do not pass.
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        return context
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def connection_kwargs(settings: ReportSettings, secret: Mapping[str, Any]) -> dict[str, Any]:
    """pymysql.connect() arguments: environment first, then the secret's fields."""
    host = settings.db_host or secret.get("host")
    user = settings.db_user or secret.get("username")
    database = settings.db_name or secret.get("dbname")
    try:
        port = settings.db_port or int(secret.get("port") or 3306)
    except (TypeError, ValueError) as exc:
        raise ReportConfigError("the database secret's 'port' is not an integer") from exc
    missing = [
        name
        for name, value in (
            ("DB_HOST (or secret 'host')", host),
            ("DB_USER (or secret 'username')", user),
            ("DB_NAME (or secret 'dbname')", database),
        )
        if not value
    ]
    if missing:
        raise ReportConfigError(f"database settings missing: {', '.join(missing)}")
    context: ssl.SSLContext | None = None
    if settings.db_tls:
        context = tls_context(settings.db_ssl_ca)
    return {
        "host": host,
        "port": port,
        "user": user,
        "password": secret["password"],
        "database": database,
        "ssl": context,
        "ssl_disabled": not settings.db_tls,
        "connect_timeout": settings.db_connect_timeout,
        "read_timeout": settings.db_read_timeout,
        "charset": "utf8mb4",
        "autocommit": True,
        "init_command": "SET time_zone = '+00:00'",
    }


# --------------------------------------------------------------------------------------
# Report model
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HourBucket:
    hour: int  # 0..23, KST
    orders: int
    revenue: Decimal


@dataclass(frozen=True)
class ProductSales:
    product_id: int
    name: str
    seller_id: int | None  # None: the product row no longer exists
    units: int
    orders: int
    revenue: Decimal


@dataclass
class SellerSales:
    seller_id: int | None
    revenue: Decimal = Decimal(0)
    units: int = 0
    products: int = 0


@dataclass(frozen=True)
class CurrencyTotals:
    orders: int
    revenue: Decimal


@dataclass(frozen=True)
class DailyReport:
    day: dt.date
    utc_start: dt.datetime
    utc_end: dt.datetime
    currency: str
    top_n: int
    order_count: int
    gross_revenue: Decimal
    units_sold: int
    items_revenue: Decimal
    hours: list[HourBucket]
    top_products: list[ProductSales]
    sellers: list[SellerSales]
    other_currencies: dict[str, CurrencyTotals] = field(default_factory=dict)

    @property
    def average_order_value(self) -> Decimal:
        if self.order_count == 0:
            return Decimal("0.00")
        return (self.gross_revenue / self.order_count).quantize(_CENT, ROUND_HALF_UP)


# --------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------


def _status_placeholders(statuses: tuple[str, ...]) -> str:
    return ", ".join(["%s"] * len(statuses))


# Totals and the hourly breakdown: one covering-index range scan of `orders`.
# HOUR() of the UTC timestamp is mapped to the KST hour in Python (fixed +9 offset).
_HOURLY_SQL = """
SELECT HOUR(o.created_at) AS utc_hour, o.currency, COUNT(*) AS orders, SUM(o.total) AS revenue
FROM orders o
WHERE o.created_at >= %s AND o.created_at < %s AND o.status IN ({statuses})
GROUP BY utc_hour, o.currency
"""

# Per-product sales, aggregated in MySQL, then joined to the (current) product row.
_PRODUCTS_SQL = """
SELECT s.product_id, p.name, p.seller_id, s.units, s.orders, s.revenue
FROM (
    SELECT oi.product_id,
           SUM(oi.quantity) AS units,
           COUNT(*) AS orders,
           SUM(oi.quantity * oi.unit_price) AS revenue
    FROM orders o
    JOIN order_items oi ON oi.order_id = o.id
    WHERE o.created_at >= %s AND o.created_at < %s AND o.status IN ({statuses})
      AND o.currency = %s
    GROUP BY oi.product_id
) s
LEFT JOIN products p ON p.id = s.product_id
"""


def _stream(
    conn: pymysql.connections.Connection, sql: str, params: Iterable[Any]
) -> Iterator[tuple[Any, ...]]:
    """Run `sql` with an unbuffered cursor and yield rows as they arrive."""
    with conn.cursor(pymysql.cursors.SSCursor) as cur:
        cur.execute(sql, tuple(params))
        yield from cur


def _money(value: Any) -> Decimal:
    return Decimal(value if value is not None else 0).quantize(_CENT, ROUND_HALF_UP)


def build_report(
    conn: pymysql.connections.Connection,
    day: dt.date,
    *,
    top_n: int = 10,
    currency: str = "KRW",
    statuses: tuple[str, ...] = COUNTED_STATUSES,
) -> DailyReport:
    """Run the report queries for `day` inside one consistent read-only snapshot."""
    start, end = utc_range(day)
    placeholders = _status_placeholders(statuses)
    hour_orders = [0] * 24
    hour_revenue = [Decimal(0)] * 24
    others: dict[str, list[Any]] = {}
    top: list[tuple[Decimal, int, ProductSales]] = []
    sellers: dict[int | None, SellerSales] = {}
    units_sold = 0
    items_revenue = Decimal(0)

    with conn.cursor() as cur:
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
    for utc_hour, row_currency, orders, revenue in _stream(
        conn, _HOURLY_SQL.format(statuses=placeholders), (start, end, *statuses)
    ):
        if row_currency == currency:
            kst_hour = (int(utc_hour) + 9) % 24
            hour_orders[kst_hour] += int(orders)
            hour_revenue[kst_hour] += Decimal(revenue)
        else:
            acc = others.setdefault(str(row_currency), [0, Decimal(0)])
            acc[0] += int(orders)
            acc[1] += Decimal(revenue)

    for product_id, name, seller_id, units, orders, revenue in _stream(
        conn,
        _PRODUCTS_SQL.format(statuses=placeholders),
        (start, end, *statuses, currency),
    ):
        product = ProductSales(
            product_id=int(product_id),
            name=name if name is not None else "",
            seller_id=int(seller_id) if seller_id is not None else None,
            units=int(units),
            orders=int(orders),
            revenue=_money(revenue),
        )
        units_sold += product.units
        items_revenue += product.revenue
        seller = sellers.get(product.seller_id)
        if seller is None:
            seller = sellers[product.seller_id] = SellerSales(product.seller_id)
        seller.revenue += product.revenue
        seller.units += product.units
        seller.products += 1
        # Top N by revenue (ties: lower product id first) with an N-sized min-heap.
        entry = (product.revenue, -product.product_id, product)
        if len(top) < top_n:
            heapq.heappush(top, entry)
        elif entry[:2] > top[0][:2]:
            heapq.heapreplace(top, entry)
    # Not in a `finally`: after an error the caller closes the connection (ending the
    # snapshot), and a COMMIT on a half-read result set would hide the original error.
    with conn.cursor() as cur:
        cur.execute("COMMIT")

    top_products = [p for _, _, p in sorted(top, key=lambda e: e[:2], reverse=True)]
    seller_rows = sorted(
        sellers.values(),
        key=lambda s: (-s.revenue, s.seller_id is None, s.seller_id or 0),
    )
    return DailyReport(
        day=day,
        utc_start=start,
        utc_end=end,
        currency=currency,
        top_n=top_n,
        order_count=sum(hour_orders),
        gross_revenue=_money(sum(hour_revenue, Decimal(0))),
        units_sold=units_sold,
        items_revenue=_money(items_revenue),
        hours=[HourBucket(h, hour_orders[h], _money(hour_revenue[h])) for h in range(24)],
        top_products=top_products,
        sellers=seller_rows,
        other_currencies={
            code: CurrencyTotals(int(acc[0]), _money(acc[1]))
            for code, acc in sorted(others.items())
        },
    )


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFile:
    name: str
    body: bytes
    content_type: str


TOP_PRODUCTS_FILE = "top-products.csv.gz"
BY_HOUR_FILE = "revenue-by-hour.csv.gz"
BY_SELLER_FILE = "revenue-by-seller.csv.gz"
SUMMARY_FILE = "summary.json"


def _gzip_csv(header: list[str], rows: Iterable[list[Any]]) -> bytes:
    """CSV (UTF-8, CRLF per RFC 4180) in gzip with a fixed header: byte-identical re-runs."""
    buf = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz,
        io.TextIOWrapper(gz, encoding="utf-8", newline="") as text,
    ):
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows(rows)
    return buf.getvalue()


def _iso_utc(value: dt.datetime) -> str:
    return value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")


def _hour_start(day: dt.date, hour: int) -> str:
    return dt.datetime.combine(day, dt.time(hour), KST).isoformat()


def render_report(report: DailyReport) -> list[ReportFile]:
    """The report's files, in upload order: the CSVs first, `summary.json` last."""
    prefix = report_key_prefix(report.day)
    top_products = _gzip_csv(
        ["rank", "product_id", "product_name", "seller_id", "units_sold", "orders", "revenue"],
        (
            [
                rank,
                p.product_id,
                p.name,
                "" if p.seller_id is None else p.seller_id,
                p.units,
                p.orders,
                str(p.revenue),
            ]
            for rank, p in enumerate(report.top_products, start=1)
        ),
    )
    by_hour = _gzip_csv(
        ["hour_kst", "hour_start", "orders", "revenue"],
        (
            [f"{b.hour:02d}", _hour_start(report.day, b.hour), b.orders, str(b.revenue)]
            for b in report.hours
        ),
    )
    by_seller = _gzip_csv(
        ["seller_id", "revenue", "units_sold", "products_sold"],
        (
            [
                "" if s.seller_id is None else s.seller_id,
                str(_money(s.revenue)),
                s.units,
                s.products,
            ]
            for s in report.sellers
        ),
    )
    summary = {
        "schemaVersion": SCHEMA_VERSION,
        "reportDate": report.day.isoformat(),
        "timezone": TIMEZONE_NAME,
        "utcStart": _iso_utc(report.utc_start),
        "utcEnd": _iso_utc(report.utc_end),
        "currency": report.currency,
        "countedStatuses": list(COUNTED_STATUSES),
        "orderCount": report.order_count,
        "grossRevenue": str(report.gross_revenue),
        "averageOrderValue": str(report.average_order_value),
        "unitsSold": report.units_sold,
        "itemsRevenue": str(report.items_revenue),
        "sellerCount": len(report.sellers),
        "topN": report.top_n,
        "topProducts": [
            {
                "rank": rank,
                "productId": p.product_id,
                "name": p.name,
                "sellerId": p.seller_id,
                "unitsSold": p.units,
                "orders": p.orders,
                "revenue": str(p.revenue),
            }
            for rank, p in enumerate(report.top_products, start=1)
        ],
        "revenueByHour": [
            {"hour": b.hour, "orders": b.orders, "revenue": str(b.revenue)} for b in report.hours
        ],
        "excludedOtherCurrencies": {
            code: {"orders": t.orders, "revenue": str(t.revenue)}
            for code, t in report.other_currencies.items()
        },
        "files": {
            "topProducts": f"{prefix}/{TOP_PRODUCTS_FILE}",
            "revenueByHour": f"{prefix}/{BY_HOUR_FILE}",
            "revenueBySeller": f"{prefix}/{BY_SELLER_FILE}",
        },
    }
    summary_body = (json.dumps(summary, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    return [
        ReportFile(TOP_PRODUCTS_FILE, top_products, "application/gzip"),
        ReportFile(BY_HOUR_FILE, by_hour, "application/gzip"),
        ReportFile(BY_SELLER_FILE, by_seller, "application/gzip"),
        ReportFile(SUMMARY_FILE, summary_body, "application/json"),
    ]


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


class S3Writer(Protocol):
    def put_object(self, **kwargs: Any) -> Any: ...


def write_report(s3: S3Writer, bucket: str, day: dt.date, files: list[ReportFile]) -> list[str]:
    """Upload the files (fixed keys per day: a re-run overwrites). Returns the keys."""
    prefix = report_key_prefix(day)
    keys: list[str] = []
    for item in files:
        key = f"{prefix}/{item.name}"
        s3.put_object(Bucket=bucket, Key=key, Body=item.body, ContentType=item.content_type)
        keys.append(key)
    return keys
