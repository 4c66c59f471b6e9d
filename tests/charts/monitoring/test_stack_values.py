"""The kube-prometheus-stack release's values: every key one the pinned chart has, the
original design's numbers, secrets by reference only, and nothing that loosens the chart's
own (Pod Security "restricted") pod settings.

No chart can be rendered here (no helm, no chart repository): the chart's value keys are
recorded per pinned version in charts/monitoring/chart_keys/ (tools/helm_values_keys.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charts.monitoring import stack_values
from charts.monitoring.stack import DISABLED_ALERTS, DISABLED_RULE_GROUPS, fullname
from openmarket_cdk.config import MonitoringStackRelease, pins, stage_config
from tests.charts.monitoring.conftest import RenderedMonitoring, monitoring_values, stage_params
from tests.conftest import Synthesized

KEYS_DIR = Path(__file__).resolve().parents[3] / "charts" / "monitoring" / "chart_keys"
# Maps the chart copies verbatim into a config file or object: any key below them is the
# config's own (Alertmanager's schema is checked by amtool, Grafana's ini by Grafana).
PASS_THROUGH = ("alertmanager.config", 'grafana."grafana.ini"')


def recorded_keys(name: str) -> tuple[str, set[str], set[str]]:
    """(header, keys, open maps) of a chart's recorded value keys."""
    lines = (KEYS_DIR / f"{name}.txt").read_text().splitlines()
    header, body = lines[0], lines[1:]
    return (
        header,
        {k for k in body if not k.endswith("{}")},
        {k[:-2] for k in body if k.endswith("{}")},
    )


def leaf_paths(node: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every leaf (and every list) of a values map; dotted keys quoted."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            part = f'"{key}"' if "." in key else key
            yield from leaf_paths(value, f"{prefix}.{part}" if prefix else part)
    else:
        yield prefix


def unknown_keys(values: dict[str, Any], chart: str) -> list[str]:
    _, keys, open_maps = recorded_keys(chart)
    unknown = []
    for path in leaf_paths(values):
        if path in keys or any(path.startswith(f"{p}.") for p in (*PASS_THROUGH, *open_maps)):
            continue
        unknown.append(path)
    return unknown


@pytest.mark.parametrize("stage", stage_params())
def test_every_value_is_a_key_of_the_pinned_chart(stage: str) -> None:
    """A misspelt key is silently ignored by Helm at deploy time."""
    assert unknown_keys(stack_values(monitoring_values(stage)), "kube-prometheus-stack") == []


def test_the_key_check_catches_a_misspelt_key() -> None:
    values = stack_values(monitoring_values("dev"))
    values["prometheus"]["prometheusSpec"]["retentionSise"] = "1GB"
    values["grafana"]["sidecar"]["dashboard"] = {"searchNamespace": "x"}
    assert unknown_keys(values, "kube-prometheus-stack") == [
        "prometheus.prometheusSpec.retentionSise",
        "grafana.sidecar.dashboard.searchNamespace",
    ]


def test_the_recorded_keys_are_those_of_the_pinned_versions() -> None:
    release = MonitoringStackRelease()
    header, _, _ = recorded_keys("kube-prometheus-stack")
    assert f"kube-prometheus-stack {release.chart_version} " in header
    header, _, open_maps = recorded_keys("prometheus-operator-crds")
    assert f"prometheus-operator-crds {release.crds_chart_version}" in header
    assert "crds.annotations" in open_maps


def test_the_crds_are_their_own_release_and_survive_its_uninstall(
    synthesized: Synthesized,
) -> None:
    """CRDs as templates of prometheus-operator-crds (upgraded with it), not the chart's
    crds/ directory (Helm installs those once and never upgrades them); kept on uninstall."""
    values = stack_values(monitoring_values("dev"))
    assert values["crds"] == {"enabled": False}
    releases = _helm_releases(synthesized, "dev")
    crds = json.loads(releases["prometheus-operator-crds"]["Values"])
    assert crds == {"crds": {"annotations": {"helm.sh/resource-policy": "keep"}}}
    assert unknown_keys(crds, "prometheus-operator-crds") == []


def _helm_releases(synthesized: Synthesized, stage: str) -> dict[str, dict[str, Any]]:
    template = synthesized.template(stage, "cluster")
    return {
        r["Properties"]["Release"]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "Custom::AWSCDK-EKS-HelmChart"
    }


@pytest.mark.parametrize("stage", stage_params())
def test_the_cluster_installs_the_pinned_release_with_these_values(
    synthesized: Synthesized, stage: str
) -> None:
    release = stage_config(stage).kubernetes.monitoring.stack
    installed = _helm_releases(synthesized, stage)[release.release_name]
    assert installed["Chart"] == "kube-prometheus-stack"
    assert installed["Version"] == release.chart_version
    assert re.fullmatch(r"\d+\.\d+\.\d+", release.chart_version)
    assert installed["Repository"] == "https://prometheus-community.github.io/helm-charts"
    assert installed["Namespace"] == "monitoring"
    assert json.loads(installed["Values"]) == stack_values(monitoring_values(stage))


def test_scrapes_every_15s_and_keeps_30_days_below_the_volume(dev: RenderedMonitoring) -> None:
    spec = stack_values(dev.values)["prometheus"]["prometheusSpec"]
    assert spec["scrapeInterval"] == "15s" and spec["evaluationInterval"] == "15s"
    assert spec["retention"] == "30d"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "gp3"
    assert claim["accessModes"] == ["ReadWriteOnce"]
    # dev: a 20Gi volume (two nodes, test traffic), retention by size below it.
    assert claim["resources"]["requests"]["storage"] == "20Gi"
    assert spec["retentionSize"] == "18GB"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }


