"""ClusterStack invariants, per stage, and the manifests `make manifests` renders from config."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import kubernetes_validate
import pytest
from aws_cdk import lambda_layer_kubectl_v35

from charts.stage import STAGE_CHART_KINDS, render_stage
from openmarket_cdk.chart_values import placeholder_chart_values
from openmarket_cdk.config import KUBERNETES_VERSION, STAGE_NAMES, stage_config
from tests.cfn import (
    as_list,
    nodegroup_launch_template,
    of_type,
    only,
    pod_identity,
    ref_id,
    role_statements,
)
from tests.conftest import Synthesized

KUBECTL_MANIFEST_LIMIT = 262_144  # bytes the kubectl handler accepts per manifest

pytestmark = pytest.mark.parametrize("stage", STAGE_NAMES)


def _cluster(synthesized: Synthesized, stage: str) -> dict[str, Any]:
    return only(synthesized.template(stage, "cluster"), "AWS::EKS::Cluster")


def test_version_support_policy_and_kubectl_layer(synthesized: Synthesized, stage: str) -> None:
    props = _cluster(synthesized, stage)
    assert props["Version"] == KUBERNETES_VERSION == stage_config(stage).kubernetes.version
    assert props["UpgradePolicy"] == {"SupportType": "STANDARD"}
    # The kubectl layer package serves the cluster's minor version.
    layer_minor = re.search(r"kubectl_v(\d+)", lambda_layer_kubectl_v35.__name__)
    assert layer_minor is not None
    assert f"1.{layer_minor.group(1)}" == KUBERNETES_VERSION


def test_secrets_envelope_encryption(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "cluster")
    (encryption,) = _cluster(synthesized, stage)["EncryptionConfig"]
    assert encryption["Resources"] == ["secrets"]
    key = of_type(template, "AWS::KMS::Key")[encryption["Provider"]["KeyArn"]["Fn::GetAtt"][0]]
    assert key["Properties"]["EnableKeyRotation"] is True


def test_control_plane_logs(synthesized: Synthesized, stage: str) -> None:
    enabled = {
        t["Type"] for t in _cluster(synthesized, stage)["Logging"]["ClusterLogging"]["EnabledTypes"]
    }
    five = {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    if stage == "dev":
        # Who did what, and why an IAM principal was refused: never dropped.
        assert enabled == {"audit", "authenticator"}
    else:
        assert enabled == five
    groups = of_type(synthesized.template(stage, "cluster"), "AWS::Logs::LogGroup").values()
    names = {
        g["Properties"]["LogGroupName"]: g["Properties"].get("RetentionInDays")
        for g in groups
        if isinstance(g["Properties"].get("LogGroupName"), str)
    }
    retention = stage_config(stage).kubernetes.control_plane_log_retention_days
    assert names[f"/aws/eks/openmarket-{stage}/cluster"] == retention


def test_api_endpoint_exposure(synthesized: Synthesized, stage: str) -> None:
    vpc = _cluster(synthesized, stage)["ResourcesVpcConfig"]
    assert vpc["EndpointPrivateAccess"] is True
    if stage == "dev":
        assert vpc["EndpointPublicAccess"] is True
        cidrs = vpc["PublicAccessCidrs"]
        assert cidrs == list(stage_config("dev").kubernetes.public_endpoint_cidrs)
        assert "0.0.0.0/0" not in cidrs
    else:
        assert vpc["EndpointPublicAccess"] is False


def test_admin_access_entry_from_config(synthesized: Synthesized, stage: str) -> None:
    entries = of_type(synthesized.template(stage, "cluster"), "AWS::EKS::AccessEntry").values()
    admin = [
        e["Properties"]
        for e in entries
        if e["Properties"]["PrincipalArn"] == stage_config(stage).names.admin_role_arn
    ]
    assert len(admin) == 1
    (policy,) = admin[0]["AccessPolicies"]
    assert "AmazonEKSClusterAdminPolicy" in json.dumps(policy["PolicyArn"])


def test_one_node_group_per_zone_in_its_private_subnet(
    synthesized: Synthesized, stage: str
) -> None:
    """The Cluster Autoscaler cannot choose the zone of a multi-AZ group: one group per zone,
    each in that zone's private subnet, tagged with its zone (stage sleep finds them so)."""
    template = synthesized.template(stage, "cluster")
    config = stage_config(stage)
    k8s = config.kubernetes
    groups = of_type(template, "AWS::EKS::Nodegroup")
    assert len(groups) == len(config.availability_zones) == 2
    zones = {}
    for logical_id, group in groups.items():
        props = group["Properties"]
        assert props["InstanceTypes"] == [
            k8s.node_instance_type,
            *k8s.spot_alternative_instance_types,
        ]
        # dev runs Spot (two pools of t3.medium's shape); staging and prod on-demand.
        assert props["CapacityType"] == ("SPOT" if stage == "dev" else "ON_DEMAND")
        (subnet,) = props["Subnets"]
        zone = props["Tags"]["openmarket:zone"]
        index = config.availability_zones.index(zone) + 1
        assert f"privateSubnet{index}" in json.dumps(subnet), logical_id
        zones[zone] = logical_id
        # A generated name: a replacement creates the new group before the old one goes.
        assert "NodegroupName" not in props
        # No size under CloudFormation (below).
        assert "ScalingConfig" not in props
    assert set(zones) == set(config.availability_zones)
    # The bounds come from Custom::NodegroupScaling, per zone; the totals are the stage's.
    bounds = {
        ref_id(r["Properties"]["NodegroupName"]): (
            r["Properties"]["MinSize"],
            r["Properties"]["MaxSize"],
        )
        for r in of_type(template, "Custom::NodegroupScaling").values()
    }
    assert bounds == {zones[z]: b for z, b in config.node_group_sizes.items()}
    assert sum(low for low, _ in bounds.values()) == k8s.node_min_size
    assert sum(high for _, high in bounds.values()) == k8s.node_max_size
    data = nodegroup_launch_template(template)
    assert data["MetadataOptions"] == {"HttpPutResponseHopLimit": 1, "HttpTokens": "required"}
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    groups_text = json.dumps(data["SecurityGroupIds"])
    assert "AppSecurityGroup" in groups_text and "ClusterSecurityGroupId" in groups_text


