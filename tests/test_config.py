"""The stage model: complete, typed, frozen, and loud about bad values."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import replace

import pytest

from openmarket_cdk.config import (
    ACCOUNT_ENV_VAR,
    AVAILABILITY_ZONES,
    PLACEHOLDER_ACCOUNT,
    REGION,
    STAGE_NAMES,
    AuroraCapacity,
    EdgeConfig,
    NatMode,
    StageConfig,
    StageConfigError,
    StagePolicy,
    all_stage_configs,
    deploy_blockers,
    resolve_account,
    stage_config,
    validate_stage,
    with_edge_overrides,
)


def test_three_stages_in_deployment_order() -> None:
    assert [c.name for c in all_stage_configs()] == ["dev", "staging", "prod"] == list(STAGE_NAMES)


def test_region_and_azs_are_fixed_so_synth_never_asks_aws() -> None:
    for cfg in all_stage_configs():
        assert cfg.region == REGION == "ap-northeast-2"
        assert (
            cfg.availability_zones == AVAILABILITY_ZONES == ("ap-northeast-2a", "ap-northeast-2c")
        )


def test_configs_are_frozen() -> None:
    cfg = stage_config("prod")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.name = "dev"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.aurora.reader_count = 3  # type: ignore[misc]


def test_stage_differences_follow_the_issue() -> None:
    dev, staging, prod = all_stage_configs()
    assert (dev.network.nat_mode, staging.network.nat_mode, prod.network.nat_mode) == (
        NatMode.INSTANCE,
        NatMode.INSTANCE,
        NatMode.GATEWAY_PER_AZ,
    )
    assert dev.aurora.capacity is AuroraCapacity.SERVERLESS_V2
    assert staging.aurora.capacity is prod.aurora.capacity is AuroraCapacity.PROVISIONED
    assert (dev.termination_protection, staging.termination_protection) == (False, True)
    assert prod.termination_protection
    assert not dev.multi_az and staging.multi_az and prod.multi_az


def test_account_defaults_to_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ACCOUNT_ENV_VAR, raising=False)
    assert resolve_account({}) == PLACEHOLDER_ACCOUNT


def test_account_from_environment_then_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ACCOUNT_ENV_VAR, "111122223333")
    assert resolve_account({}) == "111122223333"
    assert resolve_account({"account": "444455556666"}) == "444455556666"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: replace(c, name="qa"), "'name'"),
        (lambda c: replace(c, account="12345"), "'account'"),
        (lambda c: replace(c, region="us-east-1"), "'region'"),
        (
            lambda c: replace(
                c, network=replace(c.network, private_subnet_cidrs=("10.0.1.0/24", "10.0.12.0/24"))
            ),
            "'network.private_subnet_cidrs[0]'",
        ),
        (
            lambda c: replace(
                c,
                network=replace(c.network, database_subnet_cidrs=("10.1.21.0/24", "10.0.22.0/24")),
            ),
            "'network.database_subnet_cidrs[0]'",
        ),
        (
            lambda c: replace(c, network=replace(c.network, vpc_cidr="10.0.0.0/33")),
            "'network.vpc_cidr'",
        ),
        (
            lambda c: replace(c, network=replace(c.network, flow_log_retention_days=8)),
            "'network.flow_log_retention_days'",
        ),
        (
            lambda c: replace(c, multi_az=False),
            "'aurora.reader_count'",
        ),
        (
            lambda c: replace(c, cache=replace(c.cache, node_count=1)),
            "'cache.node_count'",
        ),
        (
            lambda c: replace(c, aurora=replace(c.aurora, backup_retention_days=3)),
            "'aurora.backup_retention_days'",
        ),
        (
            lambda c: replace(c, aurora=replace(c.aurora, deletion_protection=False)),
            "'aurora.deletion_protection'",
        ),
        (
            lambda c: replace(c, cache=replace(c.cache, engine_version="6.2")),
            "'cache.engine_version'",
        ),
        (
            lambda c: replace(c, storage=replace(c.storage, glacier_after_days=20)),
            "'storage.glacier_after_days'",
        ),
        (lambda c: replace(c, retain_on_delete=False), "'retain_on_delete'"),
        (
            lambda c: replace(
                c,
                functions=replace(
                    c.functions, data_sync=replace(c.functions.data_sync, timeout_s=901)
                ),
            ),
            "'functions.data_sync.timeout_s'",
        ),
        (
            lambda c: replace(
                c,
                kubernetes=replace(
                    c.kubernetes, backend=replace(c.kubernetes.backend, replicas=11)
                ),
            ),
            "'kubernetes.backend.replicas'",
        ),
        (
            lambda c: replace(
                c,
                kubernetes=replace(
                    c.kubernetes, frontend=replace(c.kubernetes.frontend, hpa_min_replicas=0)
                ),
            ),
            "'kubernetes.frontend.hpa_min_replicas'",
        ),
        (
            lambda c: replace(
                c,
                kubernetes=replace(
                    c.kubernetes,
                    backend=replace(c.kubernetes.backend, hpa_cpu_utilization_percent=0),
                ),
            ),
            "'kubernetes.backend.hpa_cpu_utilization_percent'",
        ),
        (
            lambda c: replace(
                c,
                kubernetes=replace(
                    c.kubernetes, backend=replace(c.kubernetes.backend, health_path="health")
                ),
            ),
            "'kubernetes.backend.health_path'",
        ),
        (
            lambda c: replace(
                c,
                kubernetes=replace(
                    c.kubernetes,
                    frontend=replace(
                        c.kubernetes.frontend,
                        resources=replace(c.kubernetes.frontend.resources, memory_limit="2G"),
                    ),
                ),
            ),
            "'kubernetes.frontend.resources.memory_limit'",
        ),
        (
            lambda c: replace(
                c,
                kubernetes=replace(
                    c.kubernetes, frontend=replace(c.kubernetes.frontend, port=3001)
                ),
            ),
            "'kubernetes.frontend.port'",
        ),
        (
            lambda c: replace(
                c,
                kubernetes=replace(
                    c.kubernetes,
                    monitoring=replace(
                        c.kubernetes.monitoring,
                        prometheus=replace(
                            c.kubernetes.monitoring.prometheus, retention_size="200GB"
                        ),
                    ),
                ),
            ),
            "'kubernetes.monitoring.prometheus.retention_size'",
        ),
        (
            lambda c: replace(
                c,
                kubernetes=replace(
                    c.kubernetes,
                    monitoring=replace(
                        c.kubernetes.monitoring,
                        prometheus=replace(
                            c.kubernetes.monitoring.prometheus, scrape_interval="15 seconds"
                        ),
                    ),
                ),
            ),
            "'kubernetes.monitoring.prometheus.scrape_interval'",
        ),
    ],
)
def test_bad_values_fail_with_the_field_name(change: object, field: str) -> None:
    broken: StageConfig = change(stage_config("prod"))  # type: ignore[operator]
    with pytest.raises(StageConfigError, match=re.escape(f"stage config field {field}")):
        validate_stage(broken)


@pytest.mark.parametrize(("retention", "fits"), [("95GB", True), ("105GB", False)])
def test_prometheus_sizes_are_read_as_prometheus_reads_them(retention: str, fits: bool) -> None:
    """Prometheus' GB is 2**30 bytes: 105GB does not fit a 100Gi volume (105 * 10**9 would)."""
    config = stage_config("prod")
    monitoring = config.kubernetes.monitoring
    changed = replace(
        config,
        kubernetes=replace(
            config.kubernetes,
            monitoring=replace(
                monitoring,
                prometheus=replace(
                    monitoring.prometheus, retention_size=retention, storage_size="100Gi"
                ),
            ),
        ),
    )
    if fits:
        validate_stage(changed)
    else:
        with pytest.raises(StageConfigError, match=r"retention_size'.*below storage_size"):
            validate_stage(changed)


