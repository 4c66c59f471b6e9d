"""Benchmark: report-generator over 1,000,000 orders in one KST day.

What it does, in one run:
1. starts a private MariaDB (bench/.work/report_generator, loopback port, removed afterwards
   unless --keep), applies functions/report-generator/migrations/001_orders.sql;
2. loads a small day (100k orders) and a big day (1M orders) with ~2.5 items per order,
   generated server-side from MariaDB's SEQUENCE engine (INSERT ... SELECT, no client round
   trips);
3. baseline: `SELECT COUNT(*)` over the same UTC range as the report (median of N);
4. runs the real Lambda handler (index.handler, moto for S3 + Secrets Manager) in a fresh
   child process per run, recording wall time of the handler call and peak RSS;
5. writes bench/report_generator/RESULTS.md.

Usage: .venv/bin/python bench/report_generator/bench_report.py [--orders 1000000]
       [--small-orders 100000] [--repeat 3] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pymysql

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = ROOT / "functions" / "report-generator"
MIGRATION = FUNCTION_DIR / "migrations" / "001_orders.sql"
WORK = ROOT / "bench" / ".work" / "report_generator"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TARGET_SECONDS = 5.0
BIG_DAY = dt.date(2025, 3, 15)
SMALL_DAY = dt.date(2025, 3, 14)
PRODUCTS = 20_000
SELLERS = 500
DB_NAME = "openmarket"
KST = dt.timezone(dt.timedelta(hours=9))


# ---------------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _which(name: str, package: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if not path:
        sys.exit(f"{name} not found: install the Debian package {package}")
    return path


class MariaDB:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.sock = workdir / "mysqld.sock"
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        subprocess.run(
            [
                _which("mariadb-install-db", "mariadb-server"),
                "--no-defaults",
                f"--datadir={self.workdir / 'data'}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            check=True,
            capture_output=True,
        )
        # Buffer pool sized like Aurora's default on db.t3.medium (3/4 of 4 GiB ≈ 3 GiB is the
        # real figure; 1 GiB holds this data set). Durability knobs off: load speed only.
        self.proc = subprocess.Popen(
            [
                _which("mariadbd", "mariadb-server"),
                "--no-defaults",
                f"--datadir={self.workdir / 'data'}",
                f"--socket={self.sock}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--user=root",
                f"--log-error={self.workdir / 'mariadbd.log'}",
                f"--pid-file={self.workdir / 'mariadbd.pid'}",
                "--skip-log-bin",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=1G",
                "--innodb-log-file-size=512M",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--max-heap-table-size=256M",
                "--tmp-table-size=256M",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.admin().close()
                return
            except pymysql.err.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.workdir / "mariadbd.log").read_text(errors="replace")
                    sys.exit(f"mariadbd did not start:\n{log[-3000:]}")
                time.sleep(0.1)

    def admin(self, database: str | None = None) -> pymysql.Connection[Any]:
        return pymysql.connect(
            unix_socket=str(self.sock), user="root", database=database, autocommit=True
        )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ------------------------------------------------------------------------------------ data


def _apply_migration(conn: pymysql.Connection[Any]) -> None:
    sql = "\n".join(
        line for line in MIGRATION.read_text().splitlines() if not line.lstrip().startswith("--")
    )
    with conn.cursor() as cur:
        for statement in sql.split(";"):
            if statement.strip():
                cur.execute(statement)


def _load_day(conn: pymysql.Connection[Any], day: dt.date, orders: int, first_id: int) -> float:
    """Insert `orders` orders (ids first_id..) spread evenly over the KST `day`, with items.

    Items: 1-4 per order (avg 2.5), distinct products per order, quantity 1-3. Orders' totals
    equal their items' sum. Statuses: 70% DELIVERED, 10% SHIPPED, 10% PAID, 6% CANCELLED,
    2% REFUNDED, 2% PENDING. Everything is a deterministic function of the order id.
    """
    start_utc = dt.datetime.combine(day, dt.time(0), KST).astimezone(dt.UTC).replace(tzinfo=None)
    last_id = first_id + orders - 1
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO order_items (order_id, product_id, quantity, unit_price)
            SELECT o.seq,
                   ((o.seq * 7919 + k.seq * 4729) % {PRODUCTS}) + 1,
                   1 + (o.seq + k.seq) % 3,
                   p.price
            FROM seq_{first_id}_to_{last_id} o
            JOIN seq_1_to_4 k ON k.seq <= 1 + (o.seq * 13) % 4
            JOIN products p ON p.id = ((o.seq * 7919 + k.seq * 4729) % {PRODUCTS}) + 1
            ORDER BY o.seq, k.seq
            """
        )
        cur.execute(
            f"""
            INSERT INTO orders (id, user_id, status, total, currency, created_at, updated_at)
            SELECT t.order_id,
                   1 + (t.order_id * 31) %% 10000,
                   ELT(1 + (t.order_id * 17) %% 50,
                       'DELIVERED','DELIVERED','DELIVERED','DELIVERED','DELIVERED','DELIVERED',
                       'DELIVERED','DELIVERED','DELIVERED','DELIVERED','DELIVERED','DELIVERED',
                       'DELIVERED','DELIVERED','DELIVERED','DELIVERED','DELIVERED','DELIVERED',
                       'DELIVERED','DELIVERED','DELIVERED','DELIVERED','DELIVERED','DELIVERED',
                       'DELIVERED','DELIVERED','DELIVERED','DELIVERED','DELIVERED','DELIVERED',
                       'DELIVERED','DELIVERED','DELIVERED','DELIVERED','DELIVERED',
                       'SHIPPED','SHIPPED','SHIPPED','SHIPPED','SHIPPED',
                       'PAID','PAID','PAID','PAID','PAID',
                       'CANCELLED','CANCELLED','CANCELLED','REFUNDED','PENDING'),
                   t.total,
                   'KRW',
                   TIMESTAMPADD(MICROSECOND,
                       FLOOR((t.order_id - {first_id}) * 86400000000 / {orders}),
                       %s) AS created_at,
                   %s
            FROM (
                SELECT order_id, SUM(quantity * unit_price) AS total
                FROM order_items
                WHERE order_id BETWEEN {first_id} AND {last_id}
                GROUP BY order_id
            ) t
            ORDER BY t.order_id
            """,
            (start_utc, start_utc),
        )
    return time.perf_counter() - t0


