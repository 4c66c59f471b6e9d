"""report-generator: real MariaDB (TLS, password) + moto S3 / Secrets Manager."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import importlib.util
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pymysql
import pytest
import sales_report
from function_env import CONSTRUCT_ENV, METRICS_NAMESPACE, construct_env
from moto import mock_aws

pytestmark = pytest.mark.integration

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "functions" / "report-generator"
MIGRATION = FUNCTION_DIR / "migrations" / "001_orders.sql"
BUCKET = "openmarket-test-reports"
REGION = "ap-northeast-2"
KST = dt.timezone(dt.timedelta(hours=9))


def _load_index() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "report_generator_index", FUNCTION_DIR / "index.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with construct_env():
        spec.loader.exec_module(module)
    return module


index = _load_index()

CONTEXT = SimpleNamespace(
    function_name="report-generator",
    function_version="$LATEST",
    memory_limit_in_mb=1024,
    invoked_function_arn="arn:aws:lambda:ap-northeast-2:123456789012:function:report-generator",
    aws_request_id="test-request",
)

PRODUCTS = [
    # id, seller_id, name, price
    (1, 10, "Keyboard", "100.00"),
    (2, 10, "Mouse", "50.00"),
    (3, 20, "Monitor", "300.00"),
    (4, 30, "Cable, USB-C", "5.50"),
    (5, 20, "Unsold", "10.00"),
]

# id, status, currency, created_at (UTC), items [(product_id, quantity, unit_price)]
ORDERS: list[tuple[int, str, str, str, list[tuple[int, int, str]]]] = [
    # 2025-03-10 00:00:00.000 KST: first instant of the day
    (1, "PAID", "KRW", "2025-03-09 15:00:00.000", [(1, 2, "100.00")]),
    # 2025-03-09 23:59:59.999 KST: previous day
    (2, "DELIVERED", "KRW", "2025-03-09 14:59:59.999", [(3, 1, "300.00")]),
    # 2025-03-10 23:59:59.999 KST: last instant of the day
    (3, "DELIVERED", "KRW", "2025-03-10 14:59:59.999", [(3, 1, "300.00"), (4, 2, "5.50")]),
    # 2025-03-11 00:00:00.000 KST: next day
    (4, "PAID", "KRW", "2025-03-10 15:00:00.000", [(1, 1, "100.00")]),
    # 12:30 KST, discounted keyboard
    (5, "SHIPPED", "KRW", "2025-03-10 03:30:00.000", [(2, 3, "50.00"), (1, 1, "90.00")]),
    # not counted: cancelled, pending, refunded
    (6, "CANCELLED", "KRW", "2025-03-10 03:45:00.000", [(3, 5, "300.00")]),
    (7, "PENDING", "KRW", "2025-03-10 05:00:00.000", [(1, 1, "100.00")]),
    (8, "REFUNDED", "KRW", "2025-03-10 05:10:00.000", [(2, 1, "50.00")]),
    # 09:00 KST, another currency: excluded from the KRW report
    (9, "DELIVERED", "USD", "2025-03-10 00:00:00.000", [(4, 1, "5.50")]),
    # 05:15 KST
    (10, "PAID", "KRW", "2025-03-09 20:15:00.000", [(4, 10, "5.50")]),
]


def apply_migration(conn: pymysql.Connection[Any]) -> None:
    sql = "\n".join(
        line for line in MIGRATION.read_text().splitlines() if not line.lstrip().startswith("--")
    )
    with conn.cursor() as cur:
        for statement in sql.split(";"):
            if statement.strip():
                cur.execute(statement)


def insert_orders(
    conn: pymysql.Connection[Any],
    orders: list[tuple[int, str, str, str, list[tuple[int, int, str]]]],
) -> None:
    with conn.cursor() as cur:
        for order_id, status, currency, created_at, items in orders:
            total = sum((Decimal(price) * qty for _, qty, price in items), Decimal(0))
            cur.execute(
                "INSERT INTO orders (id, user_id, status, total, currency, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (order_id, 1000 + order_id, status, total, currency, created_at),
            )
            cur.executemany(
                "INSERT INTO order_items (order_id, product_id, quantity, unit_price)"
                " VALUES (%s, %s, %s, %s)",
                [(order_id, pid, qty, price) for pid, qty, price in items],
            )


@pytest.fixture
def report_db(mariadb_server: Any) -> Iterator[str]:
    name = mariadb_server.create_database("report")
    with mariadb_server.connect(name) as conn:
        apply_migration(conn)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO products (id, seller_id, name, price, stock)"
                " VALUES (%s, %s, %s, %s, 5)",
                PRODUCTS,
            )
        insert_orders(conn, ORDERS)
    yield name
    mariadb_server.drop_database(name)


@pytest.fixture
def aws(
    monkeypatch: pytest.MonkeyPatch, mariadb_server: Any, report_db: str, metrics_namespace: str
) -> Iterator[SimpleNamespace]:
    for key in ("AWS_PROFILE", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "TOP_PRODUCTS_N"):
        monkeypatch.delenv(key, raising=False)
    # The stage config's first possible order date; the data above starts in March 2025.
    monkeypatch.setenv("EARLIEST_ORDER_DATE", EARLIEST)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        secret = {
            "engine": "mysql",
            "username": mariadb_server.user,
            "password": mariadb_server.password,
            "host": mariadb_server.host,
            "port": mariadb_server.port,
            "dbname": report_db,
        }
        arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="openmarket/test/db", SecretString=json.dumps(secret)
        )["ARN"]
        monkeypatch.setenv("REPORTS_BUCKET", BUCKET)
        monkeypatch.setenv("DB_SECRET_ARN", arn)
        monkeypatch.setenv("DB_SSL_CA", str(mariadb_server.ca_path))
        monkeypatch.setattr(index, "clock", lambda: dt.datetime(2025, 3, 11, 0, 0, 5, tzinfo=KST))
        yield SimpleNamespace(s3=s3, secret_arn=arn, db=report_db)


def objects(s3: Any) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listing}


def read_csv(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(gzip.decompress(body).decode("utf-8"))))


PREFIX = "reports/daily/2025/03/10"
EARLIEST = "2025-01-01"


def test_scheduled_run_reports_previous_kst_day(aws: SimpleNamespace) -> None:
    result = index.handler({"detail-type": "Scheduled Event", "detail": {}}, CONTEXT)

    assert result["date"] == "2025-03-10"
    assert result["orderCount"] == 4
    files = objects(aws.s3)
    assert sorted(files) == [
        f"{PREFIX}/revenue-by-hour.csv.gz",
        f"{PREFIX}/revenue-by-seller.csv.gz",
        f"{PREFIX}/summary.json",
        f"{PREFIX}/top-products.csv.gz",
    ]
    summary = json.loads(files[f"{PREFIX}/summary.json"])
    # Counted: orders 1 (00:00 KST), 3 (23:59:59.999 KST), 5 and 10. Not: 2 and 4 (other
    # days), 6-8 (cancelled / pending / refunded), 9 (USD).
    assert summary["orderCount"] == 4
    assert summary["grossRevenue"] == "806.00"
    assert summary["averageOrderValue"] == "201.50"
    assert summary["unitsSold"] == 19
    assert summary["itemsRevenue"] == "806.00"
    assert summary["utcStart"] == "2025-03-09T15:00:00Z"
    assert summary["utcEnd"] == "2025-03-10T15:00:00Z"
    assert summary["countedStatuses"] == ["PAID", "SHIPPED", "DELIVERED"]
    assert summary["excludedOtherCurrencies"] == {"USD": {"orders": 1, "revenue": "5.50"}}
    assert [p["productId"] for p in summary["topProducts"]] == [3, 1, 2, 4]
    assert summary["sellerCount"] == 3
    hours = {h["hour"]: (h["orders"], h["revenue"]) for h in summary["revenueByHour"]}
    assert len(summary["revenueByHour"]) == 24
    assert {h: v for h, v in hours.items() if v[0]} == {
        0: (1, "200.00"),
        5: (1, "55.00"),
        12: (1, "240.00"),
        23: (1, "311.00"),
    }

    assert read_csv(files[f"{PREFIX}/top-products.csv.gz"]) == [
        ["rank", "product_id", "product_name", "seller_id", "units_sold", "orders", "revenue"],
        ["1", "3", "Monitor", "20", "1", "1", "300.00"],
        ["2", "1", "Keyboard", "10", "3", "2", "290.00"],
        ["3", "2", "Mouse", "10", "3", "1", "150.00"],
        ["4", "4", "Cable, USB-C", "30", "12", "2", "66.00"],
    ]
    assert read_csv(files[f"{PREFIX}/revenue-by-seller.csv.gz"]) == [
        ["seller_id", "revenue", "units_sold", "products_sold"],
        ["10", "440.00", "6", "2"],
        ["20", "300.00", "1", "1"],
        ["30", "66.00", "12", "1"],
    ]
    by_hour = read_csv(files[f"{PREFIX}/revenue-by-hour.csv.gz"])
    assert by_hour[0] == ["hour_kst", "hour_start", "orders", "revenue"]
    assert len(by_hour) == 25
    assert by_hour[1] == ["00", "2025-03-10T00:00:00+09:00", "1", "200.00"]
    assert by_hour[2] == ["01", "2025-03-10T01:00:00+09:00", "0", "0.00"]
    assert by_hour[24] == ["23", "2025-03-10T23:00:00+09:00", "1", "311.00"]


def test_backfill_dates_and_day_edges(
    aws: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "clock", lambda: dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC))

    previous = index.handler({"date": "2025-03-09"}, CONTEXT)
    following = index.handler({"date": "2025-03-11"}, CONTEXT)

    files = objects(aws.s3)
    assert previous["keys"][-1] == "reports/daily/2025/03/09/summary.json"
    day9 = json.loads(files["reports/daily/2025/03/09/summary.json"])
    day11 = json.loads(files["reports/daily/2025/03/11/summary.json"])
    # Order 2 at 23:59:59.999 KST on the 9th, order 4 at 00:00:00.000 KST on the 11th.
    assert (day9["orderCount"], day9["grossRevenue"]) == (1, "300.00")
    assert day9["revenueByHour"][23] == {"hour": 23, "orders": 1, "revenue": "300.00"}
    assert (day11["orderCount"], day11["grossRevenue"]) == (1, "100.00")
    assert day11["revenueByHour"][0] == {"hour": 0, "orders": 1, "revenue": "100.00"}
    assert following["date"] == "2025-03-11"


def test_rerun_overwrites_same_keys(
    aws: SimpleNamespace, mariadb_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOP_PRODUCTS_N", "2")
    first_keys = index.handler({"date": "2025-03-10"}, CONTEXT)["keys"]
    first = objects(aws.s3)
    second_keys = index.handler({"date": "2025-03-10"}, CONTEXT)["keys"]
    assert first_keys == second_keys
    assert objects(aws.s3) == first  # byte-identical: no timestamps in the output

    with mariadb_server.connect(aws.db) as conn, conn.cursor() as cur:
        cur.execute("UPDATE orders SET status = 'CANCELLED' WHERE id = 3")
    index.handler({"date": "2025-03-10"}, CONTEXT)
    after = objects(aws.s3)
    assert sorted(after) == sorted(first)
    summary = json.loads(after[f"{PREFIX}/summary.json"])
    assert (summary["orderCount"], summary["grossRevenue"]) == (3, "495.00")
    assert summary["topN"] == 2
    assert [p["productId"] for p in summary["topProducts"]] == [1, 2]


def test_empty_day(aws: SimpleNamespace) -> None:
    index.handler({"date": "2025-01-01"}, CONTEXT)
    files = objects(aws.s3)
    summary = json.loads(files["reports/daily/2025/01/01/summary.json"])
    assert summary["orderCount"] == 0
    assert summary["grossRevenue"] == "0.00"
    assert summary["averageOrderValue"] == "0.00"
    assert summary["topProducts"] == []
    assert all(h["orders"] == 0 for h in summary["revenueByHour"])
    assert len(read_csv(files["reports/daily/2025/01/01/revenue-by-hour.csv.gz"])) == 25
    assert read_csv(files["reports/daily/2025/01/01/revenue-by-seller.csv.gz"]) == [
        ["seller_id", "revenue", "units_sold", "products_sold"]
    ]


@pytest.mark.parametrize(
    "event",
    [
        {"date": "2025-13-01"},
        {"date": "2025-02-30"},
        {"date": "20250310"},
        {"date": "2025-3-10"},
        {"date": 20250310},
        {"date": "2025-03-11"},  # "today" in KST for the injected clock: not complete yet
        {"date": "2031-01-01"},  # future
        {"date": "2024-12-31"},  # the day before EARLIEST_ORDER_DATE
        {"date": "0001-01-01"},  # used to overflow datetime (a crash, ReportFailed)
        ["2025-03-10"],
    ],
)
def test_bad_input_raises_and_writes_nothing(
    aws: SimpleNamespace,
    event: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(sales_report.ReportInputError):
        index.handler(event, CONTEXT)
    assert objects(aws.s3) == {}
    assert any(r.getMessage() == "rejected report request" for r in caplog.records)
    out = capsys.readouterr().out.splitlines()
    emf = [json.loads(line) for line in out if line.startswith("{") and '"_aws"' in line]
    assert emf[-1]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == METRICS_NAMESPACE
    assert emf[-1]["ReportInvalidInput"] in (1.0, [1.0])


def test_out_of_range_dates_name_the_supported_range(
    aws: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    supported = "reports cover 2025-01-01 to 2025-03-10"
    with pytest.raises(sales_report.ReportInputError) as before:
        index.handler({"date": "0001-01-01"}, CONTEXT)
    assert str(before.value) == (
        "date 0001-01-01 is before the first possible order date 2025-01-01 "
        f"(EARLIEST_ORDER_DATE); {supported}"
    )
    with pytest.raises(sales_report.ReportInputError) as future:
        index.handler({"date": "9999-12-31"}, CONTEXT)
    assert "not a complete KST day yet" in str(future.value)
    assert str(future.value).endswith(supported)
    for raw in ("9999-12-31", "1999-06-15", "1000-01-01", "0999-12-31"):
        with pytest.raises(sales_report.ReportInputError, match=supported):
            index.handler({"date": raw}, CONTEXT)
    out = capsys.readouterr().out
    assert "ReportFailed" not in out  # an input error, never the generic failure
    assert out.count('"ReportInvalidInput"') >= 6
    assert objects(aws.s3) == {}
    # The boundary itself is a valid backfill (an empty day).
    assert index.handler({"date": EARLIEST}, CONTEXT)["orderCount"] == 0


def test_scheduled_run_before_earliest_order_date_is_skipped(
    aws: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Launch night: the clock says 2025-03-11 00:00 KST, the platform opened on the 11th.
    monkeypatch.setenv("EARLIEST_ORDER_DATE", "2025-03-11")
    result = index.handler({"detail-type": "Scheduled Event", "detail": {}}, CONTEXT)
    assert result == {
        "date": "2025-03-10",
        "skipped": True,
        "reason": "before EARLIEST_ORDER_DATE",
    }
    assert objects(aws.s3) == {}
    out = capsys.readouterr().out.splitlines()
    emf = [json.loads(line) for line in out if line.startswith("{") and '"_aws"' in line]
    assert emf[-1]["ReportSkipped"] in (1.0, [1.0])
    assert "ReportInvalidInput" not in emf[-1]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2025-1-1", "EARLIEST_ORDER_DATE must be a calendar date YYYY-MM-DD"),
        ("2025-02-30", "EARLIEST_ORDER_DATE must be a calendar date YYYY-MM-DD"),
        ("yesterday", "EARLIEST_ORDER_DATE must be a calendar date YYYY-MM-DD"),
        ("0999-12-31", "EARLIEST_ORDER_DATE must not be before 1000-01-02"),
    ],
)
def test_malformed_earliest_order_date_is_a_config_error(value: str, message: str) -> None:
    env = {"REPORTS_BUCKET": "b", "DB_SECRET_ARN": "arn", "EARLIEST_ORDER_DATE": value}
    env |= CONSTRUCT_ENV
    with pytest.raises(sales_report.ReportConfigError, match=message):
        sales_report.ReportSettings.from_env(env)


def test_malformed_earliest_order_date_fails_the_invocation_before_any_work(
    aws: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EARLIEST_ORDER_DATE", "2025-02-30")
    with pytest.raises(sales_report.ReportConfigError, match="EARLIEST_ORDER_DATE"):
        index.handler({"date": "2025-03-10"}, CONTEXT)
    assert objects(aws.s3) == {}
    assert '"ReportConfigError"' in capsys.readouterr().out


def test_date_range_without_configured_earliest_date() -> None:
    now = dt.datetime(2025, 3, 11, 0, 0, 5, tzinfo=KST)
    assert sales_report.resolve_report_date({"date": "1000-01-02"}, now) == dt.date(1000, 1, 2)
    for raw in ("0001-01-01", "1000-01-01"):
        with pytest.raises(sales_report.ReportInputError, match="before the first possible"):
            sales_report.resolve_report_date({"date": raw}, now)
    assert sales_report.ReportSettings.from_env(
        {"REPORTS_BUCKET": "b", "DB_SECRET_ARN": "arn", **CONSTRUCT_ENV}
    ).earliest_order_date == dt.date(1000, 1, 2)


def test_bad_configuration_is_reported_clearly(
    aws: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REPORTS_BUCKET")
    with pytest.raises(sales_report.ReportConfigError, match="REPORTS_BUCKET is required"):
        index.handler({}, CONTEXT)
    monkeypatch.setenv("REPORTS_BUCKET", BUCKET)
    monkeypatch.setenv("TOP_PRODUCTS_N", "zero")
    with pytest.raises(sales_report.ReportConfigError, match="TOP_PRODUCTS_N must be an integer"):
        index.handler({}, CONTEXT)
    monkeypatch.delenv("TOP_PRODUCTS_N")
    monkeypatch.setenv("DB_SSL_CA", "/nonexistent/rds-ca.pem")
    with pytest.raises(sales_report.ReportConfigError, match="DB_SSL_CA file not found"):
        index.handler({}, CONTEXT)
    assert objects(aws.s3) == {}


def test_env_overrides_secret_connection_fields(
    aws: SimpleNamespace, mariadb_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.put_secret_value(
        SecretId=aws.secret_arn,
        SecretString=json.dumps({"username": "nobody", "password": mariadb_server.password}),
    )
    monkeypatch.setenv("DB_HOST", "localhost")  # in the test certificate's SAN
    monkeypatch.setenv("DB_PORT", str(mariadb_server.port))
    monkeypatch.setenv("DB_NAME", aws.db)
    monkeypatch.setenv("DB_USER", mariadb_server.user)
    assert index.handler({}, CONTEXT)["orderCount"] == 4


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (dt.datetime(2025, 3, 10, 14, 59, 59, tzinfo=dt.UTC), dt.date(2025, 3, 9)),  # 23:59:59 KST
        (dt.datetime(2025, 3, 10, 15, 0, 0, tzinfo=dt.UTC), dt.date(2025, 3, 10)),  # 00:00 KST
        (dt.datetime(2025, 1, 1, 0, 0, 0, tzinfo=KST), dt.date(2024, 12, 31)),
    ],
)
def test_default_date_is_previous_kst_day(now: dt.datetime, expected: dt.date) -> None:
    assert sales_report.resolve_report_date({"time": "ignored"}, now) == expected
    assert sales_report.resolve_report_date(None, now) == expected


def test_queries_stream_with_unbuffered_cursor_and_break_ties_by_id(
    mariadb_server: Any, report_db: str
) -> None:
    with mariadb_server.connect(report_db) as conn:
        insert_orders(
            conn,
            [
                # Two products with equal revenue; product 999 no longer exists.
                (20, "PAID", "KRW", "2025-02-01 01:00:00", [(5, 1, "10.00"), (999, 2, "7.00")]),
                (21, "PAID", "KRW", "2025-02-01 02:00:00", [(2, 1, "10.00")]),
            ],
        )
        cursor_classes: list[type] = []
        real_cursor = conn.cursor

        def recording_cursor(cursor: type | None = None) -> Any:
            cursor_classes.append(cursor or pymysql.cursors.Cursor)
            return real_cursor(cursor)

        setattr(conn, "cursor", recording_cursor)  # noqa: B010
        report = sales_report.build_report(conn, dt.date(2025, 2, 1), top_n=2)

    assert cursor_classes.count(pymysql.cursors.SSCursor) == 2
    assert [p.product_id for p in report.top_products] == [999, 2]
    # Unknown seller (deleted product) first by revenue; equal revenue: lower seller id first.
    assert [s.seller_id for s in report.sellers] == [None, 10, 20]
    assert sum(s.revenue for s in report.sellers) == Decimal("34.00")
