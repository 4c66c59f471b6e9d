"""DataStack invariants, per stage: Aurora MySQL and the cache."""

from __future__ import annotations

from typing import Any

import pytest

from openmarket_cdk.config import STAGE_NAMES, stage_config
from tests.cfn import of_type, only, ref_id
from tests.conftest import Synthesized

pytestmark = pytest.mark.parametrize("stage", STAGE_NAMES)


def _cluster(synthesized: Synthesized, stage: str) -> dict[str, Any]:
    (cluster,) = of_type(synthesized.template(stage, "data"), "AWS::RDS::DBCluster").values()
    return cluster


def test_aurora_is_mysql_3_encrypted_tls_only(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "data")
    props = _cluster(synthesized, stage)["Properties"]
    assert props["Engine"] == "aurora-mysql"
    assert props["EngineVersion"].startswith("8.0.mysql_aurora.3.")
    assert props["StorageEncrypted"] is True
    assert ref_id(props["KmsKeyId"]) in of_type(template, "AWS::KMS::Key")
    assert props["EngineLifecycleSupport"] == "open-source-rds-extended-support-disabled"
    params = only(template, "AWS::RDS::DBClusterParameterGroup")["Parameters"]
    assert params["require_secure_transport"] == "ON"


def test_aurora_lives_in_the_isolated_database_subnets(
    synthesized: Synthesized, stage: str
) -> None:
    subnet_group = only(synthesized.template(stage, "data"), "AWS::RDS::DBSubnetGroup")
    outputs = [str(s) for s in subnet_group["SubnetIds"]]
    assert len(outputs) == 2 and all("databaseSubnet" in s for s in outputs)
    for instance in of_type(synthesized.template(stage, "data"), "AWS::RDS::DBInstance").values():
        assert instance["Properties"]["PubliclyAccessible"] is False


def test_aurora_credentials_are_generated_in_secrets_manager(
    synthesized: Synthesized, stage: str
) -> None:
    props = _cluster(synthesized, stage)["Properties"]
    password = str(props["MasterUserPassword"])
    assert "{{resolve:secretsmanager:" in password
    # No scheduled single-user rotation: it would cut the running backend off (runbook).
    template = synthesized.template(stage, "data")
    assert not of_type(template, "AWS::SecretsManager::RotationSchedule")


def test_aurora_backups_and_protection(synthesized: Synthesized, stage: str) -> None:
    cluster = _cluster(synthesized, stage)
    props = cluster["Properties"]
    assert props["BackupRetentionPeriod"] >= 7
    assert props["BackupRetentionPeriod"] == stage_config(stage).aurora.backup_retention_days
    if stage == "dev":
        assert props["DeletionProtection"] is False
        assert cluster["DeletionPolicy"] == "Delete"
    else:
        assert props["DeletionProtection"] is True
        assert cluster["DeletionPolicy"] == "Snapshot"
        assert cluster["UpdateReplacePolicy"] == "Snapshot"


def test_aurora_topology(synthesized: Synthesized, stage: str) -> None:
    instances = of_type(synthesized.template(stage, "data"), "AWS::RDS::DBInstance").values()
    props = _cluster(synthesized, stage)["Properties"]
    if stage == "dev":
        # One Serverless v2 writer that scales to zero and pauses when idle.
        assert [i["Properties"]["DBInstanceClass"] for i in instances] == ["db.serverless"]
        scaling = props["ServerlessV2ScalingConfiguration"]
        assert scaling["MinCapacity"] == 0
        assert scaling["SecondsUntilAutoPause"] == 600
    else:
        placed = sorted(
            (i["Properties"]["PromotionTier"], i["Properties"]["AvailabilityZone"])
            for i in instances
        )
        # Writer in 2a, reader in 2c first in line for failover.
        assert placed == [(0, "ap-northeast-2a"), (1, "ap-northeast-2c")]
        assert props.get("BacktrackWindow") == 24 * 3600


def test_aurora_log_exports_have_retention(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "data")
    exports = _cluster(synthesized, stage)["Properties"]["EnableCloudwatchLogsExports"]
    assert set(exports) == {"audit", "error", "slowquery"}
    retention = stage_config(stage).aurora.log_retention_days
    names = {
        g["Properties"]["LogGroupName"]: g["Properties"]["RetentionInDays"]
        for g in of_type(template, "AWS::Logs::LogGroup").values()
    }
    for export in exports:
        assert names[f"/aws/rds/cluster/openmarket-{stage}-aurora/{export}"] == retention
    # No LogRetention custom-resource Lambda is needed for that.
    assert not of_type(template, "Custom::LogRetention")


def _cache(synthesized: Synthesized, stage: str) -> dict[str, Any]:
    (group,) = of_type(
        synthesized.template(stage, "data"), "AWS::ElastiCache::ReplicationGroup"
    ).values()
    return group


