"""Hourly inventory sync: product stock and the hot-products list from Aurora into Redis.

Stock: rows of `products` changed since the watermark (`updated_at >= watermark - overlap`)
are streamed from the Aurora reader with an unbuffered cursor (`SSCursor`) and written to
Redis in batches: one MSET per batch for listed products plus one DEL for delisted ones
(`is_active = 0`), sent together as a non-transactional pipeline. Writes are idempotent, so
re-reading the overlap window (late commits, replica lag, same-millisecond updates) is safe.

The watermark is the newest `updated_at` that was synced, capped at the database clock (a row
stamped in the future cannot push it ahead). It lives in Redis with a TTL set by each full
resync and kept (`KEEPTTL`) by incremental runs, so a full resync happens when the watermark
is missing: first run, after a cache flush or failover to an empty node, and at least once
every FULL_RESYNC_INTERVAL_HOURS.

Hot products: the top N products by units sold in the last 24 hours (orders in PAID, SHIPPED
or DELIVERED, listed products only), aggregated in MySQL and stored as one JSON value.
The key schema is documented in README.md.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import ssl
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

import pymysql
import pymysql.cursors
import redis

# Orders that count as sold (same rule as report-generator's daily report).
SOLD_STATUSES: tuple[str, ...] = ("PAID", "SHIPPED", "DELIVERED")
_FUNCTION_DIR = Path(__file__).resolve().parent
# The functions' metrics namespace, set by the construct (openmarket_cdk/config/facts.py).
METRICS_NAMESPACE_ENV: Final = "POWERTOOLS_METRICS_NAMESPACE"
_PREFIX_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_\-.]*")


class SyncConfigError(RuntimeError):
    """The function's environment or secrets are incomplete or invalid."""