def test_prod_keeps_the_original_100gi_and_30_days(
    monitoring: dict[str, RenderedMonitoring],
) -> None:
    for stage, (volume, size) in {"prod": ("100Gi", "90GB"), "staging": ("20Gi", "18GB")}.items():
        spec = stack_values(monitoring[stage].values)["prometheus"]["prometheusSpec"]
        assert spec["retention"] == "30d"
        assert spec["retentionSize"] == size
        claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
        assert claim["resources"]["requests"]["storage"] == volume


# The original design's budget (cpu request, cpu limit, memory request, memory limit).
BUDGET = {
    ("prometheus", "prometheusSpec"): ("500m", "2000m", "1Gi", "4Gi"),
    ("grafana",): ("250m", "1000m", "512Mi", "2Gi"),
    ("alertmanager", "alertmanagerSpec"): ("100m", "500m", "128Mi", "512Mi"),
    ("prometheus-node-exporter",): ("100m", "200m", "128Mi", "256Mi"),
    ("kube-state-metrics",): ("100m", "500m", "128Mi", "512Mi"),
}
# dev requests less for Prometheus and Grafana (limits unchanged) so that it fits the original
# design's two nodes (openmarket_cdk/config/stages.py; docs/capacity.md).
DEV_REQUESTS = {
    ("prometheus", "prometheusSpec"): ("200m", "512Mi"),
    ("grafana",): ("100m", "256Mi"),
}


