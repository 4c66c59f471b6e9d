"""Databases: Aurora MySQL (provisioned and Serverless v2), ElastiCache, DynamoDB.

A provisioned Aurora instance whose cluster the stage-sleep function stops at "sleep" and
starts at "wake" (staging) is counted from the wake to the sleep only; Serverless v2 by the
stated ACU-hours.
"""

from __future__ import annotations

from tools.assembly import Resource, as_number, flatten
from tools.cost.context import Calc, StageContext
from tools.cost.hours import HOURS_PER_MONTH
from tools.cost.model import LineItem, Outcome, Unpriced
from tools.cost.rules.base import Service


def _db_cluster(r: Resource, ctx: StageContext) -> Resource | None:
    return ctx.resolve(r.stack, r.prop("DBClusterIdentifier"))


def rds_db_instance(r: Resource, ctx: StageContext) -> list[Outcome]:
    engine = flatten(r.prop("Engine")) or ""
    cluster = _db_cluster(r, ctx)
    if cluster is None or not engine.startswith("aurora-mysql"):
        return [
            Unpriced(
                r.address, r.type, f"RDS instance ({engine or 'no engine'}) outside Aurora MySQL"
            )
        ]
    instance_class = flatten(r.prop("DBInstanceClass")) or "?"
    if instance_class == "db.serverless":
        return [_aurora_serverless(r, cluster, ctx)]
    identifier = flatten(cluster.prop("DBClusterIdentifier")) or cluster.logical_id
    hours, notes = _instance_hours(identifier, ctx)
    c = ctx.calc()
    usd = c.price("rds.aurora_mysql_instance_hour", instance_class) * hours
    return [
        c.item(
            r, "Aurora", f"Aurora MySQL instance {instance_class}", f"1 x {hours:.1f} h", usd, notes
        )
    ]


def _aurora_serverless(r: Resource, cluster: Resource, ctx: StageContext) -> LineItem:
    scaling = cluster.prop("ServerlessV2ScalingConfiguration", default={}) or {}
    minimum = as_number(scaling.get("MinCapacity"), 0.5)
    maximum = as_number(scaling.get("MaxCapacity"), 1.0)
    c = ctx.calc()
    acu_price = c.price("rds.aurora_serverless_v2_acu_hour")
    if minimum == 0:
        active_hours = c.assume("aurora_serverless_active_hours")
        active_acu = min(c.assume("aurora_serverless_active_acu"), maximum)
        # Each off-hours run of a function that reads Aurora wakes it (resume, run, idle
        # minutes before the pause): counted from the templates' schedules.
        wake_minutes = c.assume("aurora_serverless_wake_minutes")
        wake_hours = ctx.database_wakes_per_month * wake_minutes / 60
        wake_acu = min(c.assume("aurora_serverless_wake_acu"), maximum)
        acu_hours = active_hours * active_acu + wake_hours * wake_acu
        pause = as_number(scaling.get("SecondsUntilAutoPause"), 300) / 60
        quantity = (
            f"{active_hours:g} h x {active_acu:g} ACU + {wake_hours:g} h x {wake_acu:g} ACU "
            f"= {acu_hours:.0f} ACU-h"
        )
        notes = [
            f"min 0 ACU, auto-pause after {pause:g} min: paused hours cost nothing; "
            "active hours are an assumption (see assumptions)"
        ]
    else:
        average = min(max(c.assume("aurora_serverless_average_acu"), minimum), maximum)
        acu_hours = average * HOURS_PER_MONTH
        quantity = f"{average:g} ACU x {HOURS_PER_MONTH:.0f} h"
        notes = [f"{minimum:g}-{maximum:g} ACU"]
    return c.item(
        r,
        "Aurora",
        "Aurora Serverless v2 instance",
        quantity,
        acu_hours * acu_price,
        notes,
        # The floor: the configured minimum all month (0 ACU pauses: nothing).
        minimum_usd=min(minimum * HOURS_PER_MONTH * acu_price, acu_hours * acu_price),
    )


def _instance_hours(cluster_identifier: str, ctx: StageContext) -> tuple[float, list[str]]:
    """Hours a provisioned instance of the cluster runs (the stage-sleep window if the
    function stops the cluster outside it), and the note saying so."""
    sleep = ctx.db_cluster_sleeps.get(cluster_identifier)
    if sleep is not None and ctx.sleep.enabled:
        return sleep.hours_per_month, [sleep.note]
    if sleep is not None:
        ctx.warnings.append(
            f"Aurora cluster '{cluster_identifier}' is {sleep.by.removeprefix('by ')}, but stage "
            f"sleep is disabled in config: counted {HOURS_PER_MONTH:.0f} h/month"
        )
    return HOURS_PER_MONTH, []


