"""Small checks the section validators share: each fails naming the field."""

from __future__ import annotations

import ipaddress
import re

from openmarket_cdk.config.errors import fail
from openmarket_cdk.config.facts import VALID_LOG_RETENTION_DAYS

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def network(cidr: str, field_path: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as err:
        fail(field_path, f"{cidr!r} is not a valid IPv4 network ({err})")


def check_retention(days: int, field_path: str) -> None:
    if days not in VALID_LOG_RETENTION_DAYS:
        fail(field_path, f"{days} is not a CloudWatch Logs retention value")


def check_port(port: int, field_path: str) -> None:
    if not 1 <= port <= 65535:
        fail(field_path, f"{port} is not a TCP port")