def load_data(server: MariaDB, big: int, small: int) -> dict[str, float]:
    with server.admin() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4")
    with server.admin(DB_NAME) as conn:
        _apply_migration(conn)
        with conn.cursor() as cur:
            cur.execute(
                f"""
                INSERT INTO products (id, seller_id, name, price, stock)
                SELECT seq, 1 + (seq * 7) % {SELLERS}, CONCAT('Product ', seq),
                       1000 + (seq * 37 % 500) * 100, seq % 1000
                FROM seq_1_to_{PRODUCTS}
                """
            )
        timings = {
            "small_day_load_s": _load_day(conn, SMALL_DAY, small, 1),
            "big_day_load_s": _load_day(conn, BIG_DAY, big, small + 1),
        }
        with conn.cursor() as cur:
            cur.execute("ANALYZE TABLE products, orders, order_items")
            cur.fetchall()
    return timings


# ----------------------------------------------------------------------------- measurement


def count_baseline(server: MariaDB, day: dt.date, repeat: int) -> tuple[float, int]:
    start = dt.datetime.combine(day, dt.time(0), KST).astimezone(dt.UTC).replace(tzinfo=None)
    end = start + dt.timedelta(days=1)
    times = []
    count = 0
    conn = pymysql.connect(
        host="127.0.0.1",
        port=server.port,
        user="bench",
        password=server_password,
        database=DB_NAME,
    )
    with conn, conn.cursor() as cur:
        for _ in range(repeat):
            t0 = time.perf_counter()
            cur.execute(
                "SELECT COUNT(*) FROM orders WHERE created_at >= %s AND created_at < %s",
                (start, end),
            )
            count = int(cur.fetchone()[0])
            times.append(time.perf_counter() - t0)
    return statistics.median(times), count


def run_child(server: MariaDB, day: dt.date, mode: str) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(
        {
            "BENCH_DB_PORT": str(server.port),
            "BENCH_DB_PASSWORD": server_password,
            "BENCH_DAY": day.isoformat(),
            "BENCH_MODE": mode,
        }
    )
    out = subprocess.run(
        [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        sys.exit(f"child failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def child_main() -> None:
    """Runs in a fresh process: the real handler against the bench database."""
    import moto

    sys.path.insert(0, str(FUNCTION_DIR))
    import importlib.util

    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "ap-northeast-2",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    spec = importlib.util.spec_from_file_location(
        "report_generator_bench_index", FUNCTION_DIR / "index.py"
    )
    assert spec and spec.loader
    index = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(index)
    import boto3

    day = dt.date.fromisoformat(os.environ["BENCH_DAY"])
    with moto.mock_aws():
        sm = boto3.client("secretsmanager")
        arn = sm.create_secret(
            Name="bench-db",
            SecretString=json.dumps(
                {
                    "username": "bench",
                    "password": os.environ["BENCH_DB_PASSWORD"],
                    "host": "127.0.0.1",
                    "port": int(os.environ["BENCH_DB_PORT"]),
                    "dbname": DB_NAME,
                }
            ),
        )["ARN"]
        boto3.client("s3").create_bucket(
            Bucket="bench-reports",
            CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"},
        )
        os.environ.update(
            {"REPORTS_BUCKET": "bench-reports", "DB_SECRET_ARN": arn, "DB_TLS": "disabled"}
        )
        midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0, 5), KST)
        setattr(index, "clock", lambda: midnight)  # noqa: B010

        class Ctx:
            function_name = "report-generator"
            memory_limit_in_mb = 1024
            invoked_function_arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:bench"
            aws_request_id = "bench"

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        result: dict[str, Any] = {}
        if os.environ["BENCH_MODE"] == "report":
            result = index.handler({}, Ctx())
        elapsed = time.perf_counter() - t0
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "elapsed_s": elapsed,
                "rss_before_kb": rss_before,
                "peak_rss_kb": rss_after,
                "order_count": result.get("orderCount"),
            }
        )
    )


