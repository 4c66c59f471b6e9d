"""The data sections: Aurora MySQL and the cache, and their checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from openmarket_cdk.config import pins
from openmarket_cdk.config.checks import check_retention
from openmarket_cdk.config.errors import fail
from openmarket_cdk.config.policy import StagePolicy


class AuroraCapacity(StrEnum):
    """How the Aurora cluster is sized."""

    PROVISIONED = "provisioned"  # fixed instance class, writer + readers
    SERVERLESS_V2 = "serverless-v2"  # ACU-based; can scale to zero and auto-pause


@dataclass(frozen=True)
class AuroraConfig:
    """Aurora MySQL 3 (engine versions in config/pins.py)."""

    engine_version: str = pins.AURORA_MYSQL_VERSION
    capacity: AuroraCapacity = AuroraCapacity.PROVISIONED
    instance_type: str = "t4g.medium"
    # Readers in the second AZ (the original design: writer 2a + 1 reader 2c). With
    # Application Auto Scaling this is the floor; readers are added up to max_reader_count
    # (the original: 0-15 replicas).
    reader_count: int = 1
    max_reader_count: int = 3
    # Target tracking on the readers' average CPU (the original design's target: RDS CPU < 70%).
    reader_target_cpu_percent: float = 70.0
    # A new reader takes about 10 minutes to come up: no second scale-out before it counts.
    reader_scale_out_cooldown_minutes: int = 10
    # Removing a reader drops its connections: scale in slowly, after a calm half hour.
    reader_scale_in_cooldown_minutes: int = 30
    serverless_min_acu: float = 0.0
    serverless_max_acu: float = 2.0
    # Serverless v2 at 0 ACU pauses after this many idle minutes.
    auto_pause_minutes: int = 10
    backup_retention_days: int = 7
    preferred_backup_window: str = "17:00-18:00"  # UTC = 02:00-03:00 KST, low traffic
    backtrack_hours: int = 0  # 0 disables backtrack
    log_retention_days: int = 30
    deletion_protection: bool = True
    snapshot_on_delete: bool = True
    database_name: str = "openmarket"
    admin_username: str = "openmarket_admin"


@dataclass(frozen=True)
class CacheConfig:
    """ElastiCache (Valkey, Redis 7 compatible)."""

    engine: str = "valkey"
    engine_version: str = pins.VALKEY_VERSION
    node_type: str = "cache.t4g.micro"
    # Nodes in the replication group: 1 = primary only, 2 = primary (2a) + replica (2c).
    node_count: int = 2
    snapshot_retention_days: int = 7
    snapshot_window: str = "18:00-19:00"  # UTC = 03:00-04:00 KST
    maintenance_window: str = "sun:19:00-sun:20:00"  # UTC, after the snapshot window
    snapshot_on_delete: bool = True
    log_retention_days: int = 30


def validate_aurora(aurora: AuroraConfig, stage: str, policy: StagePolicy) -> None:
    if not re.fullmatch(r"3\.\d{2}\.\d+", aurora.engine_version):
        fail("aurora.engine_version", f"{aurora.engine_version!r} is not an Aurora MySQL 3 version")
    if aurora.capacity is AuroraCapacity.SERVERLESS_V2:
        if aurora.reader_count:
            fail("aurora.reader_count", "this project runs Serverless v2 as a single writer")
        if not 0 <= aurora.serverless_min_acu <= aurora.serverless_max_acu <= 256:
            fail("aurora.serverless_min_acu", "need 0 <= min ACU <= max ACU <= 256")
        if aurora.serverless_min_acu == 0 and not 5 <= aurora.auto_pause_minutes <= 1440:
            fail("aurora.auto_pause_minutes", "auto-pause must be 5..1440 minutes")
    elif not re.fullmatch(r"[a-z0-9]+\.[a-z0-9]+", aurora.instance_type):
        fail("aurora.instance_type", f"{aurora.instance_type!r} is not an instance type")
    if not 0 <= aurora.reader_count <= 15:
        fail("aurora.reader_count", "Aurora allows 0..15 readers")
    if not 7 <= aurora.backup_retention_days <= 35:
        fail("aurora.backup_retention_days", "keep backups 7..35 days (the original design: 7+)")
    if not 0 <= aurora.backtrack_hours <= 72:
        fail("aurora.backtrack_hours", "backtrack window is 0..72 hours")
    if aurora.backtrack_hours and aurora.capacity is AuroraCapacity.SERVERLESS_V2:
        fail("aurora.backtrack_hours", "backtrack is for provisioned clusters here")
    check_retention(aurora.log_retention_days, "aurora.log_retention_days")
    if policy.keeps_data and not (aurora.deletion_protection and aurora.snapshot_on_delete):
        fail("aurora.deletion_protection", f"{stage} must protect and snapshot its database")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,15}", aurora.admin_username):
        fail("aurora.admin_username", "1-16 letters, digits or '_', starting with a letter")


# A stage that serves customers (prod) keeps room for at least two readers beyond the
# original design's one under load.
PROD_MIN_MAX_READERS = 3


def validate_reader_scaling(aurora: AuroraConfig, stage: str, policy: StagePolicy) -> None:
    if aurora.capacity is AuroraCapacity.SERVERLESS_V2 and aurora.max_reader_count:
        fail("aurora.max_reader_count", "Serverless v2 runs as a single writer here: set 0")
    if not aurora.reader_count <= aurora.max_reader_count <= 15:
        fail(
            "aurora.max_reader_count",
            f"{aurora.max_reader_count}: need reader_count ({aurora.reader_count}) <= max <= 15",
        )
    if policy.serves_customers and aurora.max_reader_count < PROD_MIN_MAX_READERS:
        fail("aurora.max_reader_count", f"{stage} may scale to at least {PROD_MIN_MAX_READERS}")
    if not 10 <= aurora.reader_target_cpu_percent <= 90:
        fail("aurora.reader_target_cpu_percent", "a CPU target in 10..90 %")
    for name in ("reader_scale_out_cooldown_minutes", "reader_scale_in_cooldown_minutes"):
        if not 1 <= getattr(aurora, name) <= 120:
            fail(f"aurora.{name}", "cooldowns are 1..120 minutes")


def validate_cache(cache: CacheConfig) -> None:
    if cache.engine not in ("valkey", "redis"):
        fail("cache.engine", f"{cache.engine!r}: expected 'valkey' or 'redis'")
    major = cache.engine_version.split(".")[0]
    if not major.isdigit() or int(major) < 7:
        fail("cache.engine_version", "must be Redis 7 compatible (7.x or newer)")
    if not cache.node_type.startswith("cache."):
        fail("cache.node_type", f"{cache.node_type!r} is not an ElastiCache node type")
    if not 1 <= cache.node_count <= 6:
        fail("cache.node_count", "a replication group has 1..6 nodes")
    if not 0 <= cache.snapshot_retention_days <= 35:
        fail("cache.snapshot_retention_days", "must be 0..35 days")
    check_retention(cache.log_retention_days, "cache.log_retention_days")
