"""Benchmark: data-sync's pipelined stock writes vs redis-benchmark on the same server.

One run starts its own redis-server twice (plain TCP, then TLS-only with a throw-away CA),
and on each server measures, side by side:

- baseline: `redis-benchmark -t set -P <batch> -n N -q` (the command in the brief; default
  50 clients; without -r every SET hits the same key) and, for context, the same with
  `-r N` into an empty keyspace (distinct keys, so the server creates keys as in a resync);
- the function: `inventory_sync.write_stock` writing N distinct `…:stock:{id}` keys in batches
  of <batch> (SYNC_BATCH_SIZE), from rows already in memory (the MySQL read is not timed),
  once into an empty keyspace (full resync) and once over existing keys (hourly case);
- for context: the same writes through redis-py's generic pipeline (one SET per key,
  transaction=False), the approach the function's custom encoding replaces.

Each of the `--repeat` rounds runs the baseline and the function back to back (order
alternating), so each round yields a ratio measured under the same machine load; the figure
is the median of those ratios. The server is pinned to core 0 and the client side (redis-benchmark,
or this process while the function writes) to core 1, unless `--no-pin`.

Target: function keys/s ≥ 50% of redis-benchmark's SET requests/s, per transport.
Results: bench/data_sync/RESULTS.md.

Usage: .venv/bin/python bench/data_sync/bench_sync.py [--keys 1000000] [--batch 1000]
       [--repeat 5] [--no-pin]
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import platform
import re
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

import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "functions" / "data-sync"))
import inventory_sync  # noqa: E402

WORK = ROOT / "bench" / ".work" / "data_sync"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TARGET_RATIO = 0.5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _which(name: str) -> str:
    path = shutil.which(name)
    if not path:
        sys.exit(f"{name} not found: install the Debian package redis-server (redis-tools)")
    return path


def make_tls(directory: Path) -> tuple[Path, Path, Path]:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    paths[2].chmod(0o600)
    return paths


def _pinned(command: list[str], core: int | None) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(core), *command] if taskset and core is not None else command


class RedisServer:
    def __init__(
        self,
        workdir: Path,
        tls: bool,
        server_core: int | None = None,
        client_core: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.tls = tls
        self.server_core = server_core
        self.client_core = client_core
        self.port = _free_port()
        self.password = secrets.token_urlsafe(18)
        self.proc: subprocess.Popen[bytes] | None = None
        self.ca: Path | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            "bind 127.0.0.1",
            f"requirepass {self.password}",
            'save ""',
            "appendonly no",
            f"dir {self.workdir}",
            f"logfile {self.workdir / 'redis.log'}",
        ]
        if self.tls:
            self.ca, cert, key = make_tls(self.workdir)
            lines += [
                "port 0",
                f"tls-port {self.port}",
                f"tls-cert-file {cert}",
                f"tls-key-file {key}",
                f"tls-ca-cert-file {self.ca}",
                "tls-auth-clients no",
            ]
        else:
            lines.append(f"port {self.port}")
        conf = self.workdir / "redis.conf"
        conf.write_text("\n".join(lines) + "\n")
        conf.chmod(0o600)
        self.proc = subprocess.Popen(
            _pinned([_which("redis-server"), str(conf)], self.server_core),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.client().ping():
                    return
            except redis.exceptions.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit("redis-server did not start")
                time.sleep(0.05)

    def client(self) -> redis.Redis:
        kwargs: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "password": self.password}
        if self.tls:
            kwargs.update(ssl=True, ssl_ca_certs=str(self.ca), ssl_cert_reqs="required")
        return redis.Redis(**kwargs)

    def benchmark(self, args: list[str]) -> float:
        cmd = [_which("redis-benchmark"), "-h", "127.0.0.1", "-p", str(self.port), *args, "-q"]
        if self.tls:
            cmd += ["--tls", "--cacert", str(self.ca)]
        # redis-benchmark has no password-from-environment option; the password is a
        # throw-away one generated for this loopback-only server.
        cmd += ["-a", self.password]
        out = subprocess.run(
            _pinned(cmd, self.client_core), capture_output=True, text=True, check=True
        ).stdout
        # -q prints progress lines separated by \r, then "SET: <rps> requests per second".
        match = re.findall(r"SET: ([\d.]+) requests per second", out)
        if not match:
            sys.exit(f"cannot parse redis-benchmark output: {out[-500:]!r}")
        return float(match[-1])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


KEYS = inventory_sync.KeySchema()  # the function's default prefix, as in production


def function_rate(
    client: redis.Redis,
    rows: list[tuple[Any, ...]],
    batch: int,
    flush: bool,
    core: int | None = None,
) -> float:
    if flush:
        client.flushall()
    # The function runs on the client core, as redis-benchmark does; the server has the other.
    affinity = os.sched_getaffinity(0)
    if core is not None:
        os.sched_setaffinity(0, {core})
    try:
        t0 = time.perf_counter()
        result = inventory_sync.write_stock(client, KEYS, rows, batch)
        elapsed = time.perf_counter() - t0
    finally:
        os.sched_setaffinity(0, affinity)
    assert result.written == len(rows)
    return len(rows) / elapsed


def redis_py_pipeline_rate(client: redis.Redis, rows: list[tuple[Any, ...]], batch: int) -> float:
    client.flushall()
    t0 = time.perf_counter()
    for start in range(0, len(rows), batch):
        pipe = client.pipeline(transaction=False)
        for product_id, stock, _active, _ts in rows[start : start + batch]:
            pipe.set(KEYS.stock(product_id), stock)
        pipe.execute()
    return len(rows) / (time.perf_counter() - t0)


def measure(server: RedisServer, n: int, batch: int, repeat: int) -> dict[str, Any]:
    """`repeat` rounds; in each, the full resync and the baseline run back to back (their order
    alternating), so each round gives one ratio measured under the same machine load."""
    client = server.client()
    stamp = dt.datetime(2025, 3, 10, 12, 0, 0)
    rows = [(i, i % 1000, 1, stamp) for i in range(1, n + 1)]
    bench_cmd = ["-t", "set", "-P", str(batch), "-n", str(n)]
    out: dict[str, list[float]] = {"bench": [], "bench_r": [], "fn_empty": [], "fn_over": []}
    # Server CPU seconds (INFO cpu) per run: what the server itself spends per key.
    cpu: dict[str, list[float]] = {"bench": [], "fn_empty": [], "fn_over": []}

    def server_cpu() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def timed(name: str, run: Any) -> None:
        before = server_cpu()
        out[name].append(run())
        cpu[name].append(server_cpu() - before)

    def baseline() -> None:
        client.flushall()
        timed("bench", lambda: server.benchmark(bench_cmd))

    def full_resync() -> None:
        core = server.client_core
        client.flushall()
        timed("fn_empty", lambda: function_rate(client, rows, batch, flush=False, core=core))
        timed("fn_over", lambda: function_rate(client, rows, batch, flush=False, core=core))

    for number in range(repeat):
        for step in (baseline, full_resync) if number % 2 == 0 else (full_resync, baseline):
            step()
        client.flushall()
        out["bench_r"].append(server.benchmark([*bench_cmd, "-r", str(n)]))
    naive = redis_py_pipeline_rate(client, rows[: max(n // 5, batch)], batch)
    client.flushall()
    client.close()
    result: dict[str, Any] = {k: statistics.median(v) for k, v in out.items()}
    result["runs"] = out
    result["ratio_empty"] = statistics.median(
        f / b for f, b in zip(out["fn_empty"], out["bench"], strict=True)
    )
    result["ratio_over"] = statistics.median(
        f / b for f, b in zip(out["fn_over"], out["bench"], strict=True)
    )
    result["naive"] = naive
    result["server_us"] = {name: statistics.median(v) * 1e6 / n for name, v in cpu.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the server to core 0 and the clients to core 1",
    )
    args = parser.parse_args()

    results: dict[str, dict[str, Any]] = {}
    shutil.rmtree(WORK, ignore_errors=True)
    try:
        for label, tls in (("plain TCP", False), ("TLS", True)):
            cores = (None, None) if args.no_pin else (0, 1)
            server = RedisServer(WORK / ("tls" if tls else "plain"), tls, *cores)
            server.start()
            try:
                results[label] = measure(server, args.keys, args.batch, args.repeat)
            finally:
                server.stop()
            r = results[label]
            print(
                f"{label}: redis-benchmark {r['bench']:,.0f} req/s, function "
                f"{r['fn_empty']:,.0f} / {r['fn_over']:,.0f} keys/s",
                flush=True,
            )
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    write_results(args, results)


def write_results(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    cmd = ".venv/bin/python bench/data_sync/bench_sync.py"
    if (args.keys, args.batch, args.repeat) != (1_000_000, 1000, 5):
        cmd += f" --keys {args.keys} --batch {args.batch} --repeat {args.repeat}"
    if args.no_pin:
        cmd += " --no-pin"
    server_version = (
        subprocess.run([_which("redis-server"), "--version"], capture_output=True, text=True)
        .stdout.split()[2]
        .removeprefix("v=")
    )
    lines = [
        "# data-sync benchmark",
        "",
        f"Run: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU "
        f"({platform.machine()}), Python {platform.python_version()}, redis-py "
        f"{redis.__version__}, redis-server {server_version} started by the script "
        "(loopback, AUTH on, no persistence). "
        + (
            "Client and server share the 2 cores."
            if args.no_pin
            else "The server is pinned to core 0 and the client to core 1 (`taskset`), for "
            "redis-benchmark and the function alike."
        ),
        f"N = {args.keys:,} keys, pipeline depth / batch = {args.batch} "
        f"(SYNC_BATCH_SIZE), {args.repeat} rounds on the same server in the same run: in each "
        "round the baseline and the function run back to back (their order alternating), "
        "which gives one ratio per round under the same machine load; the figure is the "
        "median of those ratios (the rates shown are the medians of the rates).",
        "",
        f"Baseline: `redis-benchmark -t set -P {args.batch} -n {args.keys} -q` (default 50 "
        "clients). Function: `inventory_sync.write_stock` — each batch is one MSET of "
        f"{args.batch} keys (plus one DEL when a batch has delisted products) sent as a "
        "non-transactional pipeline, rows already in memory (the MySQL read is not timed), "
        f"keys with the function's default prefix (`{KEYS.stock(1000001).decode()}`).",
        "",
        "| transport | metric | target | measured | pass/fail |",
        "|---|---|---|---|---|",
    ]
    rounds: list[str] = []
    for label, r in results.items():
        ratio = r["ratio_empty"]
        ratio_over = r["ratio_over"]
        rounds.append(
            f"- {label}: full resync "
            + ", ".join(
                f"{f / b:.0%}"
                for f, b in zip(r["runs"]["fn_empty"], r["runs"]["bench"], strict=True)
            )
            + "; hourly "
            + ", ".join(
                f"{f / b:.0%}"
                for f, b in zip(r["runs"]["fn_over"], r["runs"]["bench"], strict=True)
            )
            + "; baseline req/s "
            + ", ".join(f"{b:,.0f}" for b in r["runs"]["bench"])
        )
        lines += [
            f"| {label} | redis-benchmark SET, `-P {args.batch}` (baseline) | — | "
            f"{r['bench']:,.0f} req/s | — |",
            f"| {label} | function, empty keyspace (full resync) | ≥ 50% of baseline | "
            f"{r['fn_empty']:,.0f} keys/s = {ratio:.0%} | "
            f"{'pass' if ratio >= TARGET_RATIO else 'fail'} |",
            f"| {label} | function, overwriting existing keys (hourly) | ≥ 50% of baseline | "
            f"{r['fn_over']:,.0f} keys/s = {ratio_over:.0%} | "
            f"{'pass' if ratio_over >= TARGET_RATIO else 'fail'} |",
            f"| {label} | context: redis-benchmark with `-r {args.keys}` (distinct keys), "
            f"empty keyspace | — | {r['bench_r']:,.0f} req/s; function full resync = "
            f"{r['fn_empty'] / r['bench_r']:.0%} of it | — |",
            f"| {label} | context: redis-py pipeline, one SET per key | — | "
            f"{r['naive']:,.0f} keys/s = {r['naive'] / r['bench']:.0%} | — |",
        ]
    lines += [
        "",
        "Ratio per round (function / baseline of the same round):",
        "",
        *rounds,
        "",
        "Server CPU per key (`INFO cpu` before and after each run, median over the rounds): "
        "what Redis itself spends, whoever the client is.",
        "",
        "| transport | baseline SET (one hot key) | full resync (new keys) | hourly (overwrite) "
        "| bound on the full-resync ratio (baseline / full resync) |",
        "|---|---|---|---|---|",
        *(
            f"| {label} | {r['server_us']['bench']:.2f} µs | {r['server_us']['fn_empty']:.2f} µs "
            f"| {r['server_us']['fn_over']:.2f} µs "
            f"| {r['server_us']['bench'] / r['server_us']['fn_empty']:.0%} |"
            for label, r in results.items()
        ),
        "",
        "Reading the numbers: without `-r`, redis-benchmark overwrites one key N times, the "
        "cheapest possible SET: the key and its dictionary slot stay in the CPU cache. A full "
        "resync into an empty keyspace makes the server create N keys: a random slot in a "
        "dictionary of a million entries (cache misses), two allocations per key, and the "
        "dictionary rehashing itself as it doubles. The server's CPU per key (table above) "
        "bounds the ratio, whatever the client does: Redis is single-threaded, and at 100 % "
        "server utilisation the full resync cannot exceed baseline cost / full-resync cost. "
        "The function is already at or above redis-benchmark's own rate for new keys (`-r` "
        "row), and its protocol path costs the server less than the baseline's (one MSET per "
        "1000 keys, one reply). The hourly run overwrites existing keys; a full resync happens "
        "once per FULL_RESYNC_INTERVAL_HOURS (keys then exist: the hourly figure applies) or "
        "after a cache loss (empty keyspace: the full-resync figure).",
        "",
        "Why MSET and hand-encoded RESP: with redis-py's generic pipeline, building and parsing "
        "one SET per key in Python caps the rate far below the server (last row); one MSET per "
        "batch has one reply to parse and is encoded with one f-string per key from a cached "
        "key header and a cached value encoding, and the next batch is encoded while the "
        "server applies the earlier ones (up to four batches in flight). "
        "MSET needs all its keys in one hash slot under Redis Cluster mode: the ElastiCache "
        "group here is cluster-mode disabled (primary + replica), see "
        "functions/data-sync/README.md.",
        "",
        f"Reproduce: `{cmd}` (from the repository root; needs redis-server and "
        "redis-benchmark; ~2 min).",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
