"""make kubectl: the Session Manager tunnel to a private endpoint and the kubeconfig through it,
with emulated EKS/EC2 (moto) and stand-ins for the AWS CLI's session and kubectl."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

from openmarket_cdk.config import CLUSTER_ACCESS_TAG, stage_config
from scripts import cluster_access

REGION = "ap-northeast-2"
PROD = stage_config("prod", "123456789012")

# `aws ssm start-session ... --parameters {...localPortNumber...}`: listen on that port like
# the Session Manager plugin does, and record the command line.
FAKE_AWS = f"""#!{sys.executable}
import json, os, socket, sys, time
args = sys.argv[1:]
open(os.environ["RECORD"] + ".aws", "w").write(json.dumps(args))
params = json.loads(args[args.index("--parameters") + 1])
server = socket.socket()
server.bind(("127.0.0.1", int(params["localPortNumber"][0])))
server.listen()
print("Waiting for connections...", flush=True)
time.sleep(60)
"""
# kubectl: record its arguments and the kubeconfig it was given.
FAKE_KUBECTL = f"""#!{sys.executable}
import json, os, sys
record = {{"args": sys.argv[1:], "config": json.load(open(os.environ["KUBECONFIG"]))}}
open(os.environ["RECORD"] + ".kubectl", "w").write(json.dumps(record))
"""


@pytest.fixture
def operator_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (
        ("aws", FAKE_AWS),
        ("kubectl", FAKE_KUBECTL),
        ("session-manager-plugin", "#!/bin/sh\nexit 0\n"),
    ):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    record = tmp_path / "record"
    monkeypatch.setenv("RECORD", str(record))
    return record


def deployed(config: Any) -> str:
    """An EKS cluster and a tagged access instance in emulated AWS; the endpoint's host."""
    eks = boto3.client("eks", region_name=REGION)
    cluster = eks.create_cluster(
        name=config.names.cluster_name,
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": []},
    )["cluster"]
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": CLUSTER_ACCESS_TAG, "Value": config.name}],
            }
        ],
    )
    # DNS names are case-insensitive; urllib gives them in lower case.
    return str(urlparse(str(cluster["endpoint"])).hostname)


def test_a_private_endpoint_is_reached_through_the_tunnel(
    emulated_aws: None, operator_tools: Path
) -> None:
    host = deployed(PROD)
    code = cluster_access.open_kubectl(PROD, ["get", "nodes"])
    assert code == 0
    aws_args = json.loads(Path(f"{operator_tools}.aws").read_text())
    assert aws_args[:2] == ["ssm", "start-session"]
    assert aws_args[aws_args.index("--document-name") + 1] == (
        "AWS-StartPortForwardingSessionToRemoteHost"
    )
    params = json.loads(aws_args[aws_args.index("--parameters") + 1])
    assert params["host"] == [host] and params["portNumber"] == ["443"]
    kubectl = json.loads(Path(f"{operator_tools}.kubectl").read_text())
    assert kubectl["args"] == ["get", "nodes"]
    (cluster,) = kubectl["config"]["clusters"]
    assert cluster["cluster"]["server"] == f"https://127.0.0.1:{params['localPortNumber'][0]}"
    # The certificate is checked against the endpoint's real name, not 127.0.0.1.
    assert cluster["cluster"]["tls-server-name"] == host
    (user,) = kubectl["config"]["users"]
    exec_args = user["user"]["exec"]["args"]
    assert exec_args[exec_args.index("--role-arn") + 1] == PROD.names.admin_role_arn


def test_no_access_instance_is_one_line(emulated_aws: None, operator_tools: Path) -> None:
    boto3.client("eks", region_name=REGION).create_cluster(
        name=PROD.names.cluster_name,
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": []},
    )
    with pytest.raises(cluster_access.OperatorError, match="no running instance tagged"):
        cluster_access.open_kubectl(PROD, ["get", "nodes"])


def test_dev_goes_straight_to_its_office_only_public_endpoint() -> None:
    dev = stage_config("dev")
    assert not cluster_access.needs_tunnel(dev)
    assert cluster_access.needs_tunnel(stage_config("staging"))
    config = cluster_access.kubeconfig(
        dev,
        server="https://ABC.gr7.x.eks.amazonaws.com",
        certificate_authority="Q0E=",
        tls_server_name=None,
        role_arn=None,
    )
    assert "tls-server-name" not in config["clusters"][0]["cluster"]
    assert "--role-arn" not in config["users"][0]["user"]["exec"]["args"]


def test_a_caller_already_in_the_admin_role_does_not_assume_it_again() -> None:
    role = PROD.kubernetes.admin_role_name
    assert (
        cluster_access.role_to_assume(PROD, f"arn:aws:sts::123456789012:assumed-role/{role}/alice")
        is None
    )
    assert (
        cluster_access.role_to_assume(
            PROD, "arn:aws:sts::123456789012:assumed-role/Developer/alice"
        )
        == PROD.names.admin_role_arn
    )


def test_the_documented_admin_role_policy_allows_what_make_kubectl_does() -> None:
    """docs/admin-role/: the role operators create once may open exactly this session."""
    from tests.conftest import ROOT

    policy = json.loads((ROOT / "docs/admin-role/cluster-access-policy.json").read_text())
    statements = {s["Sid"]: s for s in policy["Statement"]}
    document = statements["WithTheRemoteHostForwardingDocumentOnly"]["Resource"]
    assert document.endswith(f"::document/{cluster_access.FORWARDING_DOCUMENT}")
    assert document.startswith(f"arn:aws:ssm:{REGION}:")
    instances = statements["PortForwardThroughTheClusterAccessInstanceOnly"]
    assert f"ssm:resourceTag/{CLUSTER_ACCESS_TAG}" in instances["Condition"]["StringLike"]
    assert "eks:DescribeCluster" in statements["FindTheClusters"]["Action"]
    trust = json.loads((ROOT / "docs/admin-role/trust-policy.json").read_text())
    assert trust["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::ACCOUNT_ID:root"}
