"""The price table: region, sources, dates, the prices the brief names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tools.cost.prices import DEFAULT_PRICE_FILE, MissingPrice, load_prices

PRICES = load_prices()


def test_the_table_is_seoul_usd_with_a_date_and_a_method() -> None:
    assert PRICES.region == "ap-northeast-2"
    assert PRICES.currency == "USD"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", PRICES.assembled_on)
    assert "approximate" in PRICES.method


def test_every_entry_has_a_source_a_date_a_unit_and_an_approximate_flag() -> None:
    raw = json.loads(DEFAULT_PRICE_FILE.read_text())
    for key, entry in raw["prices"].items():
        assert entry["source"] in raw["sources"], key
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry["as_of"]), key
        assert entry["unit"] and entry["product"], key
        rows = entry["by_key"].values() if "by_key" in entry else [entry]
        assert all(isinstance(row.get("approximate"), bool) for row in rows), key


@pytest.mark.parametrize(
    ("key", "variant", "usd"),
    [
        ("eks.cluster_hour", None, 0.10),
        ("vpc.nat_gateway_hour", None, 0.059),
        ("vpc.nat_gateway_gb", None, 0.059),
        ("ec2.instance_hour", "t3.medium", 0.052),
        ("waf.web_acl_month", None, 5.0),
        ("waf.rule_month", None, 1.0),
        ("waf.request_million", None, 0.60),
        ("kms.key_month", None, 1.0),
        ("secretsmanager.secret_month", None, 0.40),
        ("cloudwatch.alarm_metric_month", None, 0.10),
        ("cloudwatch.dashboard_month", None, 3.0),
        ("vpc.public_ipv4_hour", None, 0.005),
    ],
)
def test_known_seoul_prices(key: str, variant: str | None, usd: float) -> None:
    assert PRICES.usd(key, variant) == usd


def test_missing_prices_raise_instead_of_returning_zero() -> None:
    with pytest.raises(MissingPrice):
        PRICES.get("ec2.instance_hour", "x9.mega")
    with pytest.raises(MissingPrice):
        PRICES.get("no.such.price")
    with pytest.raises(MissingPrice):
        PRICES.get("ec2.instance_hour")  # a table needs a variant


def test_approximate_flags_are_carried(tmp_path: Path) -> None:
    assert PRICES.get("rds.aurora_serverless_v2_acu_hour").approximate
    assert not PRICES.get("eks.cluster_hour").approximate
    assert PRICES.variants("ebs.gb_month") == ["gp2", "gp3"]


def test_an_entry_without_a_source_is_rejected(tmp_path: Path) -> None:
    raw = json.loads(DEFAULT_PRICE_FILE.read_text())
    raw["prices"]["eks.cluster_hour"]["source"] = "SomewhereElse"
    broken = tmp_path / "prices.json"
    broken.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="unknown source"):
        load_prices(broken)