def aurora_reader_scaling(r: Resource, ctx: StageContext) -> list[Outcome]:
    """Application Auto Scaling of Aurora readers: nothing above the minimum is expected (the
    minimum readers are DBInstances of their own), the maximum is the ceiling."""
    if flatten(r.prop("ScalableDimension")) != "rds:cluster:ReadReplicaCount":
        return [Unpriced(r.address, r.type, "scalable target of another service: no rule")]
    # "cluster:<identifier>": the identifier is a literal, or a reference to the DBCluster.
    resource_id = flatten(r.prop("ResourceId")) or ""
    referenced = [
        t.address
        for t in ctx.assembly.targets(r.stack, r.prop("ResourceId"))
        if t.type == "AWS::RDS::DBCluster"
    ]
    literal = resource_id.removeprefix("cluster:")
    clusters = {
        cluster.address: flatten(cluster.prop("DBClusterIdentifier")) or cluster.logical_id
        for cluster in ctx.of_type("AWS::RDS::DBCluster")
        if cluster.address in referenced
        or (flatten(cluster.prop("DBClusterIdentifier")) or "") == literal
    }
    identifier = next(iter(clusters.values()), literal)
    classes = [
        flatten(i.prop("DBInstanceClass")) or "?"
        for i in ctx.of_type("AWS::RDS::DBInstance")
        if (cluster := _db_cluster(i, ctx)) is not None and cluster.address in clusters
    ]
    provisioned = [name for name in classes if name != "db.serverless"]
    if not provisioned:
        return [Unpriced(r.address, r.type, f"no provisioned instance in {resource_id}")]
    extra = int(as_number(r.prop("MaxCapacity"), 0)) - int(as_number(r.prop("MinCapacity"), 0))
    hours, notes = _instance_hours(identifier, ctx)
    c = ctx.calc()
    per_reader = c.price("rds.aurora_mysql_instance_hour", provisioned[0]) * hours
    return [
        c.item(
            r,
            "Aurora",
            f"Aurora readers added by auto scaling ({provisioned[0]})",
            f"0 expected, up to {extra} x {hours:.1f} h",
            0.0,
            notes,
            maximum_usd=max(extra, 0) * per_reader,
        )
    ]


def rds_db_cluster(r: Resource, ctx: StageContext) -> list[Outcome]:
    engine = flatten(r.prop("Engine")) or ""
    if not engine.startswith("aurora-mysql") or r.prop("EngineMode") == "serverless":
        return [Unpriced(r.address, r.type, f"DB cluster engine {engine}: no price rule")]
    c = ctx.calc()
    storage = c.assume("aurora_storage_gb")
    ios = c.assume("aurora_io_million")
    usd = storage * c.price("rds.aurora_storage_gb_month") + ios * c.price("rds.aurora_io_million")
    notes = ["backups within the retention period are free up to the cluster's size"]
    if r.prop("StorageType") == "aurora-iopt1":
        notes.append("I/O-Optimized storage priced as Aurora Standard")
    items: list[Outcome] = [
        c.item(r, "Aurora", "Aurora storage and I/O", f"{storage:g} GB + {ios:g} M I/O", usd, notes)
    ]
    window_hours = as_number(r.prop("BacktrackWindow"), 0) / 3600
    if window_hours > 0:
        c = ctx.calc()
        per_hour = c.assume("aurora_backtrack_change_records_per_hour")
        kept_million = per_hour * window_hours / 1e6
        usd = (
            kept_million
            * HOURS_PER_MONTH
            * c.price("rds.aurora_backtrack_million_change_record_hours")
        )
        items.append(
            c.item(
                r,
                "Aurora",
                f"Aurora backtrack ({window_hours:g} h window)",
                f"{kept_million:.2f} M change records x {HOURS_PER_MONTH:.0f} h",
                usd,
                minimum_usd=0.0,  # a setting: not part of the floor
            )
        )
    return items


def _cache_node_price(c: Calc, engine: str, node_type: str) -> tuple[float, str]:
    price = c.price("elasticache.node_hour", node_type)
    if engine == "valkey":
        return price * (1 - c.price("elasticache.valkey_node_discount")), "Valkey"
    return price, engine