def _dig(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        values = values[key]
    return values


@pytest.mark.parametrize("stage", stage_params())
def test_each_server_gets_the_original_budget(stage: str) -> None:
    values = stack_values(monitoring_values(stage))
    for path, budget in BUDGET.items():
        if stage == "dev" and path in DEV_REQUESTS:
            cpu, memory = DEV_REQUESTS[path]
            budget = (cpu, budget[1], memory, budget[3])
        resources = _dig(values, path)["resources"]
        rendered = (
            resources["requests"]["cpu"],
            resources["limits"]["cpu"],
            resources["requests"]["memory"],
            resources["limits"]["memory"],
        )
        assert rendered == budget, path


def test_every_container_the_release_runs_has_requests_and_limits(dev: RenderedMonitoring) -> None:
    """The chart sets none for the operator, the config reloaders or Grafana's sidecars: the
    scheduler would pack them anywhere and the kubelet evict them first."""
    values = stack_values(dev.values)
    for path in (
        ("prometheusOperator",),
        ("prometheusOperator", "prometheusConfigReloader"),
        ("grafana", "sidecar"),
        *BUDGET,
    ):
        resources = _dig(values, path)["resources"]
        assert set(resources) == {"requests", "limits"}, path
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def test_images_are_the_pinned_release_tags(dev: RenderedMonitoring) -> None:
    values = stack_values(dev.values)
    for path, reference in {
        ("prometheus", "prometheusSpec"): pins.PROMETHEUS_IMAGE,
        ("alertmanager", "alertmanagerSpec"): pins.ALERTMANAGER_IMAGE,
        ("grafana",): pins.GRAFANA_IMAGE,
        ("kube-state-metrics",): pins.KUBE_STATE_METRICS_IMAGE,
        ("prometheus-node-exporter",): pins.NODE_EXPORTER_IMAGE,
    }.items():
        image = _dig(values, path)["image"]
        assert f"{image['registry']}/{image['repository']}:{image['tag']}" == reference
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", image["tag"]), reference
    # The chart would append -distroless to node-exporter's tag.
    assert values["prometheus-node-exporter"]["image"]["distroless"] is False


def test_secrets_by_reference_only(monitoring: dict[str, RenderedMonitoring]) -> None:
    for rendered in monitoring.values():
        values = stack_values(rendered.values)
        grafana = values["grafana"]
        assert (
            grafana["admin"]["existingSecret"] == rendered.values.secrets.grafana_admin_secret_name
        )
        assert "adminPassword" not in grafana and "adminUser" not in grafana
        text = json.dumps(values)
        assert "hooks.slack.com" not in text and '"api_url"' not in text
        assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == [
            rendered.values.secrets.slack_secret_name
        ]


def test_nothing_loosens_the_charts_pod_security(dev: RenderedMonitoring) -> None:
    """The chart's pods meet "restricted" with its own defaults (runAsNonRoot, seccomp,
    no privilege escalation, all capabilities dropped): no value overrides them, and only
    node-exporter (host network, PIDs, paths) leaves the restricted namespace."""
    values = stack_values(dev.values)
    forbidden = re.compile(
        r"securityContext|containerSecurityContext|hostNetwork|hostPID|privileged|"
        r"allowPrivilegeEscalation|runAsUser|runAsNonRoot|capabilities|namespaceOverride"
    )
    for path in leaf_paths(values):
        if path == "prometheus-node-exporter.namespaceOverride":
            continue
        assert not forbidden.search(path), path
    assert values["prometheus-node-exporter"]["namespaceOverride"] == "monitoring-agents"


def test_selects_every_rule_and_monitor_not_only_the_releases(dev: RenderedMonitoring) -> None:
    spec = stack_values(dev.values)["prometheus"]["prometheusSpec"]
    for kind in ("serviceMonitor", "podMonitor", "probe", "scrapeConfig", "rule"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False, kind


def test_no_admission_webhook_can_fail_the_first_deploy(dev: RenderedMonitoring) -> None:
    operator = stack_values(dev.values)["prometheusOperator"]
    assert operator["admissionWebhooks"] == {"enabled": False}
    # Without the webhook's certificate job nothing makes the TLS secret the operator mounts.
    assert operator["tls"] == {"enabled": False}


def test_what_eks_hides_is_neither_scraped_nor_alerted_on(dev: RenderedMonitoring) -> None:
    values = stack_values(dev.values)
    for component in ("kubeEtcd", "kubeScheduler", "kubeControllerManager", "kubeProxy"):
        assert values[component] == {"enabled": False}
    assert values["defaultRules"]["rules"] == dict.fromkeys(DISABLED_RULE_GROUPS, False)
    assert values["defaultRules"]["disabled"] == dict.fromkeys(DISABLED_ALERTS, True)


def test_grafana_keeps_to_the_cluster(dev: RenderedMonitoring) -> None:
    grafana = stack_values(dev.values)["grafana"]
    ini = grafana["grafana.ini"]
    assert ini["analytics"]["reporting_enabled"] is False
    assert ini["plugins"]["preinstall_disabled"] is True
    assert ini["auth.anonymous"]["enabled"] is False
    assert ini["users"]["allow_sign_up"] is False
    assert grafana["rbac"]["namespaced"] is True
    assert grafana["sidecar"]["dashboards"]["searchNamespace"] == dev.values.namespace
    assert grafana["testFramework"]["enabled"] is False


def test_the_names_follow_the_chart(dev: RenderedMonitoring) -> None:
    """The chart's fullname: the release name when it contains the chart's, 26 characters."""
    assert fullname("kube-prometheus-stack") == "kube-prometheus-stack"
    assert fullname("monitoring") == "monitoring-kube-prometheus"
    assert len(fullname("a-very-long-release-name-indeed")) <= 26
