"""Real-server fixtures for the function tests: MariaDB (TLS + password) and Redis (TLS + AUTH).

Both servers start once per test session in a temporary directory, listen on free loopback
ports (127.0.0.1 only) and are stopped at the end. Passwords are generated at run time and a
throw-away CA and server certificate are created with `cryptography`; nothing secret lives in
the repository. Only the tests that request `mariadb_server` / `redis_server` start them.

The servers come from Debian packages (`mariadb-server`, `redis-server`). When a binary is
missing the fixture fails (it does not skip) and names the package to install.

Also here: `metrics_namespace`, the environment variable every function gets from its construct
(function_env.py), for the tests that exercise metrics.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from function_env import METRICS_NAMESPACE, METRICS_NAMESPACE_ENV

_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class TlsMaterial:
    """A throw-away CA and a server certificate for 127.0.0.1 / localhost."""

    ca_path: Path
    cert_path: Path
    key_path: Path


@dataclass(frozen=True)
class MariaDBServer:
    """Connection parameters of the session's MariaDB server."""

    host: str
    port: int
    user: str
    password: str
    ca_path: Path
    socket_path: Path

    def connect(self, database: str | None = None, **kwargs: Any) -> pymysql.Connection[Any]:
        """Connect as the test user over TCP with verified TLS."""
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            ssl={"ca": str(self.ca_path)},
            autocommit=True,
            init_command="SET time_zone = '+00:00'",
            **kwargs,
        )

    def create_database(self, prefix: str) -> str:
        """Create a fresh, uniquely named database and return its name."""
        name = f"{prefix}_{secrets.token_hex(4)}"
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return name

    def drop_database(self, name: str) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@dataclass(frozen=True)
class RedisServer:
    """Connection parameters of the session's Redis server (TLS port only, AUTH required)."""

    host: str
    port: int
    password: str
    ca_path: Path

    def client(self, **kwargs: Any) -> redis.Redis:
        return redis.Redis(
            host=self.host,
            port=self.port,
            password=self.password,
            ssl=True,
            ssl_ca_certs=str(self.ca_path),
            ssl_cert_reqs="required",
            decode_responses=True,
            **kwargs,
        )


def _require_binary(name: str, debian_package: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN_DIRS))
    if path is None:
        pytest.fail(
            f"`{name}` was not found on PATH or in {', '.join(_SBIN_DIRS)}; "
            f"install the Debian package `{debian_package}` (apt-get install {debian_package})",
            pytrace=False,
        )
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


def _stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _write_pem(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def _make_tls_material(directory: Path) -> TlsMaterial:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "openmarket-test-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
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
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls = TlsMaterial(
        ca_path=directory / "ca.pem",
        cert_path=directory / "server.pem",
        key_path=directory / "server-key.pem",
    )
    _write_pem(tls.ca_path, ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_pem(tls.cert_path, cert.public_bytes(serialization.Encoding.PEM))
    _write_pem(
        tls.key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
        private=True,
    )
    return tls


@pytest.fixture
def metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> str:
    """POWERTOOLS_METRICS_NAMESPACE as the construct sets it on every function; the namespace
    (``openmarket_cdk.config.METRICS_NAMESPACE``) the metrics must carry."""
    monkeypatch.setenv(METRICS_NAMESPACE_ENV, METRICS_NAMESPACE)
    return METRICS_NAMESPACE


@pytest.fixture(scope="session")
def server_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    """Throw-away CA + server certificate shared by the MariaDB and Redis fixtures."""
    return _make_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def mariadb_server(server_tls: TlsMaterial) -> Iterator[MariaDBServer]:
    """A MariaDB server with TLS and a password-protected test user (all privileges)."""
    install_db = _require_binary("mariadb-install-db", "mariadb-server")
    mariadbd = _require_binary("mariadbd", "mariadb-server")
    # Unix socket paths are limited to ~107 bytes: keep the directory short.
    workdir = Path(tempfile.mkdtemp(prefix="om-mdb-"))
    datadir = workdir / "data"
    sock = workdir / "mysqld.sock"
    log = workdir / "mariadbd.log"
    install = subprocess.run(
        [
            install_db,
            "--no-defaults",
            f"--datadir={datadir}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if install.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(f"mariadb-install-db failed:\n{install.stdout}\n{install.stderr}")

    port = _free_port()
    proc = subprocess.Popen(
        [
            mariadbd,
            "--no-defaults",
            f"--datadir={datadir}",
            f"--socket={sock}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--user=root",
            f"--pid-file={workdir / 'mariadbd.pid'}",
            f"--log-error={log}",
            "--skip-log-bin",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=128M",
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            f"--ssl-ca={server_tls.ca_path}",
            f"--ssl-cert={server_tls.cert_path}",
            f"--ssl-key={server_tls.key_path}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    password = secrets.token_urlsafe(24)
    server = MariaDBServer(
        host="127.0.0.1",
        port=port,
        user="openmarket_test",
        password=password,
        ca_path=server_tls.ca_path,
        socket_path=sock,
    )
    try:
        admin = _wait_for_mariadb(proc, sock, log)
        with admin, admin.cursor() as cur:
            cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s REQUIRE SSL", (server.user, password))
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%'", (server.user,))
        yield server
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_mariadb(
    proc: subprocess.Popen[bytes], sock: Path, log: Path
) -> pymysql.Connection[Any]:
    deadline = time.monotonic() + _START_TIMEOUT_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mariadbd exited with {proc.returncode}:\n{_tail(log)}")
        if sock.exists():
            try:
                return pymysql.connect(unix_socket=str(sock), user="root", autocommit=True)
            except pymysql.err.OperationalError as exc:
                last_error = exc
        time.sleep(0.05)
    _stop(proc)
    pytest.fail(f"mariadbd not ready after {_START_TIMEOUT_S}s ({last_error}):\n{_tail(log)}")


@pytest.fixture(scope="session")
def redis_server(server_tls: TlsMaterial) -> Iterator[RedisServer]:
    """A Redis server reachable only over TLS, with `requirepass`."""
    redis_bin = _require_binary("redis-server", "redis-server")
    workdir = Path(tempfile.mkdtemp(prefix="om-redis-"))
    password = secrets.token_urlsafe(24)
    port = _free_port()
    log = workdir / "redis.log"
    conf = workdir / "redis.conf"
    conf.write_text(
        "\n".join(
            [
                "bind 127.0.0.1",
                "port 0",
                f"tls-port {port}",
                f"tls-cert-file {server_tls.cert_path}",
                f"tls-key-file {server_tls.key_path}",
                f"tls-ca-cert-file {server_tls.ca_path}",
                "tls-auth-clients no",
                f"requirepass {password}",
                'save ""',
                "appendonly no",
                f"dir {workdir}",
                f"logfile {log}",
                "daemonize no",
                "",
            ]
        )
    )
    conf.chmod(0o600)
    proc = subprocess.Popen(
        [redis_bin, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = RedisServer(host="127.0.0.1", port=port, password=password, ca_path=server_tls.ca_path)
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"redis-server exited with {proc.returncode}:\n{_tail(log)}")
            with contextlib.suppress(redis.exceptions.ConnectionError):
                client = server.client(socket_connect_timeout=1)
                if client.ping():
                    client.close()
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server not ready after {_START_TIMEOUT_S}s:\n{_tail(log)}")
            time.sleep(0.05)
        yield server
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)