def test_the_autoscaler_keeps_its_count_across_template_changes(
    synthesized: Synthesized, stage: str
) -> None:
    """No DesiredSize anywhere under CloudFormation: the custom resource sets it on create
    only, and keeps the autoscaler's count on update (tests/test_nodegroup_scaling.py)."""
    template = json.dumps(synthesized.template(stage, "cluster"))
    assert "DesiredSize" not in template


def test_addons(synthesized: Synthesized, stage: str) -> None:
    addons = {
        a["Properties"]["AddonName"]: a["Properties"]
        for a in of_type(synthesized.template(stage, "cluster"), "AWS::EKS::Addon").values()
    }
    assert set(addons) == {
        "vpc-cni",
        "coredns",
        "kube-proxy",
        "eks-pod-identity-agent",
        "metrics-server",
        "aws-ebs-csi-driver",
        # Container Insights metrics for the dashboard, and the log agent (Fluent Bit).
        "amazon-cloudwatch-observability",
    }
    assert json.loads(addons["vpc-cni"]["ConfigurationValues"]) == {
        "enableNetworkPolicy": "true",
        "env": {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"},
    }
    (association,) = addons["aws-ebs-csi-driver"]["PodIdentityAssociations"]
    assert association["ServiceAccount"] == "ebs-csi-controller-sa"
    insights = addons["amazon-cloudwatch-observability"]
    # The one log agent per node: the add-on's Fluent Bit, sized from config.
    agent = stage_config(stage).kubernetes.monitoring.log_agent
    assert json.loads(insights["ConfigurationValues"]) == {
        "containerLogs": {
            "enabled": True,
            "fluentBit": {
                "resources": {
                    "requests": {"cpu": agent.cpu_request, "memory": agent.memory_request},
                    "limits": {"cpu": agent.cpu_limit, "memory": agent.memory_limit},
                }
            },
        }
    }
    (association,) = insights["PodIdentityAssociations"]
    assert association["ServiceAccount"] == "cloudwatch-agent"


def test_the_log_agents_groups_exist_first_with_stage_retention(
    synthesized: Synthesized, stage: str
) -> None:
    """The add-on creates a missing group without retention (kept for ever, billed for
    ever): all four exist before it, with the stage's retention."""
    template = synthesized.template(stage, "cluster")
    groups = {
        g["Properties"].get("LogGroupName"): logical_id
        for logical_id, g in of_type(template, "AWS::Logs::LogGroup").items()
        if isinstance(g["Properties"].get("LogGroupName"), str)
    }
    (insights,) = [
        a
        for a in of_type(template, "AWS::EKS::Addon").values()
        if a["Properties"]["AddonName"] == "amazon-cloudwatch-observability"
    ]
    for kind in ("application", "dataplane", "host", "performance"):
        logical_id = groups[f"/aws/containerinsights/openmarket-{stage}/{kind}"]
        group = template["Resources"][logical_id]["Properties"]
        assert group["RetentionInDays"] == {"dev": 7, "staging": 30, "prod": 90}[stage]
        assert logical_id in insights["DependsOn"], kind


def test_helm_charts_are_pinned(synthesized: Synthesized, stage: str) -> None:
    charts = {
        c["Properties"]["Chart"]: c["Properties"]
        for c in of_type(
            synthesized.template(stage, "cluster"), "Custom::AWSCDK-EKS-HelmChart"
        ).values()
    }
    expected = {
        "aws-load-balancer-controller",
        "external-secrets",
        "cluster-autoscaler",
        "prometheus-operator-crds",
        "kube-prometheus-stack",
    }
    # ExternalDNS wherever the stage has a domain (docs/deployment.md).
    assert set(charts) == expected | ({"external-dns"} if stage_config(stage).edge else set())
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", c["Version"]) for c in charts.values())


def test_backend_pod_role_reaches_uploads_and_the_order_bus_only(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "cluster")
    role_id = str(ref_id(pod_identity(template, f"openmarket-{stage}", "backend")["RoleArn"]))
    trust = of_type(template, "AWS::IAM::Role")[role_id]["Properties"]["AssumeRolePolicyDocument"]
    assert {s["Principal"]["Service"] for s in trust["Statement"]} == {"pods.eks.amazonaws.com"}
    statements = role_statements(template, role_id)
    services = {a.split(":")[0] for s in statements for a in as_list(s["Action"])}
    assert services == {"s3", "kms", "events"}
    s3_resources = {
        r
        for s in statements
        if "s3:GetObject" in as_list(s["Action"])
        for r in as_list(s["Resource"])
    }
    bucket = f"arn:aws:s3:::openmarket-{stage}-uploads-000000000000"
    assert s3_resources == {f"{bucket}/uploads/*", f"{bucket}/thumbnails/*"}
    writes = [s for s in statements if "s3:PutObject" in as_list(s["Action"])]
    assert [w["Resource"] for w in writes] == [f"{bucket}/uploads/*"]
    (put_events,) = [s for s in statements if "events:PutEvents" in as_list(s["Action"])]
    assert "OrdersEventBus" in json.dumps(put_events["Resource"])


def test_external_secrets_reads_only_the_four_synced_secrets(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "cluster")
    role_id = str(ref_id(pod_identity(template, "external-secrets", "external-secrets")["RoleArn"]))
    statements = role_statements(template, role_id)
    reads = [s for s in statements if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
    resources = [r for s in reads for r in as_list(s["Resource"])]
    assert len(resources) == 4
    for secret in ("AuroraAdminSecret", "CacheAuthSecret", "GrafanaAdminSecret", "SlackWebhooks"):
        assert secret in json.dumps(resources)


def test_waf_rules(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "cluster")
    if not stage_config(stage).kubernetes.waf_enabled:
        # dev: no web ACL; its ALB's security group admits its listed ranges only.
        assert of_type(template, "AWS::WAFv2::WebACL") == {}
        assert stage_config(stage).alb_is_restricted
        return
    acl = only(template, "AWS::WAFv2::WebACL")
    assert acl["Scope"] == "REGIONAL"
    rules = {r["Name"]: r for r in acl["Rules"]}
    assert {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesSQLiRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
    } <= set(rules)
    rate = rules["rate-limit-per-ip"]["Statement"]["RateBasedStatement"]
    assert rate["Limit"] == stage_config(stage).kubernetes.waf_rate_limit_per_5min
    assert rules["rate-limit-per-ip"]["Action"] == {"Block": {}}


def _manifests(synthesized: Synthesized, stage: str) -> list[tuple[str, dict[str, Any]]]:
    template = synthesized.template(stage, "cluster")
    return [
        (logical_id, resource)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "Custom::AWSCDK-EKS-KubernetesResource"
        and logical_id.startswith("ClusterChart")
    ]


def test_charts_are_applied_in_order_and_fit_the_handler(
    synthesized: Synthesized, stage: str
) -> None:
    manifests = dict(_manifests(synthesized, stage))
    order = [f"ClusterChart{kind.replace('-', '')}" for kind in STAGE_CHART_KINDS]
    # Logical id = path + an 8-character hash (grafana is a prefix of grafana-dashboard-*).
    ids = {prefix: next(k for k in manifests if k[:-8] == prefix) for prefix in order}
    for before, after in itertools.pairwise(order):
        assert ids[before] in manifests[ids[after]]["DependsOn"], (before, after)
    for logical_id, resource in manifests.items():
        size = len(json.dumps(resource["Properties"]["Manifest"]).encode())
        assert size < KUBECTL_MANIFEST_LIMIT, (logical_id, size)
    ingress = json.dumps(manifests[ids["ClusterChartingress"]]["Properties"]["Manifest"])
    # The stack's own web ACL ARN, or "none" where the stage has no WAF.
    if stage_config(stage).kubernetes.waf_enabled:
        assert "WebAcl" in ingress
    else:
        assert 'wafv2-acl-arn\\":\\"none' in ingress
    # ALB access logs go to the stage's logs bucket (its policy admits ELB's log delivery).
    assert f"access_logs.s3.bucket=openmarket-{stage}-logs-000000000000" in ingress


def rendered_objects(stage: str) -> list[dict[str, Any]]:
    """Every object of every chart of the stage, as make manifests renders them."""
    rendered = render_stage(placeholder_chart_values(stage_config(stage)))
    return [obj for objects in rendered.values() for obj in objects]


def _containers(objects: list[dict[str, Any]], namespace: str | None = None) -> list[Any]:
    return [
        container
        for obj in objects
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
        and (namespace is None or obj["metadata"].get("namespace") == namespace)
        for container in obj["spec"]["template"]["spec"]["containers"]
    ]


def test_rendered_manifests_are_valid_for_both_versions(stage: str) -> None:
    objects = [
        obj
        for objs in render_stage(placeholder_chart_values(stage_config(stage))).values()
        for obj in objs
    ]
    for version in (KUBERNETES_VERSION, "1.28"):
        for obj in objects:
            if obj["apiVersion"].startswith(("external-secrets.io/", "monitoring.coreos.com/")):
                continue  # CRDs: checked structurally in tests/charts/
            kubernetes_validate.validate(obj, version, strict=True)


def test_rendered_containers_have_limits_probes_and_restricted_context(stage: str) -> None:
    objects = [
        obj
        for objs in render_stage(placeholder_chart_values(stage_config(stage))).values()
        for obj in objs
    ]
    every = _containers(objects)
    apps = _containers(objects, namespace=f"openmarket-{stage}")
    assert len(apps) == 2 and len(every) >= len(apps)
    for container in every:
        # Limits everywhere, no escalation, no capabilities kept (the monitoring pods are
        # the kube-prometheus-stack release's: tests/charts/monitoring/test_stack_values.py).
        assert {"requests", "limits"} <= set(container["resources"]), container["name"]
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
    for container in apps:
        assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container)
        assert container["securityContext"]["runAsNonRoot"] is True
        for env in container.get("env", []):
            if any(word in env["name"] for word in ("PASSWORD", "SECRET", "TOKEN")):
                assert "valueFrom" in env and "value" not in env, env["name"]
    assert not [obj for obj in objects if obj["kind"] == "Secret"]


def test_monitoring_secrets_exist_and_external_secrets_may_read_them(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "cluster")
    names = {
        s["Properties"]["Name"]: logical_id
        for logical_id, s in of_type(template, "AWS::SecretsManager::Secret").items()
    }
    grafana = names[f"openmarket-{stage}/grafana/admin"]
    slack = names[f"openmarket-{stage}/alertmanager/slack"]
    generated = of_type(template, "AWS::SecretsManager::Secret")[grafana]["Properties"]
    assert generated["GenerateSecretString"]["GenerateStringKey"] == "admin-password"
    role_id = str(ref_id(pod_identity(template, "external-secrets", "external-secrets")["RoleArn"]))
    readable = json.dumps(
        [
            s["Resource"]
            for s in role_statements(template, role_id)
            if "secretsmanager:GetSecretValue" in as_list(s["Action"])
        ]
    )
    assert grafana in readable and slack in readable


def test_monitoring_charts_follow_the_app_charts(synthesized: Synthesized, stage: str) -> None:
    manifests = dict(_manifests(synthesized, stage))
    ids = {logical_id.removeprefix("ClusterChart")[:-8]: logical_id for logical_id in manifests}
    order = [k.replace("-", "") for k in STAGE_CHART_KINDS]
    assert sorted(ids) == sorted(order)
    for before, after in itertools.pairwise(order):
        assert ids[before] in manifests[ids[after]]["DependsOn"], (before, after)
    # kube-prometheus-stack between the secrets its pods mount and the objects of its CRDs:
    # CRDs release -> stack release -> OpenMarket's rules, monitor and dashboard.
    releases = {
        r["Properties"]["Release"]: (logical_id, r)
        for logical_id, r in of_type(
            synthesized.template(stage, "cluster"), "Custom::AWSCDK-EKS-HelmChart"
        ).items()
    }
    crds_id, crds = releases["prometheus-operator-crds"]
    stack_id, stack = releases["kube-prometheus-stack"]
    assert ids["monitoringsecrets"] in crds["DependsOn"]
    assert any(d.startswith("AlertmanagerAccess") for d in crds["DependsOn"])
    assert crds_id in stack["DependsOn"]
    assert stack_id in manifests[ids["openmarketmonitoring"]]["DependsOn"]
    for logical_id, resource in manifests.items():
        size = len(json.dumps(resource["Properties"]["Manifest"]).encode())
        assert size < KUBECTL_MANIFEST_LIMIT, (logical_id, size)
