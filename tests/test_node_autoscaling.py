"""Node autoscaling invariants, per stage: the Cluster Autoscaler is installed, pinned and
least-privileged; the node group gives it room; dev's night schedule and the autoscaler do
not fight (the autoscaler sleeps before the node group is emptied, wakes with the nodes)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from openmarket_cdk.config import KUBERNETES_VERSION, STAGE_NAMES, stage_config
from tests.cfn import (
    as_list,
    nodegroup_launch_template,
    of_type,
    pod_identity,
    ref_id,
    role_statements,
)
from tests.conftest import Synthesized

pytestmark = pytest.mark.parametrize("stage", STAGE_NAMES)


def _autoscaler_chart(synthesized: Synthesized, stage: str) -> tuple[str, dict[str, Any]]:
    charts = of_type(synthesized.template(stage, "cluster"), "Custom::AWSCDK-EKS-HelmChart")
    ((logical_id, resource),) = [
        (i, r) for i, r in charts.items() if r["Properties"]["Chart"] == "cluster-autoscaler"
    ]
    return logical_id, resource


def _values(resource: dict[str, Any]) -> dict[str, Any]:
    values = resource["Properties"]["Values"]
    assert isinstance(values, str), "the autoscaler's values carry no deploy-time token"
    parsed: dict[str, Any] = json.loads(values)
    return parsed


def test_cluster_autoscaler_is_pinned_and_discovers_this_cluster(
    synthesized: Synthesized, stage: str
) -> None:
    config = stage_config(stage)
    autoscaler = config.kubernetes.node_autoscaler
    _, chart = _autoscaler_chart(synthesized, stage)
    props = chart["Properties"]
    assert props["Repository"] == "https://kubernetes.github.io/autoscaler"
    assert props["Version"] == autoscaler.chart_version
    assert props["Namespace"] == "kube-system"
    values = _values(chart)
    assert values["image"]["tag"].startswith(f"v{KUBERNETES_VERSION}.")
    assert values["autoDiscovery"] == {"clusterName": config.names.cluster_name}
    assert values["awsRegion"] == config.region
    assert values["replicaCount"] == autoscaler.replicas
    assert values["resources"]["requests"] == {
        "cpu": autoscaler.resources.cpu_request,
        "memory": autoscaler.resources.memory_request,
    }
    args = values["extraArgs"]
    assert args["balance-similar-node-groups"] is True
    assert args["expander"] == "least-waste"
    assert args["skip-nodes-with-system-pods"] is False


def test_cluster_autoscaler_may_scale_only_this_node_group(
    synthesized: Synthesized, stage: str
) -> None:
    config = stage_config(stage)
    template = synthesized.template(stage, "cluster")
    association = pod_identity(template, "kube-system", "cluster-autoscaler")
    assert association["Namespace"] == "kube-system"
    statements = role_statements(template, ref_id(association["RoleArn"]))
    mutating = {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}
    (scale,) = [s for s in statements if mutating & set(as_list(s["Action"]))]
    assert set(scale["Action"]) == mutating
    # This cluster's node groups' Auto Scaling groups (their names are generated).
    assert scale["Condition"]["StringEquals"] == {
        f"aws:ResourceTag/k8s.io/cluster-autoscaler/{config.names.cluster_name}": "owned",
        "aws:ResourceTag/eks:cluster-name": config.names.cluster_name,
    }
    assert "autoScalingGroupName/eks-*" in json.dumps(scale["Resource"])
    # Everything else only reads.
    others = [a for s in statements if s is not scale for a in as_list(s["Action"])]
    assert all(re.match(r"\w+:(Describe|Get)", action) for action in others), others


def test_the_autoscaler_starts_after_its_credentials_and_the_nodes(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "cluster")
    _, chart = _autoscaler_chart(synthesized, stage)
    depends = set(chart.get("DependsOn", []))
    nodegroups = set(of_type(template, "AWS::EKS::Nodegroup"))
    association = next(
        i
        for i, a in of_type(template, "AWS::EKS::PodIdentityAssociation").items()
        if a["Properties"]["ServiceAccount"] == "cluster-autoscaler"
    )
    assert len(nodegroups) == 2 and {*nodegroups, association} <= depends


def test_nodes_take_the_configured_max_pods(synthesized: Synthesized, stage: str) -> None:
    k8s = stage_config(stage).kubernetes
    template = synthesized.template(stage, "cluster")
    data = nodegroup_launch_template(template)
    user_data = data["UserData"]["Fn::Base64"]
    text = user_data if isinstance(user_data, str) else json.dumps(user_data)
    assert "application/node.eks.aws" in text
    assert f"maxPods: {k8s.max_pods_per_node}" in text
    assert f'maxPodsExpression: \\"{k8s.max_pods_per_node}\\"' in json.dumps(text)


def test_the_autoscaler_balances_zones_and_runs_no_night_cronjobs(
    synthesized: Synthesized, stage: str
) -> None:
    """One node group per zone, kept even; stage sleep (not CronJobs in the release) scales
    the autoscaler for the night and back (tests/test_stage_sleep_stack.py)."""
    _, chart = _autoscaler_chart(synthesized, stage)
    values = _values(chart)
    assert values["extraArgs"]["balance-similar-node-groups"] is True
    assert "extraObjects" not in values
