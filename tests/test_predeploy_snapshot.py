"""scripts/predeploy_snapshot.py (``make snapshot``) against RDS as moto emulates it.

moto's RDS makes a cluster snapshot ``available`` at once, so the waiting, the failed and the
timed-out paths are exercised with a stand-in client that reports the states a real snapshot
goes through.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from openmarket_cdk.config import StageConfig, stage_config
from scripts import predeploy_snapshot
from scripts.predeploy_snapshot import SnapshotError, snapshot_identifier, take_snapshot
from tests.cfn import of_type
from tests.conftest import Synthesized

SHA = "1f92ea8"
NOW = datetime(2026, 11, 30, 11, 7, 21, tzinfo=UTC)


@pytest.fixture
def rds(emulated_aws: None) -> Any:
    return boto3.client("rds", region_name="ap-northeast-2")


def create_cluster(rds: Any, config: StageConfig) -> None:
    rds.create_db_cluster(
        DBClusterIdentifier=config.names.aurora_cluster_identifier,
        Engine="aurora-mysql",
        MasterUsername="admin_user",
        MasterUserPassword="not-a-real-password",
    )


def test_snapshot_is_named_after_the_commit_and_time_and_is_available(rds: Any) -> None:
    config = stage_config("prod")
    create_cluster(rds, config)
    lines: list[str] = []
    identifier = take_snapshot(rds, config, SHA, now=NOW, log=lines.append)
    assert identifier == "openmarket-prod-predeploy-1f92ea8-20261130-110721"
    (snapshot,) = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=identifier)[
        "DBClusterSnapshots"
    ]
    assert snapshot["Status"] == "available"
    assert snapshot["DBClusterIdentifier"] == "openmarket-prod-aurora"
    assert snapshot["SnapshotType"] == "manual"
    tags = rds.list_tags_for_resource(ResourceName=snapshot["DBClusterSnapshotArn"])["TagList"]
    assert {"Key": "openmarket:commit", "Value": SHA} in tags
    assert any("is available" in line for line in lines)


def test_main_prints_only_the_snapshot_id_on_stdout(
    rds: Any, capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = stage_config("prod")
    create_cluster(rds, config)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert predeploy_snapshot.main(["prod", "--commit", "ABCDEF0123456"], rds=rds) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("openmarket-prod-predeploy-abcdef0-")
    assert out in summary.read_text()


def test_no_cluster_yet_is_a_first_deploy_not_a_failure(
    rds: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert predeploy_snapshot.main(["prod", "--commit", SHA], rds=rds) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "nothing to snapshot" in captured.err
    assert rds.describe_db_cluster_snapshots()["DBClusterSnapshots"] == []


def test_a_cluster_rds_refuses_to_snapshot_fails_with_the_way_out(
    rds: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = stage_config("dev")
    create_cluster(rds, config)
    rds.stop_db_cluster(DBClusterIdentifier=config.names.aurora_cluster_identifier)

    class Refusing:
        """moto snapshots a stopped cluster; RDS may refuse a cluster's state."""

        exceptions = rds.exceptions

        def describe_db_clusters(self, **kwargs: Any) -> Any:
            return rds.describe_db_clusters(**kwargs)

        def create_db_cluster_snapshot(self, **kwargs: Any) -> Any:
            raise rds.exceptions.InvalidDBClusterStateFault(
                {"Error": {"Code": "InvalidDBClusterStateFault", "Message": "stopped"}},
                "CreateDBClusterSnapshot",
            )

    assert predeploy_snapshot.main(["dev", "--commit", SHA], rds=Refusing()) == 1
    err = capsys.readouterr().err
    assert "cannot be snapshotted now" in err
    assert "start-db-cluster --db-cluster-identifier openmarket-dev-aurora" in err


class Progressing:
    """Reports the given snapshot states one poll at a time, then the last one forever."""

    def __init__(self, real: Any, states: list[str]) -> None:
        self.real = real
        self.exceptions = real.exceptions
        self.states = states

    def describe_db_clusters(self, **kwargs: Any) -> Any:
        return self.real.describe_db_clusters(**kwargs)

    def create_db_cluster_snapshot(self, **kwargs: Any) -> Any:
        return self.real.create_db_cluster_snapshot(**kwargs)

    def describe_db_cluster_snapshots(self, **kwargs: Any) -> Any:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"DBClusterSnapshots": [{"Status": state, "PercentProgress": 40}]}


def test_waits_while_the_snapshot_is_being_created(rds: Any) -> None:
    config = stage_config("prod")
    create_cluster(rds, config)
    client = Progressing(rds, ["creating", "creating", "available"])
    slept: list[float] = []
    identifier = take_snapshot(
        client, config, SHA, now=NOW, poll_seconds=10, sleep=slept.append, log=lambda _: None
    )
    assert identifier is not None
    assert slept == [10, 10]


def test_gives_up_after_the_timeout_with_the_command_to_watch(rds: Any) -> None:
    config = stage_config("prod")
    create_cluster(rds, config)
    client = Progressing(rds, ["creating"])
    slept: list[float] = []
    with pytest.raises(SnapshotError, match=r"still creating .* after 1 minutes") as raised:
        take_snapshot(
            client,
            config,
            SHA,
            now=NOW,
            timeout_seconds=60,
            poll_seconds=15,
            sleep=slept.append,
            log=lambda _: None,
        )
    assert "describe-db-cluster-snapshots" in str(raised.value)
    assert sum(slept) == 60


def test_a_failed_snapshot_fails(rds: Any) -> None:
    config = stage_config("prod")
    create_cluster(rds, config)
    with pytest.raises(SnapshotError, match="ended failed"):
        take_snapshot(
            Progressing(rds, ["creating", "failed"]),
            config,
            SHA,
            now=NOW,
            sleep=lambda _: None,
            log=lambda _: None,
        )


@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
def test_identifiers_are_valid_rds_snapshot_identifiers(stage: str) -> None:
    identifier = snapshot_identifier(stage_config(stage), SHA, NOW)
    assert identifier[0].isalpha() and len(identifier) <= 255
    assert "--" not in identifier and not identifier.endswith("-")
    assert all(c.isalnum() or c == "-" for c in identifier)


@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
def test_the_script_snapshots_the_cluster_the_data_stack_names(
    synthesized: Synthesized, stage: str
) -> None:
    (cluster,) = of_type(synthesized.template(stage, "data"), "AWS::RDS::DBCluster").values()
    identifier = cluster["Properties"]["DBClusterIdentifier"]
    assert identifier == stage_config(stage).names.aurora_cluster_identifier