def test_a_reader_in_a_single_az_stage_is_refused() -> None:
    dev = stage_config("dev")
    broken = replace(
        dev,
        aurora=replace(dev.aurora, capacity=AuroraCapacity.PROVISIONED, reader_count=1),
    )
    with pytest.raises(StageConfigError, match=r"'aurora\.reader_count'.*single-AZ"):
        validate_stage(broken)


def test_unknown_stage_name_is_refused() -> None:
    with pytest.raises(StageConfigError, match="unknown stage 'qa'"):
        stage_config("qa")


def test_bad_account_override_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ACCOUNT_ENV_VAR, "not-an-account")
    with pytest.raises(StageConfigError, match="'account'"):
        resolve_account({})


# --- the edge: a domain per stage -------------------------------------------------------------


def test_staging_and_prod_have_an_edge_with_obviously_fake_placeholders() -> None:
    assert stage_config("dev").edge is None  # HTTP only unless a domain is given
    for stage in ("staging", "prod"):
        edge = stage_config(stage).edge
        assert edge is not None
        assert edge.domain_name.endswith(f".{edge.hosted_zone_name}")
        # Reserved names (RFC 2606) and a zone id no account has: preflight refuses them.
        assert edge.hosted_zone_name.endswith(".example")
        assert edge.hosted_zone_id.endswith("EXAMPLE")
        edge_blockers = [p for p in deploy_blockers(stage_config(stage)) if ": edge." in p]
        assert len(edge_blockers) == 3


