"""OpenMarket's own alerting and recording rules (the PrometheusRule ``openmarket``):
promtool accepts them, and each alert fires when its condition holds long enough and stays
quiet when it does not (``promtool test rules``).

The Kubernetes and node alerts of the original design are upstream rules that
kube-prometheus-stack ships (``UPSTREAM_ALERTS`` below, read from the pinned chart); here we check
that the release keeps them enabled and that ours do not collide with them.

The unit tests are data here, dumped to YAML beside the rules file taken from the rendered
PrometheusRule; each alert has a firing case and at least one quiet case.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from charts.monitoring import stack_values
from charts.monitoring.openmarket import MONITORING_API_VERSION, RULES_NAME
from charts.monitoring.rules import alert_names, rule_groups, rules_document
from charts.monitoring.stack import DISABLED_ALERTS, StackPods
from tests.charts.conftest import ROOT
from tests.charts.monitoring.conftest import (
    RenderedMonitoring,
    monitoring_values,
    stage_params,
)

VALUES = monitoring_values("dev")
RUNBOOKS = VALUES.runbook_base_url
NS = "openmarket-dev"
PLATFORM = {"team": "platform"}
CHART_KIND = "openmarket-monitoring"

# The original design's ten alerts (docs/monitoring.md, "Where each alert goes").
ORIGINAL_DESIGN_ALERTS = {
    "Watchdog",
    "TargetDown",
    "KubePodCrashLooping",
    "KubeNodeNotReady",
    "NodeFilesystemSpaceFillingUp",
    "NodeMemoryHighUtilization",
    "CPUThrottlingHigh",
    "KubePersistentVolumeFillingUp",
    "OpenMarketBackendHighErrorRate",
    "OpenMarketBackendHighLatency",
}
# The defaultRules group whose template ships each upstream alert in the pinned chart
# (kube-prometheus-stack 88.5.3, templates/prometheus/rules-1.14/): the flag that, set to
# false, would drop it.
# The upstream alerts that stand for the original design's (docs/monitoring.md maps each), by
# the defaultRules group that ships them in the pinned chart (templates/prometheus/rules-1.14/).
UPSTREAM_ALERTS = SHIPPED_BY = {
    "Watchdog": "general",  # general.rules.yaml
    "TargetDown": "general",  # general.rules.yaml
    "KubePodCrashLooping": "kubernetesApps",  # kubernetes-apps.yaml
    "CPUThrottlingHigh": "kubernetesResources",  # kubernetes-resources.yaml
    "KubePersistentVolumeFillingUp": "kubernetesStorage",  # kubernetes-storage.yaml
    "KubeNodeNotReady": "kubernetesSystem",  # kubernetes-system-kubelet.yaml
    "NodeFilesystemSpaceFillingUp": "nodeExporterAlerting",  # node-exporter.yaml
    "NodeMemoryHighUtilization": "nodeExporterAlerting",  # node-exporter.yaml
}
OPENMARKET_APP_ALERTS = {"OpenMarketBackendHighErrorRate", "OpenMarketBackendHighLatency"}
OPENMARKET_PLATFORM_ALERTS = {"OpenMarketPodsUnschedulable", "AlertDeliveryFailing"}
# Rules about components EKS runs itself: they would fire for ever there.
CONTROL_PLANE_WORDS = ("Scheduler", "ControllerManager", "Etcd", "KubeAPIDown", "KubeletDown")
CHART_KEYS = ROOT / "charts" / "monitoring" / "chart_keys" / "kube-prometheus-stack.txt"


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    selector = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{selector}}}", "values": values}


def alert(
    alertname: str, eval_time: str, labels: dict[str, str], annotations: dict[str, str]
) -> dict[str, Any]:
    return {
        "eval_time": eval_time,
        "alertname": alertname,
        "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}],
    }


def quiet(alertname: str, eval_time: str) -> dict[str, Any]:
    return {"eval_time": eval_time, "alertname": alertname, "exp_alerts": []}


def notes(summary: str, description: str, runbook: str) -> dict[str, str]:
    return {"summary": summary, "description": description, "runbook_url": runbook}


def case(input_series: list[dict[str, str]], *tests: dict[str, Any]) -> dict[str, Any]:
    return {"interval": "1m", "input_series": input_series, "alert_rule_test": list(tests)}


UNSCHEDULABLE = {"job": "kube-state-metrics", "namespace": NS, "pod": "backend-7"}
# The job label the chart's ServiceMonitor gives Alertmanager (its Service's name).
ALERTMANAGER = {"job": StackPods(VALUES.release_name).alertmanager["alertmanager"]}
HTTP = {"job": "backend", "namespace": NS}
METRIC = VALUES.backend.request_duration_metric


def failures(integration: str, values: str, job: dict[str, str] = ALERTMANAGER) -> dict[str, str]:
    return series(
        "alertmanager_notifications_failed_total",
        {**job, "integration": integration, "reason": "other"},
        values,
    )


def requests(code: str, values: str) -> dict[str, str]:
    return series(f"{METRIC}_count", {**HTTP, "status_code": code}, values)


def buckets(counts: dict[str, int]) -> list[dict[str, str]]:
    return [
        series(f"{METRIC}_bucket", {**HTTP, "le": le}, f"0+{count}x30")
        for le, count in counts.items()
    ]


def unit_tests() -> list[dict[str, Any]]:
    return [
        # OpenMarketPodsUnschedulable: a pod Pending/Unschedulable for 15 minutes fires;
        # one the autoscaler found a node for after 5 minutes stays quiet.
        case(
            [
                series("kube_pod_status_unschedulable", {**UNSCHEDULABLE, "uid": "a1"}, "1x20"),
                series(
                    "kube_pod_status_unschedulable",
                    {**UNSCHEDULABLE, "pod": "backend-8", "uid": "b2"},
                    "1x5 _x15",
                ),
            ],
            quiet("OpenMarketPodsUnschedulable", "8m"),
            alert(
                "OpenMarketPodsUnschedulable",
                "15m",
                {"namespace": NS, "pod": "backend-7", "severity": "warning", **PLATFORM},
                notes(
                    "Pods have been unschedulable for 10 minutes: the cluster is out of room.",
                    f"Pod {NS}/backend-7 has waited for a node for more than 10 minutes "
                    "(PodScheduled=False, reason Unschedulable); the Cluster Autoscaler has not "
                    "added one.",
                    f"{RUNBOOKS}#openmarketpodsunschedulable",
                ),
            ),
        ),
        case(  # scheduled after 5 minutes
            [series("kube_pod_status_unschedulable", {**UNSCHEDULABLE, "uid": "a1"}, "1x5 _x15")],
            quiet("OpenMarketPodsUnschedulable", "15m"),
        ),
        # AlertDeliveryFailing: Slack failing for 5 minutes fires, whatever job scraped the
        # counter (the chart's Alertmanager job, or any other name); SNS failing does not
        # (the dead man's switch covers it), nor does one failure that stops.
        case(
            [
                failures("slack", "0+1x20"),
                failures("slack", "0+1x20", job={"job": "alertmanager-operated"}),
                failures("sns", "0+1x20"),
            ],
            quiet("AlertDeliveryFailing", "3m"),
            alert(
                "AlertDeliveryFailing",
                "12m",
                {"integration": "slack", "severity": "critical", **PLATFORM},
                notes(
                    "Alertmanager cannot deliver notifications to slack.",
                    "Notifications to slack have been failing for 5 minutes: alerts routed "
                    "there reach nobody. A channel whose webhook URL is not stored yet fails "
                    "this way (make slack-webhooks).",
                    f"{RUNBOOKS}#alertdeliveryfailing",
                ),
            ),
        ),
        case(  # one failure, then none
            [failures("slack", "0 1 1x20")],
            quiet("AlertDeliveryFailing", "15m"),
        ),
        case(  # only SNS failing
            [failures("sns", "0+1x20")],
            quiet("AlertDeliveryFailing", "15m"),
        ),
        # OpenMarketBackendHighErrorRate: 5 of 105 requests a second fail (4.8 %).
        case(
            [requests("200", "0+100x30"), requests("500", "0+5x30")],
            quiet("OpenMarketBackendHighErrorRate", "5m"),
            alert(
                "OpenMarketBackendHighErrorRate",
                "20m",
                {"namespace": NS, "severity": "critical", "team": "app"},
                notes(
                    "The OpenMarket API answers too many requests with a 5xx error.",
                    f"4.762% of the backend's requests in {NS} failed with a 5xx status over "
                    "the last 5 minutes (target: below 1%).",
                    f"{RUNBOOKS}#openmarketbackendhigherrorrate",
                ),
            ),
        ),
        case(
            [requests("200", "0+100x30"), requests("500", "0+0x30")],
            quiet("OpenMarketBackendHighErrorRate", "20m"),
        ),
        # OpenMarketBackendHighLatency: p95 of 0.97 s (80 % of requests take 0.5-1 s).
        case(
            buckets({"0.1": 10, "0.5": 20, "1": 100, "+Inf": 100}),
            quiet("OpenMarketBackendHighLatency", "5m"),
            alert(
                "OpenMarketBackendHighLatency",
                "20m",
                {"namespace": NS, "severity": "warning", "team": "app"},
                notes(
                    "The OpenMarket API's p95 latency is above its target.",
                    f"The backend's 95th percentile response time in {NS} is 968.8ms over the "
                    "last 5 minutes (target: below 500 ms).",
                    f"{RUNBOOKS}#openmarketbackendhighlatency",
                ),
            ),
        ),
        case(
            buckets({"0.1": 100, "0.5": 100, "1": 100, "+Inf": 100}),
            quiet("OpenMarketBackendHighLatency", "20m"),
        ),
    ]


def prometheus_rule(rendered: RenderedMonitoring) -> dict[str, Any]:
    """The PrometheusRule of the openmarket-monitoring chart (exactly one)."""
    (rule,) = [obj for obj in rendered.manifests[CHART_KIND] if obj["kind"] == "PrometheusRule"]
    assert rule["apiVersion"] == MONITORING_API_VERSION
    assert rule["metadata"]["name"] == RULES_NAME
    spec: dict[str, Any] = rule["spec"]
    return spec


@pytest.fixture(scope="module")
def rules_file(dev: RenderedMonitoring, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rules file exactly as the rendered PrometheusRule's spec carries it."""
    path: Path = tmp_path_factory.mktemp("rules") / "openmarket.rules.yaml"
    path.write_text(yaml.safe_dump(prometheus_rule(dev), sort_keys=False))
    return path


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def alert_rules() -> dict[str, dict[str, Any]]:
    return {
        rule["alert"]: rule
        for group in rule_groups(VALUES)
        for rule in group["rules"]
        if "alert" in rule
    }


