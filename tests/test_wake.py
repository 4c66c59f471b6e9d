"""`make wake`: a sleeping stage is started with exactly the calls it needs, an awake one is
left alone (botocore's Stubber checks every call and its parameters; no AWS account)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from openmarket_cdk.config import AuroraCapacity, stage_config
from scripts.aws_access import OperatorError
from scripts.wake_stage import main, wake

REGION = "ap-northeast-2"


def clients() -> tuple[Any, Stubber, Any, Stubber]:
    rds = boto3.client("rds", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    eks = boto3.client("eks", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    return rds, Stubber(rds), eks, Stubber(eks)


def cluster_exists(stub: Stubber, name: str) -> None:
    stub.add_response("describe_cluster", {"cluster": {"name": name}}, {"name": name})


def nodegroup(desired: int) -> dict[str, Any]:
    return {"nodegroup": {"scalingConfig": {"minSize": 0, "desiredSize": desired, "maxSize": 4}}}


def test_a_sleeping_staging_gets_its_database_and_nodes_back() -> None:
    config = stage_config("staging")
    k8s = config.kubernetes
    rds, rds_stub, eks, eks_stub = clients()
    cluster = {"DBClusterIdentifier": "openmarket-staging-aurora"}
    rds_stub.add_response(
        "describe_db_clusters", {"DBClusters": [{**cluster, "Status": "stopped"}]}, cluster
    )
    rds_stub.add_response("start_db_cluster", {}, cluster)
    names = {"clusterName": "openmarket-staging", "nodegroupName": "openmarket-staging-apps"}
    cluster_exists(eks_stub, "openmarket-staging")
    eks_stub.add_response("describe_nodegroup", nodegroup(0), names)
    eks_stub.add_response(
        "update_nodegroup_config",
        {},
        {
            **names,
            "scalingConfig": {
                "minSize": k8s.node_min_size,
                "desiredSize": k8s.node_desired_size,
                "maxSize": k8s.node_max_size,
            },
        },
    )
    with rds_stub, eks_stub:
        done = wake(config, rds, eks, wait=False)
    rds_stub.assert_no_pending_responses()
    eks_stub.assert_no_pending_responses()
    assert done == [
        "started Aurora cluster openmarket-staging-aurora",
        f"scaled node group openmarket-staging-apps to {k8s.node_desired_size}",
    ]


def test_a_woken_stage_is_marked_awake_for_the_alerting_heartbeat() -> None:
    """The dead man's switch of a sleeping stage holds still while the last mark is 'asleep':
    make wake must mark it awake, or a woken stage whose monitoring fails pages nobody."""
    config = stage_config("staging")
    rds, rds_stub, eks, eks_stub = clients()
    cluster = {"DBClusterIdentifier": "openmarket-staging-aurora"}
    rds_stub.add_response(
        "describe_db_clusters", {"DBClusters": [{**cluster, "Status": "available"}]}, cluster
    )
    cluster_exists(eks_stub, "openmarket-staging")
    eks_stub.add_response(
        "describe_nodegroup",
        nodegroup(0),
        {"clusterName": "openmarket-staging", "nodegroupName": "openmarket-staging-apps"},
    )
    eks_stub.add_response("update_nodegroup_config", {})
    cloudwatch = boto3.client(
        "cloudwatch", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    cloudwatch_stub = Stubber(cloudwatch)
    cloudwatch_stub.add_response(
        "put_metric_data",
        {},
        {
            "Namespace": "OpenMarket/StageSleep",
            "MetricData": [
                {
                    "MetricName": "Asleep",
                    "Dimensions": [{"Name": "Stage", "Value": "staging"}],
                    "Value": 0,
                    "Unit": "Count",
                }
            ],
        },
    )
    with rds_stub, eks_stub, cloudwatch_stub:
        done = wake(config, rds, eks, wait=False, cloudwatch=cloudwatch)
    cloudwatch_stub.assert_no_pending_responses()
    assert done[-1].startswith("marked the stage awake")


def test_an_awake_stage_is_left_alone() -> None:
    config = stage_config("staging")
    rds, rds_stub, eks, eks_stub = clients()
    cluster = {"DBClusterIdentifier": "openmarket-staging-aurora"}
    rds_stub.add_response(
        "describe_db_clusters", {"DBClusters": [{**cluster, "Status": "available"}]}, cluster
    )
    cluster_exists(eks_stub, "openmarket-staging")
    eks_stub.add_response(
        "describe_nodegroup",
        nodegroup(config.kubernetes.node_desired_size),
        {"clusterName": "openmarket-staging", "nodegroupName": "openmarket-staging-apps"},
    )
    with rds_stub, eks_stub:
        assert wake(config, rds, eks) == []


def ec2_client() -> tuple[Any, Stubber]:
    ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    return ec2, Stubber(ec2)


def nat_filters(stage: str) -> dict[str, Any]:
    return {
        "Filters": [
            {"Name": "tag:openmarket:sleeps", "Values": [stage]},
            {"Name": "instance-state-name", "Values": ["stopped", "stopping"]},
        ]
    }


NAT_FILTERS = nat_filters("dev")


def stopped(instance_id: str, state: str = "stopped") -> dict[str, Any]:
    return {
        "Reservations": [{"Instances": [{"InstanceId": instance_id, "State": {"Name": state}}]}]
    }


def test_dev_wakes_its_nat_instance_then_its_nodes_serverless_aurora_resumes_by_itself() -> None:
    config = stage_config("dev")
    rds, rds_stub, eks, eks_stub = clients()
    ec2, ec2_stub = ec2_client()
    # The NAT instance first: booting nodes pull their images through it.
    ec2_stub.add_response("describe_instances", stopped("i-0123456789abcdef0"), NAT_FILTERS)
    ec2_stub.add_response("start_instances", {}, {"InstanceIds": ["i-0123456789abcdef0"]})
    cluster_exists(eks_stub, "openmarket-dev")
    eks_stub.add_response(
        "describe_nodegroup",
        nodegroup(0),
        {"clusterName": "openmarket-dev", "nodegroupName": "openmarket-dev-apps"},
    )
    eks_stub.add_response("update_nodegroup_config", {})
    with rds_stub, eks_stub, ec2_stub:  # no RDS call at all: the stubber would fail on one
        assert wake(config, rds, eks, wait=False, ec2=ec2) == [
            "started NAT instance i-0123456789abcdef0",
            f"scaled node group openmarket-dev-apps to {config.kubernetes.node_desired_size}",
        ]
    ec2_stub.assert_no_pending_responses()
    eks_stub.assert_no_pending_responses()


def test_a_stopping_nat_instance_is_a_clear_retry_message() -> None:
    rds, rds_stub, eks, eks_stub = clients()
    ec2, ec2_stub = ec2_client()
    ec2_stub.add_response("describe_instances", stopped("i-0abc", "stopping"), NAT_FILTERS)
    with (
        ec2_stub,
        eks_stub,
        rds_stub,
        pytest.raises(OperatorError, match="stopping: run make wake again"),
    ):
        wake(stage_config("dev"), rds, eks, ec2=ec2)


def test_a_stage_whose_nat_instance_sleeps_needs_an_ec2_client() -> None:
    rds, _, eks, _ = clients()
    with pytest.raises(ValueError, match="NAT instance sleeps"):
        wake(stage_config("dev"), rds, eks)


def test_the_first_deploy_into_an_empty_account_finds_nothing_to_wake() -> None:
    """The deploy workflow wakes before it deploys: before the first deploy there is no
    database, node group or NAT instance yet, and that must not stop the deploy."""
    for name in ("dev", "staging"):
        config = stage_config(name)
        rds, rds_stub, eks, eks_stub = clients()
        ec2, ec2_stub = ec2_client()
        if config.observability.working_hours.nat_instance_sleeps:
            ec2_stub.add_response("describe_instances", {"Reservations": []}, nat_filters(name))
        if config.aurora.capacity is AuroraCapacity.PROVISIONED:
            rds_stub.add_client_error("describe_db_clusters", "DBClusterNotFoundFault")
        # No cluster yet: the node group is not even asked for.
        eks_stub.add_client_error("describe_cluster", "ResourceNotFoundException")
        with rds_stub, eks_stub, ec2_stub:
            done = wake(config, rds, eks, ec2=ec2)
        assert done[-1] == f"node group openmarket-{name}-apps not found: not deployed yet"
        for stub in (rds_stub, eks_stub, ec2_stub):
            stub.assert_no_pending_responses()


def test_a_stopping_cluster_is_a_clear_retry_message() -> None:
    rds, rds_stub, eks, eks_stub = clients()
    rds_stub.add_response(
        "describe_db_clusters",
        {"DBClusters": [{"DBClusterIdentifier": "x", "Status": "stopping"}]},
    )
    with rds_stub, eks_stub, pytest.raises(OperatorError, match="stopping: run make wake again"):
        wake(stage_config("staging"), rds, eks)


def test_prod_never_sleeps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prod"]) == 0
    assert "prod never sleeps" in capsys.readouterr().out
