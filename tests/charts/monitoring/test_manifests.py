"""OpenMarket's rendered monitoring objects: valid Kubernetes, sized for the kubectl
handler, free of secrets, and network policies that fence in every pod the
kube-prometheus-stack release runs."""

from __future__ import annotations

import json
import re

import kubernetes_validate
import pytest

from charts.monitoring import MONITORING_CHART_KINDS
from charts.monitoring.stack import StackPods
from charts.stage import MAX_CHART_BYTES, chart_bytes
from openmarket_cdk.config import KUBERNETES_VERSION
from tests.charts.conftest import POD_TEMPLATE_KINDS, Manifest
from tests.charts.monitoring.conftest import RenderedMonitoring, stage_params
from tests.charts.test_schemas import ESO_API_VERSION, check_external_secret, check_secret_store

VERSIONS = (KUBERNETES_VERSION, "1.28")
CRD_KINDS = {"SecretStore", "ExternalSecret", "PrometheusRule", "ServiceMonitor"}


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


def test_no_pod_is_ours_any_more(dev: RenderedMonitoring) -> None:
    """The release runs every monitoring pod; OpenMarket's charts add configuration only."""
    assert [o for o in dev.all_objects() if o["kind"] in POD_TEMPLATE_KINDS] == []
    kinds = {o["kind"] for o in dev.all_objects()}
    assert kinds == {
        "Namespace",
        "SecretStore",
        "ExternalSecret",
        "PrometheusRule",
        "ServiceMonitor",
        "ConfigMap",
        "NetworkPolicy",
    }


def test_no_secret_value_in_any_manifest(monitoring: dict[str, RenderedMonitoring]) -> None:
    for rendered in monitoring.values():
        text = json.dumps(rendered.all_objects())
        assert "hooks.slack.com" not in text
        assert not re.search(r"GF_SECURITY_ADMIN_PASSWORD\"\s*,\s*\"value", text)
        assert 'admin-password":' not in text
        assert rendered.of_kind("Secret") == []


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
    pods = StackPods(dev.values.release_name)
    selected = {
        name: policy["spec"]["podSelector"].get("matchLabels")
        for name, policy in by_namespace["monitoring"].items()
    }
    # One policy per pod the release runs in the namespace, selecting it as its Service does.
    assert selected == {
        "default-deny": None,
        "allow-dns": None,
        "prometheus": pods.prometheus,
        "alertmanager": pods.alertmanager,
        "grafana": pods.grafana,
        "kube-state-metrics": pods.kube_state_metrics,
        "prometheus-operator": pods.operator,
    }
    # node-exporter is on the host network: the namespace only denies.
    assert set(by_namespace["monitoring-agents"]) == {"default-deny", "allow-dns"}
    # The app namespace only gains Prometheus' scrape of the backend's port.
    (scrape,) = by_namespace["openmarket-dev"].values()
    assert scrape["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "backend"}}
    (rule,) = scrape["spec"]["ingress"]
    assert rule["ports"] == [{"port": 3001, "protocol": "TCP"}]
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": pods.prometheus},
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


def test_grafana_reaches_prometheus_through_its_service(dev: RenderedMonitoring) -> None:
    """The VPC CNI policy controller admits a ClusterIP only when the egress rule's pod
    selector equals the Service's selector: Grafana's datasource is the Service's URL."""
    policy = next(p for p in dev.of_kind("NetworkPolicy") if p["metadata"]["name"] == "grafana")
    pods = StackPods(dev.values.release_name)
    peers = [peer for rule in policy["spec"]["egress"] for peer in rule["to"]]
    assert {"podSelector": {"matchLabels": pods.prometheus}} in peers
    # The chart's Prometheus Service selects exactly these two labels (templates/prometheus/
    # service.yaml at the pinned version).
    assert set(pods.prometheus) == {"app.kubernetes.io/name", "operator.prometheus.io/name"}


def test_prometheus_reaches_every_scrape_target(dev: RenderedMonitoring) -> None:
    policy = next(p for p in dev.of_kind("NetworkPolicy") if p["metadata"]["name"] == "prometheus")
    ports = {port["port"] for rule in policy["spec"]["egress"] for port in rule["ports"]}
    # API, kubelet, node-exporter, Alertmanager (+reloader), Grafana, kube-state-metrics /
    # operator, CoreDNS metrics, the backend.
    assert ports == {443, 10250, 9100, 9093, 8080, 3000, 9153, 3001}


def test_cluster_scoped_objects_have_no_namespace(dev: RenderedMonitoring) -> None:
    for obj in dev.all_objects():
        if obj["kind"] == "Namespace":
            assert "namespace" not in obj["metadata"], obj["metadata"]["name"]
        else:
            assert obj["metadata"]["namespace"], obj["metadata"]["name"]
