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
    assert values["autoDiscovery"] == {"clusterName": config.cluster_name}
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
    assert scale["Condition"]["StringEquals"] == {
        f"aws:ResourceTag/k8s.io/cluster-autoscaler/{config.cluster_name}": "owned",
        "aws:ResourceTag/eks:nodegroup-name": config.nodegroup_name,
    }
    assert f"autoScalingGroupName/eks-{config.nodegroup_name}-*" in json.dumps(scale["Resource"])
    # Everything else only reads.
    others = [a for s in statements if s is not scale for a in as_list(s["Action"])]
    assert all(re.match(r"\w+:(Describe|Get)", action) for action in others), others


def test_the_autoscaler_starts_after_its_credentials_and_the_nodes(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "cluster")
    _, chart = _autoscaler_chart(synthesized, stage)
    depends = set(chart.get("DependsOn", []))
    nodegroup = next(iter(of_type(template, "AWS::EKS::Nodegroup")))
    association = next(
        i
        for i, a in of_type(template, "AWS::EKS::PodIdentityAssociation").items()
        if a["Properties"]["ServiceAccount"] == "cluster-autoscaler"
    )
    assert {nodegroup, association} <= depends


def test_nodes_take_the_configured_max_pods(synthesized: Synthesized, stage: str) -> None:
    k8s = stage_config(stage).kubernetes
    template = synthesized.template(stage, "cluster")
    data = nodegroup_launch_template(template)
    user_data = data["UserData"]["Fn::Base64"]
    text = user_data if isinstance(user_data, str) else json.dumps(user_data)
    assert "application/node.eks.aws" in text
    assert f"maxPods: {k8s.max_pods_per_node}" in text
    assert f'maxPodsExpression: \\"{k8s.max_pods_per_node}\\"' in json.dumps(text)


def test_the_night_schedule_and_the_autoscaler_do_not_fight(
    synthesized: Synthesized, stage: str
) -> None:
    config = stage_config(stage)
    hours = config.observability.working_hours
    _, chart = _autoscaler_chart(synthesized, stage)
    objects = _values(chart).get("extraObjects", [])
    if not hours.enabled:
        assert objects == []
        return
    cronjobs = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "CronJob"}
    sleep, wake = cronjobs["cluster-autoscaler-sleep"], cronjobs["cluster-autoscaler-wake"]
    assert sleep["timeZone"] == wake["timeZone"] == hours.time_zone == "Asia/Seoul"

    def scaled_to(spec: dict[str, Any]) -> str:
        (container,) = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        (replicas,) = [a for a in container["args"] if a.startswith("--replicas=")]
        return str(replicas)

    assert scaled_to(sleep) == "--replicas=0"
    assert scaled_to(wake) == f"--replicas={config.kubernetes.node_autoscaler.replicas}"
    # The autoscaler sleeps before the node group is emptied and wakes with the nodes.
    sleep_minute, sleep_hour, *_, sleep_days = sleep["schedule"].split()
    wake_minute, wake_hour, *_, wake_days = wake["schedule"].split()
    assert (int(sleep_hour), int(sleep_minute)) < (hours.stop_hour, 0)
    assert (int(wake_hour), int(wake_minute)) == (hours.start_hour, 0)
    assert sleep_days == wake_days == "1-5" and hours.weekdays == "MON-FRI"
    # ...and the node group's schedule is what the CronJobs are timed against.
    schedules = {
        s["Properties"]["Name"]: s["Properties"]
        for s in of_type(
            synthesized.template(stage, "observability"), "AWS::Scheduler::Schedule"
        ).values()
    }
    stop = schedules[f"{config.prefix}-nodes-stop"]
    assert stop["ScheduleExpression"] == f"cron(0 {hours.stop_hour} ? * {hours.weekdays} *)"
    stop_input = json.loads(stop["Target"]["Input"])
    assert stop_input["ScalingConfig"]["DesiredSize"] == 0
    assert stop_input["ScalingConfig"]["MaxSize"] == config.kubernetes.node_max_size
    # The scaler may scale the autoscaler's Deployment and nothing else.
    (role,) = [o for o in objects if o["kind"] == "Role"]
    assert role["rules"] == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "deployments/scale"],
            "resourceNames": ["cluster-autoscaler"],
            "verbs": ["get", "patch", "update"],
        }
    ]