@pytest.mark.parametrize(
    ("edge", "field"),
    [
        (("shop.other.io", "Z0123456789AB", "example.net"), "edge.domain_name"),
        (("example.net", "Z0123456789AB", "example.net"), "edge.domain_name"),  # apex
        (("Shop.example.net", "Z0123456789AB", "example.net"), "edge.domain_name"),
        (("shop.example.net.", "Z0123456789AB", "example.net"), "edge.domain_name"),
        (("shop.example.net", "z0123456789ab", "example.net"), "edge.hosted_zone_id"),
        (("shop.example.net", "0123456789AB", "example.net"), "edge.hosted_zone_id"),
        (("shop.example.net", "Z0123456789AB", "example_net"), "edge.hosted_zone_name"),
    ],
)
def test_bad_edge_values_fail_with_the_field_name(edge: tuple[str, str, str], field: str) -> None:
    broken = replace(stage_config("prod"), edge=EdgeConfig(*edge))
    with pytest.raises(StageConfigError, match=re.escape(f"stage config field '{field}'")):
        validate_stage(broken)


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_staging_and_prod_cannot_drop_their_edge(stage: str) -> None:
    with pytest.raises(StageConfigError, match=r"'edge': .* serves HTTPS"):
        validate_stage(replace(stage_config(stage), edge=None))


def test_context_overrides_set_or_change_the_edge() -> None:
    real = {"hosted_zone_id": "z0123456789ab", "hosted_zone_name": "Shop.IO."}
    dev = with_edge_overrides(stage_config("dev"), {"domain": "dev.shop.io", **real})
    assert dev.edge == EdgeConfig("dev.shop.io", "Z0123456789AB", "shop.io")
    assert [p for p in deploy_blockers(dev) if ": edge." in p] == []
    prod = with_edge_overrides(stage_config("prod"), {"domain": "www.shop.io", **real})
    assert prod.edge == EdgeConfig("www.shop.io", "Z0123456789AB", "shop.io")
    # Only the domain: the zone stays the placeholder, which preflight names.
    partly = with_edge_overrides(stage_config("prod"), {"domain": "www.openmarket.example"})
    assert [p.split(" is ")[0] for p in deploy_blockers(partly) if ": edge." in p] == [
        "prod: edge.domain_name",
        "prod: edge.hosted_zone_name",
        "prod: edge.hosted_zone_id",
    ]
    with pytest.raises(StageConfigError, match=r"hosted_zone_id=.*hosted_zone_name="):
        with_edge_overrides(stage_config("dev"), {"domain": "dev.shop.io"})


# --- Aurora read replicas that scale ----------------------------------------------------------


def test_reader_scaling_bounds_per_stage() -> None:
    dev, staging, prod = (stage_config(s).aurora for s in STAGE_NAMES)
    assert (dev.reader_count, dev.max_reader_count) == (0, 0)  # Serverless v2 single writer
    assert staging.reader_count == 1 < staging.max_reader_count <= 15
    assert prod.reader_count == 1 and 3 <= prod.max_reader_count <= 15
    assert prod.reader_target_cpu_percent == 70.0


@pytest.mark.parametrize(
    ("stage", "change", "message"),
    [
        ("prod", {"max_reader_count": 2}, "at least 3"),
        ("prod", {"max_reader_count": 16}, "<= max <= 15"),
        ("staging", {"max_reader_count": 0}, "reader_count \\(1\\) <= max"),
        ("prod", {"reader_target_cpu_percent": 95.0}, "10..90"),
        ("prod", {"reader_scale_in_cooldown_minutes": 0}, "1..120"),
        ("dev", {"max_reader_count": 2}, "single writer"),
    ],
)
def test_bad_reader_scaling_fails_with_the_field_name(
    stage: str, change: dict[str, object], message: str
) -> None:
    config = stage_config(stage)
    broken = replace(config, aurora=replace(config.aurora, **change))  # type: ignore[arg-type]
    field = next(iter(change))
    with pytest.raises(StageConfigError, match=rf"'aurora\.{field}'.*{message}"):
        validate_stage(broken)