server_password = secrets.token_urlsafe(18)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--small-orders", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the MariaDB data directory")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main()
        return

    server = MariaDB(WORK)
    t0 = time.perf_counter()
    server.start()
    try:
        with server.admin() as conn, conn.cursor() as cur:
            cur.execute("CREATE USER 'bench'@'%%' IDENTIFIED BY %s", (server_password,))
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'bench'@'%'")
        print(f"MariaDB up in {time.perf_counter() - t0:.1f}s; loading data ...", flush=True)
        load = load_data(server, args.orders, args.small_orders)
        print(f"loaded: {load}", flush=True)

        rows: dict[str, dict[str, Any]] = {}
        for label, day, expected in (
            ("small", SMALL_DAY, args.small_orders),
            ("big", BIG_DAY, args.orders),
        ):
            baseline_s, counted = count_baseline(server, day, args.repeat)
            assert counted == expected, (counted, expected)
            idle = run_child(server, day, "idle")
            runs = [run_child(server, day, "report") for _ in range(args.repeat)]
            rows[label] = {
                "day": day.isoformat(),
                "orders_in_range": counted,
                "counted_orders": runs[0]["order_count"],
                "baseline_count_s": baseline_s,
                "report_s": statistics.median(r["elapsed_s"] for r in runs),
                "report_runs_s": [round(r["elapsed_s"], 3) for r in runs],
                "idle_peak_rss_mb": idle["peak_rss_kb"] / 1024,
                "report_peak_rss_mb": max(r["peak_rss_kb"] for r in runs) / 1024,
                "rss_before_mb": max(r["rss_before_kb"] for r in runs) / 1024,
            }
            print(label, json.dumps(rows[label]), flush=True)
        write_results(args, load, rows)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(WORK, ignore_errors=True)


def write_results(args: argparse.Namespace, load: dict[str, float], rows: dict[str, Any]) -> None:
    big, small = rows["big"], rows["small"]
    growth_mb = big["report_peak_rss_mb"] - small["report_peak_rss_mb"]
    flat = growth_mb <= 10.0
    fast = big["report_s"] <= TARGET_SECONDS
    ratio = big["report_s"] / big["baseline_count_s"]
    cmd = ".venv/bin/python bench/report_generator/bench_report.py"
    if args.orders != 1_000_000 or args.small_orders != 100_000 or args.repeat != 3:
        cmd += f" --orders {args.orders} --small-orders {args.small_orders} --repeat {args.repeat}"
    cpu = platform.processor() or platform.machine()
    lines = [
        "# report-generator benchmark",
        "",
        f"Run: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU ({cpu}), "
        f"Python {platform.python_version()}, MariaDB started by the script "
        "(buffer pool 1 GiB, warm after load).",
        f"Data: {PRODUCTS:,} products, {SELLERS} sellers; small day {SMALL_DAY} with "
        f"{args.small_orders:,} orders, big day {BIG_DAY} with {args.orders:,} orders; "
        "~2.5 items per order; 90% of orders in counted statuses.",
        f"Load time: small day {load['small_day_load_s']:.1f}s, "
        f"big day {load['big_day_load_s']:.1f}s (INSERT ... SELECT from the SEQUENCE engine).",
        "",
        "Report time = the real `index.handler` call (Secrets Manager + S3 via moto, MariaDB over "
        "TCP), median of "
        f"{args.repeat} runs, each in a fresh child process. Baseline = `SELECT COUNT(*) FROM "
        "orders WHERE created_at >= ? AND created_at < ?` over the same UTC range, same server, "
        "same run (median).",
        "",
        "| metric | target | measured | pass/fail |",
        "|---|---|---|---|",
        f"| report time, {args.orders:,} orders | ≤ {TARGET_SECONDS:.0f} s | "
        f"{big['report_s']:.2f} s (runs {big['report_runs_s']}) | "
        f"{'pass' if fast else 'fail'} |",
        f"| baseline `COUNT(*)`, same range | — | {big['baseline_count_s']:.3f} s | — |",
        f"| report / baseline ratio | — | {ratio:.1f}x | — |",
        f"| report time, {args.small_orders:,} orders | — | {small['report_s']:.2f} s "
        f"(baseline {small['baseline_count_s']:.3f} s) | — |",
        f"| peak RSS of the report process, {args.small_orders:,} → {args.orders:,} orders | "
        f"flat (growth ≤ 10 MB) | {small['report_peak_rss_mb']:.1f} MB → "
        f"{big['report_peak_rss_mb']:.1f} MB ({growth_mb:+.1f} MB) | "
        f"{'pass' if flat else 'fail'} |",
        f"| peak RSS of an idle child (imports + moto, no report) | — | "
        f"{big['idle_peak_rss_mb']:.1f} MB | — |",
        "",
        f"Counted orders: small day {small['counted_orders']:,} of "
        f"{small['orders_in_range']:,}, big day {big['counted_orders']:,} of "
        f"{big['orders_in_range']:,}.",
        "",
        f"Reproduce: `{cmd}` (from the repository root; needs mariadb-server; ~1 min on 2 cores).",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
