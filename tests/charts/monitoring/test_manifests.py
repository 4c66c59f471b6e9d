"""The rendered monitoring objects: valid Kubernetes, as locked down as each component
allows, sized for the kubectl handler, and free of secrets."""

from __future__ import annotations

import json
import re
from typing import Any

import kubernetes_validate
import pytest

from charts.monitoring import MAX_CHART_BYTES, MONITORING_CHART_KINDS, chart_bytes
from openmarket_cdk.config import KUBERNETES_VERSION, MonitoringImages
from tests.charts.conftest import POD_TEMPLATE_KINDS, Manifest
from tests.charts.monitoring.conftest import RenderedMonitoring, stage_params
from tests.charts.test_schemas import ESO_API_VERSION, check_external_secret, check_secret_store

VERSIONS = (KUBERNETES_VERSION, "1.28")
CRD_KINDS = {"SecretStore", "ExternalSecret"}
HOST_AGENTS = {"node-exporter", "fluent-bit"}
# The original design's budget: (cpu request, cpu limit, memory request, memory limit) as rendered.
BUDGET = {
    "prometheus": ("500m", "2000m", "1024Mi", "4096Mi"),
    "grafana": ("250m", "1000m", "512Mi", "2048Mi"),
    "alertmanager": ("100m", "500m", "128Mi", "512Mi"),
    "node-exporter": ("100m", "200m", "128Mi", "256Mi"),
    "kube-state-metrics": ("100m", "500m", "128Mi", "512Mi"),
    "fluent-bit": ("100m", "500m", "128Mi", "512Mi"),
}
IMAGES = {
    "prometheus": MonitoringImages().prometheus,
    "grafana": MonitoringImages().grafana,
    "alertmanager": MonitoringImages().alertmanager,
    "node-exporter": MonitoringImages().node_exporter,
    "kube-state-metrics": MonitoringImages().kube_state_metrics,
    "fluent-bit": MonitoringImages().fluent_bit,
}
# Exact release tags (vX.Y.Z or X.Y.Z): never latest, never a moving minor tag.
RELEASE_TAG = re.compile(r"v?\d+\.\d+\.\d+")


def workloads(rendered: RenderedMonitoring) -> dict[str, Manifest]:
    return {
        obj["metadata"]["name"]: obj
        for obj in rendered.all_objects()
        if obj["kind"] in POD_TEMPLATE_KINDS
    }


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("stage", stage_params())
def test_core_objects_validate_strictly(
    monitoring: dict[str, RenderedMonitoring], stage: str, version: str
) -> None:
    for obj in monitoring[stage].all_objects():
        if obj["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} on {version}: {error.message}")


@pytest.mark.parametrize("stage", stage_params())
def test_external_secrets_objects_are_well_formed(
    monitoring: dict[str, RenderedMonitoring], stage: str
) -> None:
    rendered = monitoring[stage]
    (store,) = rendered.of_kind("SecretStore")
    secrets = rendered.of_kind("ExternalSecret")
    check_secret_store(store)
    assert store["apiVersion"] == ESO_API_VERSION
    assert store["metadata"]["namespace"] == "monitoring"
    assert store["spec"]["provider"]["aws"] == {
        "service": "SecretsManager",
        "region": "ap-northeast-2",
    }
    remote = {}
    for secret in secrets:
        check_external_secret(secret)
        assert secret["apiVersion"] == ESO_API_VERSION
        assert secret["spec"]["secretStoreRef"]["name"] == store["metadata"]["name"]
        assert secret["spec"]["target"]["creationPolicy"] == "Owner"
        (key,) = {item["remoteRef"]["key"] for item in secret["spec"]["data"]}
        remote[secret["metadata"]["name"]] = key
    assert remote == {
        "grafana-admin": f"openmarket-{stage}/grafana/admin",
        "alertmanager-slack": f"openmarket-{stage}/alertmanager/slack",
    }


@pytest.mark.parametrize("stage", stage_params())
def test_every_chart_fits_the_kubectl_handler_payload(
    monitoring: dict[str, RenderedMonitoring], stage: str
) -> None:
    for kind in MONITORING_CHART_KINDS:
        size = chart_bytes(monitoring[stage].charts[kind])
        assert size < MAX_CHART_BYTES, (kind, size)