# --------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncSettings:
    """Configuration from environment variables (documented in README.md)."""

    db_secret_arn: str
    redis_host: str
    redis_secret_arn: str
    db_host: str | None = None
    db_port: int | None = None
    db_name: str | None = None
    db_user: str | None = None
    db_tls: bool = True
    db_ssl_ca: str | None = None
    redis_port: int = 6379
    redis_tls: bool = True
    redis_ssl_ca: str | None = None
    key_prefix: str = "openmarket"
    batch_size: int = 1000
    overlap_seconds: int = 300
    full_resync_interval_hours: int = 24
    hot_products_n: int = 20
    hot_window_hours: int = 24
    hot_ttl_seconds: int = 7200

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SyncSettings:
        def optional(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def required(name: str) -> str:
            value = optional(name)
            if value is None:
                raise SyncConfigError(f"environment variable {name} is required")
            return value

        def integer(name: str, default: int, low: int, high: int) -> int:
            raw = optional(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError as exc:
                raise SyncConfigError(f"{name} must be an integer, got {raw!r}") from exc
            if not low <= value <= high:
                raise SyncConfigError(f"{name} must be between {low} and {high}, got {value}")
            return value

        def tls(name: str) -> bool:
            value = (optional(name) or "required").lower()
            if value not in ("required", "disabled"):
                raise SyncConfigError(f"{name} must be 'required' or 'disabled', got {value!r}")
            return value == "required"

        # Powertools' Metrics reads it itself; checked here so a missing one fails at cold
        # start with its name, not at the first flush after the work is done.
        required(METRICS_NAMESPACE_ENV)
        prefix = optional("REDIS_KEY_PREFIX") or "openmarket"
        if not _PREFIX_RE.fullmatch(prefix):
            raise SyncConfigError(f"REDIS_KEY_PREFIX has invalid characters: {prefix!r}")
        return cls(
            db_secret_arn=required("DB_SECRET_ARN"),
            redis_host=required("REDIS_HOST"),
            redis_secret_arn=required("REDIS_SECRET_ARN"),
            db_host=optional("DB_HOST"),
            db_port=integer("DB_PORT", 3306, 1, 65535) if optional("DB_PORT") else None,
            db_name=optional("DB_NAME"),
            db_user=optional("DB_USER"),
            db_tls=tls("DB_TLS"),
            db_ssl_ca=optional("DB_SSL_CA"),
            redis_port=integer("REDIS_PORT", 6379, 1, 65535),
            redis_tls=tls("REDIS_TLS"),
            redis_ssl_ca=optional("REDIS_SSL_CA"),
            key_prefix=prefix,
            batch_size=integer("SYNC_BATCH_SIZE", 1000, 1, 100_000),
            overlap_seconds=integer("SYNC_OVERLAP_SECONDS", 300, 0, 86_400),
            full_resync_interval_hours=integer("FULL_RESYNC_INTERVAL_HOURS", 24, 1, 24 * 30),
            hot_products_n=integer("HOT_PRODUCTS_N", 20, 1, 1000),
            hot_window_hours=integer("HOT_PRODUCTS_WINDOW_HOURS", 24, 1, 24 * 30),
            hot_ttl_seconds=integer("HOT_PRODUCTS_TTL_SECONDS", 7200, 60, 7 * 86_400),
        )


def _resolve_ca(path: str, env_name: str) -> str:
    ca = Path(path)
    if not ca.is_absolute():
        ca = _FUNCTION_DIR / ca
    if not ca.is_file():
        raise SyncConfigError(f"{env_name} file not found: {ca}")
    return str(ca)


def db_connection_kwargs(settings: SyncSettings, secret_string: str) -> dict[str, Any]:
    """pymysql.connect() arguments from the environment and the RDS-generated JSON secret."""
    try:
        secret = json.loads(secret_string)
    except ValueError as exc:
        raise SyncConfigError("the database secret is not valid JSON") from exc
    if not isinstance(secret, dict) or not isinstance(secret.get("password"), str):
        raise SyncConfigError("the database secret must be a JSON object with a 'password'")
    host = settings.db_host or secret.get("host")
    user = settings.db_user or secret.get("username")
    database = settings.db_name or secret.get("dbname")
    try:
        port = settings.db_port or int(secret.get("port") or 3306)
    except (TypeError, ValueError) as exc:
        raise SyncConfigError("the database secret's 'port' is not an integer") from exc
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
        raise SyncConfigError(f"database settings missing: {', '.join(missing)}")
    context: ssl.SSLContext | None = None
    if settings.db_tls:
        if settings.db_ssl_ca:
            # Verifies the chain (e.g. the RDS global bundle) and the host name.
            context = ssl.create_default_context(
                cafile=_resolve_ca(settings.db_ssl_ca, "DB_SSL_CA")
            )
            context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        else:
            # Encrypted, not authenticated (the RDS CA is not in the system trust store).
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    return {
        "host": host,
        "port": port,
        "user": user,
        "password": secret["password"],
        "database": database,
        "ssl": context,
        "ssl_disabled": not settings.db_tls,
        "connect_timeout": 10,
        "read_timeout": 100,
        "charset": "utf8mb4",
        "autocommit": True,
        "init_command": "SET time_zone = '+00:00'",
    }


def redis_connection_kwargs(settings: SyncSettings, secret_string: str) -> dict[str, Any]:
    """redis.Redis() arguments. The secret is the AUTH token as plain text, or JSON with
    `password` (and optionally `username` for Redis ACL users)."""
    username: str | None = None
    password: str | None = secret_string.strip()
    if secret_string.lstrip().startswith("{"):
        try:
            data = json.loads(secret_string)
        except ValueError as exc:
            raise SyncConfigError("the Redis secret looks like JSON but does not parse") from exc
        password = data.get("password") or data.get("authToken")
        username = data.get("username")
    if not password or not isinstance(password, str):
        raise SyncConfigError("the Redis secret has no password / AUTH token")
    kwargs: dict[str, Any] = {
        "host": settings.redis_host,
        "port": settings.redis_port,
        "username": username,
        "password": password,
        "socket_timeout": 30,
        "socket_connect_timeout": 10,
    }
    if settings.redis_tls:
        kwargs.update(
            ssl=True,
            ssl_cert_reqs="required",
            ssl_check_hostname=True,
            # None: the system trust store (ElastiCache certificates are publicly trusted).
            ssl_ca_certs=(
                _resolve_ca(settings.redis_ssl_ca, "REDIS_SSL_CA")
                if settings.redis_ssl_ca
                else None
            ),
        )
    return kwargs


# --------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeySchema:
    prefix: str = "openmarket"

    def stock(self, product_id: int) -> bytes:
        return b"%s:stock:%d" % (self.prefix.encode(), product_id)

    @property
    def stock_prefix(self) -> bytes:
        return f"{self.prefix}:stock:".encode()

    @property
    def hot_products(self) -> str:
        return f"{self.prefix}:hot-products"

    @property
    def watermark(self) -> str:
        return f"{self.prefix}:sync:watermark"

    @property
    def last_run(self) -> str:
        return f"{self.prefix}:sync:last-run"


# --------------------------------------------------------------------------------------
# Watermark
# --------------------------------------------------------------------------------------


def format_watermark(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_watermark(raw: bytes | str | None) -> dt.datetime | None:
    """Naive UTC datetime, or None when missing or unreadable (→ full resync)."""
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return None


# --------------------------------------------------------------------------------------
# Stock sync
# --------------------------------------------------------------------------------------


@dataclass
class StockSyncResult:
    rows: int = 0
    written: int = 0
    deleted: int = 0
    batches: int = 0
    max_updated_at: dt.datetime | None = None


# RESP bulk strings of the stock values nearly every product has ("$2\r\n42\r\n"), built once:
# one tuple lookup per key instead of str(), len() and formatting.
_CACHED_STOCK_VALUES: Final = 10_000
# Batches sent before the oldest reply is read. More than two lets the client keep encoding while
# the server is descheduled and the server keep applying while the client is (the cores are
# shared): a window of a few hundred KB, bounded by the socket buffers; replies are one per batch.
BATCHES_IN_FLIGHT = 4
_STOCK_VALUES: Final = tuple(f"${len(str(v))}\r\n{v}\r\n" for v in range(_CACHED_STOCK_VALUES))


@functools.lru_cache(maxsize=8)
def _key_heads(prefix: str) -> tuple[str, ...]:
    """``$<key length>\r\n<prefix>`` for product ids of 0..24 characters, indexed by that length."""
    return tuple(f"${len(prefix) + digits}\r\n{prefix}" for digits in range(25))


def _bulk(value: object) -> str:
    text = str(value)
    return f"${len(text)}\r\n{text}\r\n"


def pack_batch(keys: KeySchema, batch: list[tuple[Any, ...]]) -> tuple[bytes, int, int]:
    """RESP for one batch: MSET of listed products' stock, DEL of delisted products' keys.

    Encoded here rather than through redis-py's generic command packer, whose per-argument
    work is the bottleneck (bench/data_sync/RESULTS.md): per key, one f-string from a cached
    key header (by id length) and a cached value encoding (stock 0..9999). Everything is ASCII
    (the key prefix is validated, ids and stock are integers), so string length equals byte
    length. Returns the payload and the number of keys set and deleted.
    """
    prefix = keys.stock_prefix.decode()
    heads = _key_heads(prefix)
    values = _STOCK_VALUES
    sets: list[str] = []
    dels: list[str] = []
    for product_id, stock, is_active, _updated_at in batch:
        pid = str(product_id)
        if len(pid) < len(heads):
            head = heads[len(pid)]
        else:  # more digits than any 64-bit id has
            head = f"${len(prefix) + len(pid)}\r\n{prefix}"
        if is_active:
            value = values[stock] if 0 <= stock < _CACHED_STOCK_VALUES else _bulk(stock)
            sets.append(f"{head}{pid}\r\n{value}")
        else:
            dels.append(f"{head}{pid}\r\n")
    mset = f"*{1 + 2 * len(sets)}\r\n$4\r\nMSET\r\n" if sets else ""
    delete = f"*{1 + len(dels)}\r\n$3\r\nDEL\r\n" + "".join(dels) if dels else ""
    return (mset + "".join(sets) + delete).encode("ascii"), len(sets), len(dels)


def write_stock(
    client: redis.Redis, keys: KeySchema, rows: Iterable[tuple[Any, ...]], batch_size: int
) -> StockSyncResult:
    """Write `(product_id, stock, is_active, updated_at)` rows in pipelined batches.

    Each batch (MSET + DEL) goes out as one non-transactional pipeline write. The replies of
    batch i are read only once BATCHES_IN_FLIGHT batches have been sent, so encoding the next
    batches overlaps with the server applying earlier ones, and a moment either side loses its
    core does not stall the other.
    """
    result = StockSyncResult()
    iterator = iter(rows)
    pending: deque[int] = deque()  # replies still to read, per batch in flight
    # The pooled connection is used directly to send pre-encoded commands (untyped in redis-py).
    conn: Any = client.connection_pool.get_connection()
    try:
        while batch := list(islice(iterator, batch_size)):
            payload, written, deleted = pack_batch(keys, batch)
            conn.send_packed_command([payload], check_health=not pending)
            pending.append((1 if written else 0) + (1 if deleted else 0))
            if len(pending) >= BATCHES_IN_FLIGHT:
                for _ in range(pending.popleft()):
                    conn.read_response()  # raises redis.ResponseError on an error reply
            result.rows += len(batch)
            result.written += written
            result.deleted += deleted
            result.batches += 1
            batch_max = max(map(itemgetter(3), batch))
            if result.max_updated_at is None or batch_max > result.max_updated_at:
                result.max_updated_at = batch_max
        while pending:
            for _ in range(pending.popleft()):
                conn.read_response()
    except BaseException:
        # Replies may be left unread: never hand this connection back in that state.
        conn.disconnect()
        raise
    finally:
        client.connection_pool.release(conn)
    return result


_STOCK_SQL_FULL = "SELECT id, stock, is_active, updated_at FROM products"
_STOCK_SQL_SINCE = "SELECT id, stock, is_active, updated_at FROM products WHERE updated_at >= %s"


def _stream(
    conn: pymysql.connections.Connection, sql: str, params: tuple[Any, ...] = ()
) -> Iterator[tuple[Any, ...]]:
    with conn.cursor(pymysql.cursors.SSCursor) as cur:
        cur.execute(sql, params)
        yield from cur


def db_now(conn: pymysql.connections.Connection) -> dt.datetime:
    """The database clock (naive UTC, millisecond precision)."""
    with conn.cursor() as cur:
        cur.execute("SELECT UTC_TIMESTAMP(3)")
        row = cur.fetchone()
    assert row is not None
    value: dt.datetime = row[0]
    return value


# --------------------------------------------------------------------------------------
# Hot products
# --------------------------------------------------------------------------------------

# Aggregated in MySQL; only the N result rows reach the function. Delisted products are
# filtered before the LIMIT so the list still has N entries when some are delisted.
_HOT_SQL = """
SELECT h.product_id, h.units, p.name, p.price, p.seller_id
FROM (
    SELECT oi.product_id, SUM(oi.quantity) AS units
    FROM orders o
    JOIN order_items oi ON oi.order_id = o.id
    JOIN products ap ON ap.id = oi.product_id AND ap.is_active = 1
    WHERE o.created_at >= %s AND o.created_at < %s AND o.status IN ({statuses})
    GROUP BY oi.product_id
    ORDER BY units DESC, oi.product_id ASC
    LIMIT %s
) h
JOIN products p ON p.id = h.product_id
ORDER BY h.units DESC, h.product_id ASC
"""


@dataclass(frozen=True)
class HotProduct:
    product_id: int
    units_sold: int
    name: str
    price: str
    seller_id: int


def query_hot_products(
    conn: pymysql.connections.Connection, now: dt.datetime, window_hours: int, limit: int
) -> list[HotProduct]:
    start = now - dt.timedelta(hours=window_hours)
    sql = _HOT_SQL.format(statuses=", ".join(["%s"] * len(SOLD_STATUSES)))
    return [
        HotProduct(
            product_id=int(pid),
            units_sold=int(units),
            name=str(name),
            price=str(Decimal(price).quantize(Decimal("0.01"))),
            seller_id=int(seller_id),
        )
        for pid, units, name, price, seller_id in _stream(
            conn, sql, (start, now, *SOLD_STATUSES, limit)
        )
    ]


def hot_products_document(
    products: list[HotProduct], now: dt.datetime, window_hours: int
) -> dict[str, Any]:
    return {
        "generatedAt": format_watermark(now),
        "windowStart": format_watermark(now - dt.timedelta(hours=window_hours)),
        "windowEnd": format_watermark(now),
        "windowHours": window_hours,
        "products": [
            {
                "rank": rank,
                "productId": p.product_id,
                "unitsSold": p.units_sold,
                "name": p.name,
                "price": p.price,
                "sellerId": p.seller_id,
            }
            for rank, p in enumerate(products, start=1)
        ],
    }


# --------------------------------------------------------------------------------------
# The whole run
# --------------------------------------------------------------------------------------


@dataclass
class SyncResult:
    mode: str  # "full" or "incremental"
    reason: str
    since: str | None
    rows: int
    written: int
    deleted: int
    batches: int
    watermark: str | None
    hot_products: int
    duration_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_sync(
    conn: pymysql.connections.Connection,
    client: redis.Redis,
    settings: SyncSettings,
    *,
    force_full: bool = False,
    now: dt.datetime | None = None,
) -> SyncResult:
    """One sync run. `now` (naive UTC) overrides the database clock (tests)."""
    started = time.perf_counter()
    keys = KeySchema(settings.key_prefix)
    clock = now if now is not None else db_now(conn)

    stored = client.get(keys.watermark)
    watermark = parse_watermark(stored)
    if force_full:
        reason = "requested"
    elif watermark is None:
        reason = "no watermark" if stored is None else "unreadable watermark"
    else:
        reason = "changed rows"
    full = force_full or watermark is None
    since: dt.datetime | None = None
    if full:
        stock = write_stock(client, keys, _stream(conn, _STOCK_SQL_FULL), settings.batch_size)
    else:
        assert watermark is not None
        since = watermark - dt.timedelta(seconds=settings.overlap_seconds)
        stock = write_stock(
            client, keys, _stream(conn, _STOCK_SQL_SINCE, (since,)), settings.batch_size
        )

    # Advance the watermark only after every batch has been written. Capped at the database
    # clock so a row stamped in the future is re-read until its time has come.
    new_watermark = watermark
    if stock.max_updated_at is not None:
        candidate = min(stock.max_updated_at, clock)
        if new_watermark is None or candidate > new_watermark:
            new_watermark = candidate
    if full and new_watermark is not None:
        client.set(
            keys.watermark,
            format_watermark(new_watermark),
            ex=settings.full_resync_interval_hours * 3600,
        )
    elif new_watermark is not None and new_watermark != watermark:
        # XX: if the key expired meanwhile, leave it missing (next run is a full resync).
        client.set(keys.watermark, format_watermark(new_watermark), xx=True, keepttl=True)

    hot = query_hot_products(conn, clock, settings.hot_window_hours, settings.hot_products_n)
    client.set(
        keys.hot_products,
        json.dumps(
            hot_products_document(hot, clock, settings.hot_window_hours),
            ensure_ascii=False,
            separators=(",", ":"),
        ),
        ex=settings.hot_ttl_seconds,
    )

    result = SyncResult(
        mode="full" if full else "incremental",
        reason=reason,
        since=format_watermark(since) if since else None,
        rows=stock.rows,
        written=stock.written,
        deleted=stock.deleted,
        batches=stock.batches,
        watermark=format_watermark(new_watermark) if new_watermark else None,
        hot_products=len(hot),
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    client.set(
        keys.last_run,
        json.dumps({**result.as_dict(), "startedAt": format_watermark(clock)}),
    )
    return result