def elasticache_replication_group(r: Resource, ctx: StageContext) -> list[Outcome]:
    node_type = flatten(r.prop("CacheNodeType")) or "?"
    engine = str(r.prop("Engine", default="redis")).lower()
    if r.prop("NumNodeGroups") is not None or r.prop("NodeGroupConfiguration"):
        groups = int(as_number(r.prop("NumNodeGroups"), 1))
        nodes = groups * (int(as_number(r.prop("ReplicasPerNodeGroup"), 0)) + 1)
    else:
        nodes = int(as_number(r.prop("NumCacheClusters"), 1))
    c = ctx.calc()
    node_price, label = _cache_node_price(c, engine, node_type)
    usd = nodes * node_price * HOURS_PER_MONTH
    return [
        c.item(
            r,
            "ElastiCache",
            f"{label} {nodes} x {node_type}",
            f"{nodes} node(s) x {HOURS_PER_MONTH:.0f} h",
            usd,
            ["snapshot storage within one snapshot per node is not charged"],
        )
    ]


def elasticache_cache_cluster(r: Resource, ctx: StageContext) -> list[Outcome]:
    node_type = flatten(r.prop("CacheNodeType")) or "?"
    engine = str(r.prop("Engine", default="redis")).lower()
    nodes = int(as_number(r.prop("NumCacheNodes"), 1))
    c = ctx.calc()
    node_price, label = _cache_node_price(c, engine, node_type)
    usd = nodes * node_price * HOURS_PER_MONTH
    return [c.item(r, "ElastiCache", f"{label} {nodes} x {node_type}", f"{nodes} x 730 h", usd)]


def dynamodb_table(r: Resource, ctx: StageContext) -> list[Outcome]:
    mode = r.prop("BillingMode", default="PROVISIONED")
    if mode != "PAY_PER_REQUEST":
        return [Unpriced(r.address, r.type, "provisioned capacity: no price rule (on-demand only)")]
    replicas = r.prop("Replicas") if r.type == "AWS::DynamoDB::GlobalTable" else None
    copies = len(replicas) if isinstance(replicas, list) and replicas else 1
    if replicas:
        pitr = any(
            (rep.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
            for rep in replicas
            if isinstance(rep, dict)
        )
    else:
        pitr = bool(r.prop("PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"))
    c = ctx.calc()
    writes = c.assume("dynamodb_writes_million")
    reads = c.assume("dynamodb_reads_million")
    storage = c.assume("dynamodb_storage_gb")
    usd = copies * (
        writes * c.price("dynamodb.write_request_million")
        + storage * c.price("dynamodb.storage_gb_month")
    )
    usd += reads * c.price("dynamodb.read_request_million")
    if pitr:
        usd += copies * storage * c.price("dynamodb.pitr_gb_month")
    name = flatten(r.prop("TableName")) or r.logical_id
    return [
        c.item(
            r,
            "other",
            f"DynamoDB on-demand table {name}" + (" + PITR" if pitr else ""),
            f"{writes:g} M writes, {reads:g} M reads, {storage:g} GB x {copies} replica(s)",
            usd,
        )
    ]


SERVICE = Service(
    name="database",
    rules={
        "AWS::RDS::DBCluster": rds_db_cluster,
        "AWS::RDS::DBInstance": rds_db_instance,
        "AWS::ElastiCache::ReplicationGroup": elasticache_replication_group,
        "AWS::ElastiCache::CacheCluster": elasticache_cache_cluster,
        "AWS::DynamoDB::Table": dynamodb_table,
        "AWS::DynamoDB::GlobalTable": dynamodb_table,
        "AWS::ApplicationAutoScaling::ScalableTarget": aurora_reader_scaling,
    },
    free={
        "AWS::ElastiCache::SubnetGroup": "no charge",
        "AWS::ElastiCache::ParameterGroup": "no charge",
        "AWS::RDS::DBSubnetGroup": "no charge",
        "AWS::RDS::DBClusterParameterGroup": "no charge",
        "AWS::RDS::DBParameterGroup": "no charge",
        # The readers it adds are priced at the ceiling on its scalable target.
        "AWS::ApplicationAutoScaling::ScalingPolicy": (
            "no charge beyond its two CloudWatch alarms (cents a month)"
        ),
    },
)