def _hours(c: StageConfig, **changes: object) -> StageConfig:
    return replace(c, sleep=replace(c.sleep, **changes))


@pytest.mark.parametrize(
    ("stage", "change", "field"),
    [
        # Only dev may drop the WAF, and only behind a restricted ALB.
        (
            "staging",
            lambda c: replace(c, kubernetes=replace(c.kubernetes, waf_enabled=False)),
            "'kubernetes.waf_enabled'",
        ),
        (
            "dev",
            lambda c: replace(c, network=replace(c.network, alb_ingress_cidrs=("0.0.0.0/0",))),
            "'network.alb_ingress_cidrs[0]'",
        ),
        (
            "dev",
            lambda c: replace(c, network=replace(c.network, alb_ingress_cidrs=())),
            "'network.alb_ingress_cidrs'",
        ),
        (
            "dev",
            lambda c: replace(c, network=replace(c.network, alb_ingress_cidrs=("10.0.0.300/8",))),
            "'network.alb_ingress_cidrs[0]'",
        ),
        # What sleeps needs working hours; only an instance can be stopped.
        (
            "prod",
            lambda c: _hours(c, load_balancer_sleeps=True),
            "'sleep.load_balancer_sleeps'",
        ),
        (
            "staging",
            lambda c: _hours(c, nat_instance_sleeps=True),
            "'functions.report_schedule_hour'",
        ),
        (
            "prod",
            lambda c: _hours(c, enabled=False, nat_instance_sleeps=True),
            "'sleep.nat_instance_sleeps'",
        ),
        (
            "dev",
            lambda c: _hours(c, finish_after_stop_minutes=5),
            "'sleep.finish_after_stop_minutes'",
        ),
        # dev's report needs the NAT instance: in working hours, on working days.
        (
            "dev",
            lambda c: replace(c, functions=replace(c.functions, report_schedule_hour="0")),
            "'functions.report_schedule_hour'",
        ),
        (
            "dev",
            lambda c: replace(c, functions=replace(c.functions, report_schedule_weekdays=None)),
            "'functions.report_schedule_hour'",
        ),
    ],
)
def test_what_sleeps_and_who_may_reach_the_alb_is_checked(
    stage: str, change: object, field: str
) -> None:
    broken: StageConfig = change(stage_config(stage))  # type: ignore[operator]
    with pytest.raises(StageConfigError, match=re.escape(f"stage config field {field}")):
        validate_stage(broken)


def test_a_nat_gateway_cannot_sleep() -> None:
    prod = stage_config("prod")
    staging_like = replace(
        _hours(prod, enabled=True, nat_instance_sleeps=True),
        name="staging",
        policy=StagePolicy(),  # a stage that may sleep (prod's serves customers)
        functions=replace(
            prod.functions, report_schedule_hour="9", report_schedule_weekdays="MON-FRI"
        ),
    )
    with pytest.raises(StageConfigError, match="only a NAT instance can be stopped"):
        validate_stage(staging_like)


def test_no_rule_names_a_stage() -> None:
    """Stage-specific rules are policy fields set in the stage definitions (StagePolicy): no
    validator, stack, construct, chart, tool or operator script spells a stage's name. Only
    the stage definitions, the list of stage names, and two tables of data keyed by stage do."""
    import ast

    from tests.conftest import ROOT

    allowed = {
        ROOT / "openmarket_cdk" / "config" / "stages.py": "the stage definitions",
        ROOT / "openmarket_cdk" / "config" / "facts.py": "STAGE_NAMES",
        ROOT / "tools" / "cost" / "report.py": "the original design's cost figures, by stage",
        ROOT / "tools" / "diagram.py": "the stage `make diagram` draws by default",
    }
    sources = [
        ROOT / "app.py",
        *(ROOT / "scripts").glob("*.py"),
        *(
            path
            for folder in ("openmarket_cdk", "charts", "tools")
            for path in (ROOT / folder).rglob("*.py")
        ),
    ]
    spelled = sorted(
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for path in sources
        if path not in allowed
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in STAGE_NAMES
    )
    assert spelled == []


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_each_stage_states_its_policy(stage: str) -> None:
    policy = stage_config(stage).policy
    expected = {
        "dev": StagePolicy(keeps_data=False, production_like=False),
        "staging": StagePolicy(),
        "prod": StagePolicy(serves_customers=True),
    }
    assert policy == expected[stage]