def test_namespaces_and_their_pod_security(dev: RenderedMonitoring) -> None:
    labels = {ns["metadata"]["name"]: ns["metadata"]["labels"] for ns in dev.of_kind("Namespace")}
    assert labels["monitoring"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["monitoring"]["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["monitoring-agents"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels["monitoring-agents"]["pod-security.kubernetes.io/audit"] == "baseline"


def test_only_the_host_agents_run_in_the_agents_namespace(dev: RenderedMonitoring) -> None:
    placement = {name: obj["metadata"]["namespace"] for name, obj in workloads(dev).items()}
    assert placement == {
        "prometheus": "monitoring",
        "alertmanager": "monitoring",
        "grafana": "monitoring",
        "kube-state-metrics": "monitoring",
        "node-exporter": "monitoring-agents",
        "fluent-bit": "monitoring-agents",
    }


def test_restricted_workloads_meet_the_restricted_profile(dev: RenderedMonitoring) -> None:
    for name, workload in workloads(dev).items():
        if name in HOST_AGENTS:
            continue
        spec = pod_spec(workload)
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
        assert all("hostPath" not in volume for volume in spec.get("volumes", [])), name
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True and context["runAsUser"] >= 10000, name
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["privileged"] is False


def test_host_access_is_only_what_each_agent_needs(dev: RenderedMonitoring) -> None:
    agents = workloads(dev)
    node_exporter = pod_spec(agents["node-exporter"])
    assert node_exporter["hostNetwork"] is True and "hostPID" not in node_exporter
    host_paths = {v["hostPath"]["path"] for v in node_exporter["volumes"]}
    assert host_paths == {"/proc", "/sys", "/"}
    (container,) = node_exporter["containers"]
    assert all(mount["readOnly"] for mount in container["volumeMounts"])
    assert container["securityContext"]["runAsUser"] == 65534
    assert container["securityContext"]["readOnlyRootFilesystem"] is True

    fluent_bit = pod_spec(agents["fluent-bit"])
    assert not fluent_bit.get("hostNetwork") and not fluent_bit.get("hostPID")
    paths = {v["hostPath"]["path"] for v in fluent_bit["volumes"] if "hostPath" in v}
    assert paths == {"/var/log", "/var/fluent-bit/state"}
    (container,) = fluent_bit["containers"]
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"]}
    assert mounts["/var/log"] is True
    context = container["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["allowPrivilegeEscalation"] is False and context["privileged"] is False
    assert context["readOnlyRootFilesystem"] is True


def test_api_tokens_only_where_the_api_is_called(dev: RenderedMonitoring) -> None:
    callers = {"prometheus", "kube-state-metrics", "fluent-bit"}
    for name, workload in workloads(dev).items():
        spec = pod_spec(workload)
        assert spec["automountServiceAccountToken"] is False
        assert spec["serviceAccountName"] == name
        projected = [v for v in spec.get("volumes", []) if "projected" in v]
        assert bool(projected) == (name in callers), name
        for volume in projected:
            sources = volume["projected"]["sources"]
            assert sources[0]["serviceAccountToken"]["expirationSeconds"] <= 3607


# dev requests less for Prometheus and Grafana (limits unchanged) so that it fits the original
# design's two nodes (openmarket_cdk/config/stages.py; docs/capacity.md).
DEV_REQUESTS = {"prometheus": ("200m", "512Mi"), "grafana": ("100m", "256Mi")}


@pytest.mark.parametrize("stage", stage_params())
def test_resources_follow_the_spec_budget(
    monitoring: dict[str, RenderedMonitoring], stage: str
) -> None:
    for name, workload in workloads(monitoring[stage]).items():
        (container,) = pod_spec(workload)["containers"]
        resources = container["resources"]
        rendered = (
            resources["requests"]["cpu"],
            resources["limits"]["cpu"],
            resources["requests"]["memory"],
            resources["limits"]["memory"],
        )
        budget = BUDGET[name]
        if stage == "dev" and name in DEV_REQUESTS:
            cpu, memory = DEV_REQUESTS[name]
            budget = (cpu, budget[1], memory, budget[3])
        assert rendered == budget, name


def test_images_are_pinned_release_tags(dev: RenderedMonitoring) -> None:
    for name, workload in workloads(dev).items():
        (container,) = pod_spec(workload)["containers"]
        assert container["image"] == IMAGES[name]
        tag = container["image"].rsplit(":", 1)[1]
        assert RELEASE_TAG.fullmatch(tag), container["image"]


def test_every_container_has_probes(dev: RenderedMonitoring) -> None:
    for name, workload in workloads(dev).items():
        (container,) = pod_spec(workload)["containers"]
        assert "livenessProbe" in container and "readinessProbe" in container, name


def test_no_secret_value_in_any_manifest(monitoring: dict[str, RenderedMonitoring]) -> None:
    for rendered in monitoring.values():
        text = json.dumps(rendered.all_objects())
        assert "hooks.slack.com" not in text
        assert not re.search(r"GF_SECURITY_ADMIN_PASSWORD\"\s*,\s*\"value", text)
        assert rendered.of_kind("Secret") == []
        grafana = pod_spec(rendered.one("Deployment", "grafana"))
        env = {e["name"]: e.get("value") for e in grafana["containers"][0]["env"]}
        assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/etc/grafana/admin/admin-password"
        assert env["GF_SECURITY_ADMIN_USER__FILE"] == "/etc/grafana/admin/admin-user"
        assert "GF_SECURITY_ADMIN_PASSWORD" not in env


def test_network_policies_cover_every_monitoring_pod(dev: RenderedMonitoring) -> None:
    policies = dev.of_kind("NetworkPolicy")
    by_namespace: dict[str, dict[str, Manifest]] = {}
    for policy in policies:
        by_namespace.setdefault(policy["metadata"]["namespace"], {})[policy["metadata"]["name"]] = (
            policy
        )
    for namespace in ("monitoring", "monitoring-agents"):
        deny = by_namespace[namespace]["default-deny"]
        assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Egress", "Ingress"]}
        assert "allow-dns" in by_namespace[namespace]
    assert set(by_namespace["monitoring"]) == {
        "default-deny",
        "allow-dns",
        "prometheus",
        "alertmanager",
        "grafana",
        "kube-state-metrics",
    }
    assert set(by_namespace["monitoring-agents"]) == {"default-deny", "allow-dns", "fluent-bit"}
    # The app namespace only gains Prometheus' scrape of the backend's port.
    (scrape,) = by_namespace["openmarket-dev"].values()
    assert scrape["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "backend"}}
    (rule,) = scrape["spec"]["ingress"]
    assert rule["ports"] == [{"port": 3001, "protocol": "TCP"}]
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]
    assert "egress" not in scrape["spec"]


def test_alertmanager_egress_is_https_outside_the_vpc_and_its_credentials_only(
    dev: RenderedMonitoring,
) -> None:
    """Slack and SNS (443 outside the VPC), and the node's Pod Identity agent for the role
    that publishes to SNS."""
    policy = next(
        p for p in dev.of_kind("NetworkPolicy") if p["metadata"]["name"] == "alertmanager"
    )
    assert policy["spec"]["egress"] == [
        {
            "ports": [{"port": 443, "protocol": "TCP"}],
            "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/16"]}}],
        },
        {
            "ports": [{"port": 80, "protocol": "TCP"}],
            "to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}],
        },
    ]


def test_selectors_match_pod_labels(dev: RenderedMonitoring) -> None:
    services = {s["metadata"]["name"]: s for s in dev.of_kind("Service")}
    for name, workload in workloads(dev).items():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert workload["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        assert labels["app.kubernetes.io/name"] == name
        if name in services:
            assert services[name]["spec"]["selector"] == {"app.kubernetes.io/name": name}


def test_cluster_scoped_objects_have_no_namespace(dev: RenderedMonitoring) -> None:
    for obj in dev.all_objects():
        if obj["kind"] in {"Namespace", "ClusterRole", "ClusterRoleBinding"}:
            assert "namespace" not in obj["metadata"], obj["metadata"]["name"]
        else:
            assert obj["metadata"]["namespace"], obj["metadata"]["name"]


def test_rbac_never_grants_secrets_or_writes(dev: RenderedMonitoring) -> None:
    for role in dev.of_kind("ClusterRole"):
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}, role["metadata"]["name"]
            assert "secrets" not in rule.get("resources", [])
            assert "*" not in rule.get("resources", []) and "*" not in rule["verbs"]