def default_rule_groups() -> set[str]:
    """The defaultRules.rules.<group> flags of the pinned chart (its recorded value keys)."""
    prefix = "defaultRules.rules."
    return {
        line.removeprefix(prefix)
        for line in CHART_KEYS.read_text().splitlines()
        if line.startswith(prefix) and "." not in line.removeprefix(prefix)
    }


def test_promtool_accepts_the_rules(promtool: str, rules_file: Path) -> None:
    result = run([promtool, "check", "rules", str(rules_file)])
    assert result.returncode == 0, result.stdout + result.stderr
    count = sum(len(group["rules"]) for group in rules_document(VALUES)["groups"])
    assert count == 8  # 4 alerts, 4 recording rules
    assert f"SUCCESS: {count} rules found" in result.stdout


@pytest.mark.parametrize("stage", stage_params())
def test_the_prometheus_rule_carries_the_rules_as_built(
    monitoring: dict[str, RenderedMonitoring], stage: str
) -> None:
    rendered = monitoring[stage]
    assert prometheus_rule(rendered) == rules_document(rendered.values)


def test_every_alert_fires_and_stays_quiet_as_specified(
    promtool: str, rules_file: Path, tmp_path: Path
) -> None:
    tests = tmp_path / "rules.test.yaml"
    tests.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rules_file)],
                "evaluation_interval": "1m",
                "tests": unit_tests(),
            },
            sort_keys=False,
        )
    )
    result = run([promtool, "test", "rules", str(tests)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_unit_tests_cover_every_alert_both_ways() -> None:
    fired: set[str] = set()
    quiet_ones: set[str] = set()
    for test_case in unit_tests():
        for check in test_case["alert_rule_test"]:
            (fired if check["exp_alerts"] else quiet_ones).add(check["alertname"])
    names = set(alert_names(VALUES))
    assert names == OPENMARKET_APP_ALERTS | OPENMARKET_PLATFORM_ALERTS
    assert fired == names
    assert quiet_ones == names


def test_the_original_ten_alerts_are_the_charts_upstream_ones_plus_our_own() -> None:
    ours = alert_names(VALUES)
    assert len(ours) == len(set(ours))
    release = stack_values(VALUES)
    default_rules = release["defaultRules"]
    assert default_rules.get("create", True) is not False
    groups = default_rule_groups()
    for name, group in UPSTREAM_ALERTS.items():
        # The group stack.py names, and the one that really ships the alert, are both on.
        assert group in groups, f"{name}: no defaultRules group {group!r} in the chart"
        for flag in {group, SHIPPED_BY[name]}:
            assert default_rules["rules"].get(flag, True) is not False, (name, flag)
        assert not default_rules["disabled"].get(name, False), name
        assert name not in DISABLED_ALERTS, name
    # Their metrics: kube-state-metrics and node-exporter stay part of the release.
    assert release.get("kubeStateMetrics", {}).get("enabled", True) is not False
    assert release.get("nodeExporter", {}).get("enabled", True) is not False
    covered = set(UPSTREAM_ALERTS) | set(ours)
    assert covered >= ORIGINAL_DESIGN_ALERTS, ORIGINAL_DESIGN_ALERTS - covered
    assert len(covered) >= 10
    for name in covered:
        assert not any(word in name for word in CONTROL_PLANE_WORDS), name


def test_no_alert_of_ours_takes_an_upstream_name() -> None:
    ours = set(alert_names(VALUES))
    assert ours  # something to compare
    assert not ours & set(UPSTREAM_ALERTS)
    assert not ours & set(DISABLED_ALERTS)


def test_every_rule_is_labelled_and_documented() -> None:
    alerts = 0
    for group in rule_groups(VALUES):
        for rule in group["rules"]:
            if "alert" not in rule:
                assert rule["record"].count(":") == 2, rule["record"]  # level:metric:operations
                continue
            alerts += 1
            name = rule["alert"]
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
            team = "app" if name in OPENMARKET_APP_ALERTS else "platform"
            assert rule["labels"]["team"] == team, name
            annotations = rule["annotations"]
            assert set(annotations) == {"summary", "description", "runbook_url"}, name
            assert annotations["runbook_url"].startswith("https://"), name
            assert annotations["runbook_url"] == f"{RUNBOOKS}#{name.lower()}", name
    assert alerts == len(OPENMARKET_APP_ALERTS | OPENMARKET_PLATFORM_ALERTS)


def test_the_backend_alerts_use_the_original_targets() -> None:
    exprs = {name: rule["expr"] for name, rule in alert_rules().items()}
    assert exprs["OpenMarketBackendHighLatency"].endswith("> 0.5")
    assert exprs["OpenMarketBackendHighErrorRate"].endswith("> 0.01")


def test_the_runbook_anchors_exist_in_the_monitoring_guide() -> None:
    guide = (ROOT / "docs" / "monitoring.md").read_text()
    # GitHub's anchor of a heading: lower case, spaces to dashes, punctuation dropped.
    anchors = {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", guide, flags=re.MULTILINE)
    }
    for name, rule in alert_rules().items():
        assert f"### {name}" in guide, f"docs/monitoring.md has no section for {name}"
        url, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert url.endswith("docs/monitoring.md"), name
        assert anchor in anchors, f"{name}: no heading of docs/monitoring.md has #{anchor}"
