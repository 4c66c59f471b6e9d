"""data-sync: real MariaDB (TLS, password) + real Redis (TLS + AUTH) + moto Secrets Manager."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import inventory_sync
import pymysql
import pytest
import redis
from function_env import CONSTRUCT_ENV, METRICS_NAMESPACE, construct_env
from moto import mock_aws

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = ROOT / "functions" / "data-sync"
# data-sync reads the schema the report-generator migration defines (one schema, one file).
MIGRATION = ROOT / "functions" / "report-generator" / "migrations" / "001_orders.sql"
REGION = "ap-northeast-2"


def _load_index() -> ModuleType:
    spec = importlib.util.spec_from_file_location("data_sync_index", FUNCTION_DIR / "index.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with construct_env():
        spec.loader.exec_module(module)
    return module


index = _load_index()

CONTEXT = SimpleNamespace(
    function_name="data-sync",
    function_version="$LATEST",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:ap-northeast-2:123456789012:function:data-sync",
    aws_request_id="test-request",
)
MS = dt.timedelta(milliseconds=1)


def apply_migration(conn: pymysql.Connection[Any]) -> None:
    sql = "\n".join(
        line for line in MIGRATION.read_text().splitlines() if not line.lstrip().startswith("--")
    )
    with conn.cursor() as cur:
        for statement in sql.split(";"):
            if statement.strip():
                cur.execute(statement)


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, mariadb_server: Any, redis_server: Any, metrics_namespace: str
) -> Iterator[SimpleNamespace]:
    """Fresh database + key prefix, secrets in moto, environment as the stack sets it."""
    db = mariadb_server.create_database("sync")
    conn = mariadb_server.connect(db)
    apply_migration(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT UTC_TIMESTAMP(3)")
        now: dt.datetime = cur.fetchone()[0]
    prefix = f"t{secrets.token_hex(4)}"
    client = redis_server.client()
    for key in ("AWS_PROFILE", "DB_PORT", "DB_USER", "SYNC_BATCH_SIZE", "HOT_PRODUCTS_N"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name=REGION)
        db_arn = sm.create_secret(
            Name="openmarket/test/db",
            SecretString=json.dumps(
                {
                    "engine": "mysql",
                    "username": mariadb_server.user,
                    "password": mariadb_server.password,
                    "host": "writer.invalid",  # DB_HOST (the reader endpoint) wins
                    "port": mariadb_server.port,
                    "dbname": db,
                }
            ),
        )["ARN"]
        redis_arn = sm.create_secret(
            Name="openmarket/test/redis", SecretString=redis_server.password
        )["ARN"]
        for name, value in {
            "DB_SECRET_ARN": db_arn,
            "DB_HOST": mariadb_server.host,
            "DB_NAME": db,
            "DB_SSL_CA": str(mariadb_server.ca_path),
            "REDIS_HOST": redis_server.host,
            "REDIS_PORT": str(redis_server.port),
            "REDIS_SECRET_ARN": redis_arn,
            "REDIS_SSL_CA": str(redis_server.ca_path),
            "REDIS_KEY_PREFIX": prefix,
        }.items():
            monkeypatch.setenv(name, value)
        yield SimpleNamespace(
            conn=conn,
            redis=client,
            prefix=prefix,
            now=now,
            sm=sm,
            redis_arn=redis_arn,
            keys=inventory_sync.KeySchema(prefix),
        )
    conn.close()
    mariadb_server.drop_database(db)
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)
    client.close()


def add_products(env: SimpleNamespace, rows: list[tuple[int, int, int, dt.datetime]]) -> None:
    """rows: (id, stock, is_active, updated_at); seller = id * 10, price = id * 1000."""
    with env.conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO products (id, seller_id, name, price, stock, is_active, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (pid, pid * 10, f"Product {pid}", pid * 1000, st, act, ts)
                for pid, st, act, ts in rows
            ],
        )


def update_product(env: SimpleNamespace, pid: int, updated_at: dt.datetime, **cols: Any) -> None:
    sets = ", ".join(f"{c} = %s" for c in cols)
    with env.conn.cursor() as cur:
        cur.execute(
            f"UPDATE products SET {sets}, updated_at = %s WHERE id = %s",
            (*cols.values(), updated_at, pid),
        )


def stock(env: SimpleNamespace, pid: int) -> str | None:
    value: str | None = env.redis.get(f"{env.prefix}:stock:{pid}")
    return value


def watermark(env: SimpleNamespace) -> str | None:
    value: str | None = env.redis.get(f"{env.prefix}:sync:watermark")
    return value


def wm(value: dt.datetime) -> str:
    return str(inventory_sync.format_watermark(value))


def seed_catalog(env: SimpleNamespace) -> dict[int, dt.datetime]:
    now = env.now
    stamps = {
        1: now - dt.timedelta(days=3),
        2: now - dt.timedelta(days=2),
        3: now - dt.timedelta(days=1),
        4: now - dt.timedelta(days=1),
        5: now - dt.timedelta(hours=2),
    }
    add_products(
        env,
        [
            (1, 10, 1, stamps[1]),
            (2, 20, 1, stamps[2]),
            (3, 0, 1, stamps[3]),
            (4, 40, 0, stamps[4]),
            (5, 55, 1, stamps[5]),
        ],
    )
    return stamps


def test_full_resync_when_watermark_missing(
    env: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    stamps = seed_catalog(env)
    env.redis.set(f"{env.prefix}:stock:4", "7")  # product 4 is delisted: key must go

    result = index.handler({"detail-type": "Scheduled Event"}, CONTEXT)

    out = capsys.readouterr().out.splitlines()
    (emf,) = [json.loads(line) for line in out if line.startswith("{") and '"_aws"' in line]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == METRICS_NAMESPACE
    assert emf["service"] == "data-sync" and emf["StockKeysWritten"] in (4.0, [4.0])

    assert (result["mode"], result["reason"]) == ("full", "no watermark")
    assert (result["rows"], result["written"], result["deleted"]) == (5, 4, 1)
    assert [stock(env, p) for p in (1, 2, 3, 4, 5)] == ["10", "20", "0", None, "55"]
    assert watermark(env) == wm(stamps[5])
    ttl = env.redis.ttl(f"{env.prefix}:sync:watermark")
    assert 24 * 3600 - 60 < ttl <= 24 * 3600
    last_run = json.loads(env.redis.get(f"{env.prefix}:sync:last-run"))
    assert last_run["mode"] == "full"


def test_incremental_sync_only_touches_changed_rows(env: SimpleNamespace) -> None:
    stamps = seed_catalog(env)
    index.handler({}, CONTEXT)
    ttl_before = env.redis.ttl(f"{env.prefix}:sync:watermark")
    # Sentinels: an unchanged product's key that a full rewrite would overwrite.
    env.redis.set(f"{env.prefix}:stock:1", "999")
    env.redis.set(f"{env.prefix}:stock:2", "888")
    changed_at = env.now - dt.timedelta(minutes=10)
    update_product(env, 2, changed_at, stock=19)
    update_product(env, 3, changed_at, is_active=0)  # delisted → key deleted

    result = index.handler({}, CONTEXT)

    assert (result["mode"], result["reason"]) == ("incremental", "changed rows")
    # 2 and 3 changed; 5 is re-read because it lies in the 5-minute overlap window.
    assert (result["rows"], result["written"], result["deleted"]) == (3, 2, 1)
    assert result["since"] == wm(stamps[5] - dt.timedelta(minutes=5))
    assert stock(env, 1) == "999"  # untouched
    assert stock(env, 2) == "19"
    assert stock(env, 3) is None
    assert stock(env, 5) == "55"
    assert watermark(env) == wm(changed_at)
    assert env.redis.ttl(f"{env.prefix}:sync:watermark") <= ttl_before  # KEEPTTL


def test_late_and_same_timestamp_commits_are_not_missed(env: SimpleNamespace) -> None:
    stamps = seed_catalog(env)
    index.handler({}, CONTEXT)
    assert watermark(env) == wm(stamps[5])
    # Committed after the first sync but stamped before / exactly at the watermark, e.g. a
    # long transaction or replica lag. Both are inside the overlap window.
    add_products(env, [(6, 6, 1, stamps[5] - dt.timedelta(seconds=30)), (7, 7, 1, stamps[5])])

    result = index.handler({}, CONTEXT)

    assert result["mode"] == "incremental"
    assert stock(env, 6) == "6"
    assert stock(env, 7) == "7"
    assert watermark(env) == wm(stamps[5])  # nothing newer: unchanged


def test_future_timestamp_cannot_push_watermark_past_db_clock(env: SimpleNamespace) -> None:
    seed_catalog(env)
    add_products(env, [(8, 8, 1, env.now + dt.timedelta(days=1))])
    settings = inventory_sync.SyncSettings.from_env(
        {
            "DB_SECRET_ARN": "x",
            "REDIS_HOST": "x",
            "REDIS_SECRET_ARN": "x",
            "REDIS_KEY_PREFIX": env.prefix,
            **CONSTRUCT_ENV,
        }
    )
    fixed_now = env.now.replace(microsecond=0)

    first = inventory_sync.run_sync(env.conn, env.redis, settings, now=fixed_now)
    assert first.watermark == wm(fixed_now)
    env.redis.set(f"{env.prefix}:stock:8", "stale")
    second = inventory_sync.run_sync(env.conn, env.redis, settings, now=fixed_now)
    assert second.mode == "incremental"
    assert stock(env, 8) == "8"  # re-read until the clock reaches its timestamp


def test_forced_and_watermark_loss_resyncs_are_full(env: SimpleNamespace) -> None:
    seed_catalog(env)
    index.handler({}, CONTEXT)
    env.redis.set(f"{env.prefix}:stock:1", "999")

    forced = index.handler({"fullResync": True}, CONTEXT)
    assert (forced["mode"], forced["reason"]) == ("full", "requested")
    assert stock(env, 1) == "10"

    env.redis.set(f"{env.prefix}:stock:1", "999")
    env.redis.set(f"{env.prefix}:sync:watermark", "not-a-timestamp")
    garbled = index.handler({}, CONTEXT)
    assert (garbled["mode"], garbled["reason"]) == ("full", "unreadable watermark")
    assert stock(env, 1) == "10"

    env.redis.set(f"{env.prefix}:stock:1", "999")
    env.redis.delete(f"{env.prefix}:sync:watermark")  # TTL expired / cache flushed
    expired = index.handler({}, CONTEXT)
    assert (expired["mode"], expired["reason"]) == ("full", "no watermark")
    assert stock(env, 1) == "10"


def test_batches_and_wire_format(env: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_catalog(env)
    monkeypatch.setenv("SYNC_BATCH_SIZE", "2")
    result = index.handler({}, CONTEXT)
    assert (result["rows"], result["batches"]) == (5, 3)

    ts = dt.datetime(2025, 1, 1)
    payload, written, deleted = inventory_sync.pack_batch(
        inventory_sync.KeySchema("om"), [(1, 5, 1, ts), (2, 0, 0, ts), (33, -1, 1, ts)]
    )
    assert (written, deleted) == (2, 1)
    assert payload == (
        b"*5\r\n$4\r\nMSET\r\n$10\r\nom:stock:1\r\n$1\r\n5\r\n$11\r\nom:stock:33\r\n$2\r\n-1\r\n"
        b"*2\r\n$3\r\nDEL\r\n$10\r\nom:stock:2\r\n"
    )
    # The pooled connection stays usable after the raw pipelined writes.
    assert env.redis.ping()


def test_pack_batch_matches_redis_py_encoding() -> None:
    """The hand-written RESP equals what redis-py's own packer sends, edge values included."""
    ts = dt.datetime(2025, 1, 1)
    ids = [1, 9, 10, 99_999, 2**63 - 1, 10**30]
    stocks = [0, 1, 9_999, 10_000, 123_456_789, -1, -10_000]
    batch = [
        (pid, stocks[i % len(stocks)], int(i % 5 != 3), ts)
        for i, pid in enumerate(ids * 3 + list(range(100, 140)))
    ]
    keys = inventory_sync.KeySchema("openmarket")
    payload, written, deleted = inventory_sync.pack_batch(keys, batch)
    mset = [arg for pid, st, active, _ in batch if active for arg in (keys.stock(pid), str(st))]
    dels = [keys.stock(pid) for pid, _, active, _ in batch if not active]
    packer = redis.Connection()  # packs commands; never connects
    expected = b"".join(packer.pack_command("MSET", *mset) + packer.pack_command("DEL", *dels))
    assert payload == expected
    assert (written, deleted) == (len(mset) // 2, len(dels))


def test_hot_products(env: SimpleNamespace) -> None:
    now = dt.datetime(2025, 3, 10, 12, 0, 0)
    old = now - dt.timedelta(days=30)
    add_products(
        env, [(1, 1, 1, old), (2, 1, 1, old), (3, 1, 1, old), (4, 1, 0, old), (5, 1, 1, old)]
    )
    orders = [
        # id, status, created_at, [(product, qty)]
        (1, "PAID", now - dt.timedelta(hours=1), [(1, 2), (2, 5)]),
        (2, "DELIVERED", now - dt.timedelta(hours=24), [(3, 5)]),  # window start: included
        (3, "SHIPPED", now - dt.timedelta(hours=24) - MS, [(1, 100)]),  # just outside
        (4, "CANCELLED", now - dt.timedelta(hours=2), [(5, 50)]),  # not sold
        (5, "PENDING", now - dt.timedelta(hours=2), [(5, 50)]),  # not sold
        (6, "PAID", now - dt.timedelta(hours=3), [(4, 80)]),  # delisted product
        (7, "PAID", now - MS, [(1, 1), (5, 2)]),
        (8, "PAID", now, [(5, 40)]),  # window end is exclusive
    ]
    with env.conn.cursor() as cur:
        for oid, status, created, items in orders:
            cur.execute(
                "INSERT INTO orders (id, user_id, status, total, created_at)"
                " VALUES (%s, 1, %s, 0, %s)",
                (oid, status, created),
            )
            cur.executemany(
                "INSERT INTO order_items (order_id, product_id, quantity, unit_price)"
                " VALUES (%s, %s, %s, 1)",
                [(oid, pid, qty) for pid, qty in items],
            )
    settings = inventory_sync.SyncSettings.from_env(
        {
            "DB_SECRET_ARN": "x",
            "REDIS_HOST": "x",
            "REDIS_SECRET_ARN": "x",
            "REDIS_KEY_PREFIX": env.prefix,
            **CONSTRUCT_ENV,
            "HOT_PRODUCTS_N": "3",
        }
    )

    result = inventory_sync.run_sync(env.conn, env.redis, settings, now=now)

    assert result.hot_products == 3
    doc = json.loads(env.redis.get(f"{env.prefix}:hot-products"))
    # units: product 2 → 5, product 3 → 5 (tie: lower id first), product 1 → 3, product 5 → 2
    assert [(p["productId"], p["unitsSold"]) for p in doc["products"]] == [(2, 5), (3, 5), (1, 3)]
    assert doc["products"][0] == {
        "rank": 1,
        "productId": 2,
        "unitsSold": 5,
        "name": "Product 2",
        "price": "2000.00",
        "sellerId": 20,
    }
    assert (doc["windowStart"], doc["windowEnd"], doc["windowHours"]) == (
        "2025-03-09T12:00:00.000000Z",
        "2025-03-10T12:00:00.000000Z",
        24,
    )
    assert 7000 < env.redis.ttl(f"{env.prefix}:hot-products") <= 7200


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"REDIS_HOST": ""}, "REDIS_HOST is required"),
        ({"DB_SECRET_ARN": ""}, "DB_SECRET_ARN is required"),
        ({"SYNC_BATCH_SIZE": "0"}, "SYNC_BATCH_SIZE must be between 1 and 100000"),
        ({"SYNC_OVERLAP_SECONDS": "five"}, "SYNC_OVERLAP_SECONDS must be an integer"),
        ({"REDIS_TLS": "maybe"}, "REDIS_TLS must be 'required' or 'disabled'"),
        ({"REDIS_SSL_CA": "/nonexistent/ca.pem"}, "REDIS_SSL_CA file not found"),
        ({"REDIS_KEY_PREFIX": "bad prefix"}, "REDIS_KEY_PREFIX has invalid characters"),
    ],
)
def test_bad_configuration_is_reported_clearly(
    env: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, changes: dict[str, str], message: str
) -> None:
    for name, value in changes.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(inventory_sync.SyncConfigError, match=message):
        index.handler({}, CONTEXT)


def test_bad_input_and_secrets(env: SimpleNamespace) -> None:
    with pytest.raises(inventory_sync.SyncConfigError, match="fullResync must be true or false"):
        index.handler({"fullResync": "yes"}, CONTEXT)
    env.sm.put_secret_value(SecretId=env.redis_arn, SecretString='{"username": "default"}')
    with pytest.raises(inventory_sync.SyncConfigError, match="no password"):
        index.handler({}, CONTEXT)
    env.sm.put_secret_value(SecretId=env.redis_arn, SecretString="wrong-password")
    with pytest.raises(redis.exceptions.AuthenticationError):
        index.handler({}, CONTEXT)
    assert watermark(env) is None


def test_redis_error_mid_sync_fails_without_advancing_watermark(env: SimpleNamespace) -> None:
    seed_catalog(env)
    env.redis.config_set("maxmemory", "1")  # every write now fails with OOM (noeviction)
    try:
        with pytest.raises(redis.exceptions.ResponseError, match="maxmemory"):
            index.handler({}, CONTEXT)
    finally:
        env.redis.config_set("maxmemory", "0")
    assert watermark(env) is None
    result = index.handler({}, CONTEXT)  # the next run recovers with a full resync
    assert (result["mode"], result["written"]) == ("full", 4)