def test_cache_is_encrypted_with_auth_from_secrets_manager(
    synthesized: Synthesized, stage: str
) -> None:
    props = _cache(synthesized, stage)["Properties"]
    assert props["Engine"] in ("valkey", "redis")
    assert int(props["EngineVersion"].split(".")[0]) >= 7
    assert props["TransitEncryptionEnabled"] is True
    assert props["TransitEncryptionMode"] == "required"
    assert props["AtRestEncryptionEnabled"] is True
    assert "KmsKeyId" in props
    assert "{{resolve:secretsmanager:" in str(props["AuthToken"])


def test_cache_topology_and_snapshots(synthesized: Synthesized, stage: str) -> None:
    group = _cache(synthesized, stage)
    props = group["Properties"]
    cfg = stage_config(stage).cache
    assert props["SnapshotRetentionLimit"] == cfg.snapshot_retention_days
    if stage == "dev":
        assert props["NumCacheClusters"] == 1
        assert props["MultiAZEnabled"] is False
        assert group["DeletionPolicy"] == "Delete"
    else:
        assert props["NumCacheClusters"] == 2
        assert props["PreferredCacheClusterAZs"] == ["ap-northeast-2a", "ap-northeast-2c"]
        assert props["MultiAZEnabled"] is True
        assert props["AutomaticFailoverEnabled"] is True
        assert group["DeletionPolicy"] == "Snapshot"
    if stage == "prod":
        assert props["SnapshotRetentionLimit"] >= 7


def test_cache_lives_in_the_isolated_database_subnets(synthesized: Synthesized, stage: str) -> None:
    subnet_group = only(synthesized.template(stage, "data"), "AWS::ElastiCache::SubnetGroup")
    assert all("databaseSubnet" in str(s) for s in subnet_group["SubnetIds"])
    assert len(subnet_group["SubnetIds"]) == 2


def test_data_keys_rotate_and_secrets_survive_in_staging_and_prod(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "data")
    keys = of_type(template, "AWS::KMS::Key").values()
    assert keys and all(k["Properties"]["EnableKeyRotation"] for k in keys)
    secrets = of_type(template, "AWS::SecretsManager::Secret").values()
    assert len(secrets) == 2  # Aurora admin, cache AUTH
    expected = "Delete" if stage == "dev" else "Retain"
    assert {s["DeletionPolicy"] for s in secrets} == {expected}
    assert {k["DeletionPolicy"] for k in keys} == {expected}


def test_readers_scale_on_reader_cpu_in_staging_and_prod(
    synthesized: Synthesized, stage: str
) -> None:
    """Aurora Auto Scaling: from today's readers up to the configured maximum, at 70 % CPU."""
    template = synthesized.template(stage, "data")
    targets = of_type(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    policies = of_type(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
    if stage == "dev":  # Serverless v2, a single writer: nothing to scale out
        assert not targets and not policies
        return
    aurora = stage_config(stage).aurora
    (target_id,) = targets
    target = targets[target_id]["Properties"]
    assert target["ServiceNamespace"] == "rds"
    assert target["ScalableDimension"] == "rds:cluster:ReadReplicaCount"
    cluster_id = next(iter(of_type(template, "AWS::RDS::DBCluster")))
    assert target["ResourceId"] == {"Fn::Join": ["", ["cluster:", {"Ref": cluster_id}]]}
    assert (target["MinCapacity"], target["MaxCapacity"]) == (
        aurora.reader_count,
        aurora.max_reader_count,
    )
    assert target["MinCapacity"] >= 1 and target["MaxCapacity"] <= 15
    # Registered after the instances it scales around exist.
    instances = set(of_type(template, "AWS::RDS::DBInstance"))
    assert instances and instances <= set(targets[target_id].get("DependsOn", []))
    # Aurora Auto Scaling acts through its service-linked role, not a role of this stack.
    assert target["RoleARN"] == (
        "arn:aws:iam::000000000000:role/aws-service-role/rds.application-autoscaling."
        "amazonaws.com/AWSServiceRoleForApplicationAutoScaling_RDSCluster"
    )
    if stage == "prod":
        assert target["MaxCapacity"] >= 3
    (policy,) = (p["Properties"] for p in policies.values())
    assert ref_id(policy["ScalingTargetId"]) == target_id
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == aurora.reader_target_cpu_percent == 70
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "RDSReaderAverageCPUUtilization"
    }
    assert tracking["ScaleOutCooldown"] == aurora.reader_scale_out_cooldown_minutes * 60
    assert tracking["ScaleInCooldown"] == aurora.reader_scale_in_cooldown_minutes * 60
    assert tracking["ScaleOutCooldown"] < tracking["ScaleInCooldown"]
