"""The alerting and recording rules: promtool accepts them, and each alert fires when its
condition holds long enough and stays quiet when it does not (``promtool test rules``).

The unit tests are data here, dumped to YAML beside the rendered rules file; each alert
has a firing case and at least one quiet case (Watchdog, by design, only fires).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from charts.monitoring.rules import UPSTREAM_RUNBOOKS, alert_names, rule_groups, rules_document
from tests.charts.monitoring.conftest import RenderedMonitoring, monitoring_values

VALUES = monitoring_values("dev")
RUNBOOKS = VALUES.runbook_base_url
NS = "openmarket-dev"
PLATFORM = {"team": "platform"}

UPSTREAM_ALERTS = {
    "Watchdog",
    "TargetDown",
    "KubePodCrashLooping",
    "KubeNodeNotReady",
    "NodeFilesystemSpaceFillingUp",
    "NodeMemoryHighUtilization",
    "CPUThrottlingHigh",
    "KubePersistentVolumeFillingUp",
}
OPENMARKET_ALERTS = {"OpenMarketBackendHighErrorRate", "OpenMarketBackendHighLatency"}
# OpenMarket's own alerts for the platform team (runbooks in docs/monitoring.md too).
OPENMARKET_PLATFORM_ALERTS = {"OpenMarketPodsUnschedulable", "AlertDeliveryFailing"}
# Rules about components EKS runs itself: they would fire for ever there.
CONTROL_PLANE_WORDS = ("Scheduler", "ControllerManager", "Etcd", "KubeAPIDown", "KubeletDown")


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


def upstream(group: str, name: str) -> str:
    return f"{UPSTREAM_RUNBOOKS}/{group}/{name.lower()}"


def case(input_series: list[dict[str, str]], *tests: dict[str, Any]) -> dict[str, Any]:
    return {"interval": "1m", "input_series": input_series, "alert_rule_test": list(tests)}


TARGET = {"job": "backend", "namespace": NS, "service": "backend"}
CRASH = {
    "job": "kube-state-metrics",
    "namespace": NS,
    "pod": "backend-0",
    "container": "backend",
}
NODE_READY = {"job": "kube-state-metrics", "node": "ip-10-0-11-10", "condition": "Ready"}
FS = {
    "job": "node-exporter",
    "instance": "ip-10-0-11-10",
    "device": "/dev/nvme0n1p1",
    "fstype": "xfs",
    "mountpoint": "/",
}
MEM = {"job": "node-exporter", "instance": "ip-10-0-11-10"}
THROTTLE = {
    "job": "kubelet",
    "metrics_path": "/metrics/cadvisor",
    "namespace": NS,
    "pod": "backend-0",
    "container": "backend",
    "instance": "ip-10-0-11-10",
}
PVC = {
    "job": "kubelet",
    "metrics_path": "/metrics",
    "namespace": "monitoring",
    "persistentvolumeclaim": "data-prometheus-0",
}
UNSCHEDULABLE = {"job": "kube-state-metrics", "namespace": NS, "pod": "backend-7"}
HTTP = {"job": "backend", "namespace": NS}
METRIC = VALUES.backend.request_duration_metric


def requests(code: str, values: str) -> dict[str, str]:
    return series(f"{METRIC}_count", {**HTTP, "status_code": code}, values)


def buckets(counts: dict[str, int]) -> list[dict[str, str]]:
    return [
        series(f"{METRIC}_bucket", {**HTTP, "le": le}, f"0+{count}x30")
        for le, count in counts.items()
    ]


def unit_tests() -> list[dict[str, Any]]:
    crash_annotations = notes(
        "Pod is crash looping.",
        f'Pod {NS}/backend-0 (backend) is in waiting state (reason: "CrashLoopBackOff").',
        upstream("kubernetes", "KubePodCrashLooping"),
    )
    return [
        case(
            [],
            alert(
                "Watchdog",
                "1m",
                {"severity": "none", **PLATFORM},
                notes(
                    "An alert that should always be firing to certify that Alertmanager is "
                    "working properly.",
                    "This is an alert meant to ensure that the entire alerting pipeline is "
                    "functional. It is always firing; Alertmanager publishes it to the heartbeat "
                    "SNS topic every few minutes (a CloudWatch alarm pages by e-mail when it "
                    "stops) and to the Slack heartbeat channel every hour.",
                    upstream("general", "Watchdog"),
                ),
            ),
        ),
        # TargetDown: half the backend's targets down for 15 minutes; then all up.
        case(
            [
                series("up", {**TARGET, "pod": "backend-0"}, "0x20"),
                series("up", {**TARGET, "pod": "backend-1"}, "1x20"),
            ],
            quiet("TargetDown", "5m"),  # not yet 10 minutes
            alert(
                "TargetDown",
                "15m",
                {**TARGET, "severity": "warning", **PLATFORM},
                notes(
                    "One or more targets are unreachable.",
                    f"50% of the backend/backend targets in {NS} namespace are down.",
                    upstream("general", "TargetDown"),
                ),
            ),
        ),
        case(
            [series("up", {**TARGET, "pod": "backend-0"}, "1x20")],
            quiet("TargetDown", "15m"),
        ),
        # KubePodCrashLooping: waiting in CrashLoopBackOff for 20 minutes.
        case(
            [
                series(
                    "kube_pod_container_status_waiting_reason",
                    {**CRASH, "reason": "CrashLoopBackOff"},
                    "1x30",
                ),
                series(
                    "kube_pod_container_status_waiting_reason",
                    {**CRASH, "pod": "backend-1", "reason": "ContainerCreating"},
                    "1x30",
                ),
            ],
            quiet("KubePodCrashLooping", "10m"),
            alert(
                "KubePodCrashLooping",
                "20m",
                {**CRASH, "reason": "CrashLoopBackOff", "severity": "warning", **PLATFORM},
                crash_annotations,
            ),
        ),
        # KubeNodeNotReady: Ready=false for 20 minutes; a ready node stays quiet.
        case(
            [
                series("kube_node_status_condition", {**NODE_READY, "status": "true"}, "0x20"),
                series(
                    "kube_node_status_condition",
                    {**NODE_READY, "node": "ip-10-0-12-10", "status": "true"},
                    "1x20",
                ),
            ],
            quiet("KubeNodeNotReady", "10m"),
            alert(
                "KubeNodeNotReady",
                "20m",
                {**NODE_READY, "status": "true", "severity": "warning", **PLATFORM},
                notes(
                    "Node is not ready.",
                    "ip-10-0-11-10 has been unready for more than 15 minutes.",
                    upstream("kubernetes", "KubeNodeNotReady"),
                ),
            ),
        ),
        # NodeFilesystemSpaceFillingUp: below 15 % and shrinking for 2 hours.
        case(
            [
                series("node_filesystem_avail_bytes", FS, "14-0.01x180"),
                series("node_filesystem_size_bytes", FS, "100x180"),
                series("node_filesystem_readonly", FS, "0x180"),
            ],
            quiet("NodeFilesystemSpaceFillingUp", "30m"),  # not yet an hour
            alert(
                "NodeFilesystemSpaceFillingUp",
                "2h",
                {**FS, "severity": "warning", **PLATFORM},
                notes(
                    "Filesystem is predicted to run out of space within the next 24 hours.",
                    "Filesystem on /dev/nvme0n1p1, mounted on /, at ip-10-0-11-10 has only "
                    "12.80% available space left and is filling up.",
                    upstream("node", "NodeFilesystemSpaceFillingUp"),
                ),
            ),
        ),
        case(  # low, but not shrinking
            [
                series("node_filesystem_avail_bytes", FS, "14x180"),
                series("node_filesystem_size_bytes", FS, "100x180"),
                series("node_filesystem_readonly", FS, "0x180"),
            ],
            quiet("NodeFilesystemSpaceFillingUp", "2h"),
        ),
        # NodeMemoryHighUtilization: 95 % used for 20 minutes; 50 % stays quiet.
        case(
            [
                series("node_memory_MemAvailable_bytes", MEM, "5x30"),
                series("node_memory_MemTotal_bytes", MEM, "100x30"),
                series("node_memory_MemAvailable_bytes", {**MEM, "instance": "b"}, "50x30"),
                series("node_memory_MemTotal_bytes", {**MEM, "instance": "b"}, "100x30"),
            ],
            quiet("NodeMemoryHighUtilization", "10m"),
            alert(
                "NodeMemoryHighUtilization",
                "20m",
                {**MEM, "severity": "warning", **PLATFORM},
                notes(
                    "Host is running out of memory.",
                    "Memory is filled up at 95.00% on ip-10-0-11-10.",
                    upstream("node", "NodeMemoryHighUtilization"),
                ),
            ),
        ),
        # CPUThrottlingHigh: half the periods throttled for 30 minutes; 10 % stays quiet.
        case(
            [
                series("container_cpu_cfs_throttled_periods_total", THROTTLE, "0+50x40"),
                series("container_cpu_cfs_periods_total", THROTTLE, "0+100x40"),
            ],
            quiet("CPUThrottlingHigh", "15m"),
            alert(
                "CPUThrottlingHigh",
                "30m",
                {key: THROTTLE[key] for key in ("namespace", "pod", "container", "instance")}
                | {"severity": "info", **PLATFORM},
                notes(
                    "Processes experience elevated CPU throttling.",
                    f"50% throttling of CPU in namespace {NS} for container backend in pod "
                    "backend-0.",
                    upstream("kubernetes", "CPUThrottlingHigh"),
                ),
            ),
        ),
        case(
            [
                series("container_cpu_cfs_throttled_periods_total", THROTTLE, "0+10x40"),
                series("container_cpu_cfs_periods_total", THROTTLE, "0+100x40"),
            ],
            quiet("CPUThrottlingHigh", "30m"),
        ),
        # KubePersistentVolumeFillingUp (Prometheus' own volume): 2 % free.
        case(
            [
                series("kubelet_volume_stats_available_bytes", PVC, "2x10"),
                series("kubelet_volume_stats_capacity_bytes", PVC, "100x10"),
                series("kubelet_volume_stats_used_bytes", PVC, "98x10"),
            ],
            alert(
                "KubePersistentVolumeFillingUp",
                "5m",
                {**PVC, "severity": "critical", **PLATFORM},
                notes(
                    "PersistentVolume is filling up.",
                    "The PersistentVolume claimed by data-prometheus-0 in Namespace monitoring "
                    "is only 2% free.",
                    upstream("kubernetes", "KubePersistentVolumeFillingUp"),
                ),
            ),
        ),
        case(  # half free
            [
                series("kubelet_volume_stats_available_bytes", PVC, "50x10"),
                series("kubelet_volume_stats_capacity_bytes", PVC, "100x10"),
                series("kubelet_volume_stats_used_bytes", PVC, "50x10"),
            ],
            quiet("KubePersistentVolumeFillingUp", "5m"),
        ),
        case(  # full, but mounted read-only by design
            [
                series("kubelet_volume_stats_available_bytes", PVC, "2x10"),
                series("kubelet_volume_stats_capacity_bytes", PVC, "100x10"),
                series("kubelet_volume_stats_used_bytes", PVC, "98x10"),
                series(
                    "kube_persistentvolumeclaim_access_mode",
                    {
                        "job": "kube-state-metrics",
                        "namespace": "monitoring",
                        "persistentvolumeclaim": "data-prometheus-0",
                        "access_mode": "ReadOnlyMany",
                    },
                    "1x10",
                ),
            ],
            quiet("KubePersistentVolumeFillingUp", "5m"),
        ),
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
        # AlertDeliveryFailing: Slack failing for 5 minutes fires; SNS failing does not (the
        # dead man's switch covers it), nor does one failure that stops.
        case(
            [
                series(
                    "alertmanager_notifications_failed_total",
                    {"job": "alertmanager", "integration": "slack", "reason": "other"},
                    "0+1x20",
                ),
                series(
                    "alertmanager_notifications_failed_total",
                    {"job": "alertmanager", "integration": "sns", "reason": "other"},
                    "0+1x20",
                ),
            ],
            quiet("AlertDeliveryFailing", "3m"),
            alert(
                "AlertDeliveryFailing",
                "12m",
                {"integration": "slack", "severity": "critical", "team": "platform"},
                notes(
                    "Alertmanager cannot deliver notifications to slack.",
                    "Notifications to slack have been failing for 5 minutes: alerts routed "
                    "there reach nobody. A channel whose webhook URL is not stored yet fails "
                    "this way (make slack-webhooks).",
                    f"{RUNBOOKS}#alertdeliveryfailing",
                ),
            ),
        ),
        case(
            [
                series(
                    "alertmanager_notifications_failed_total",
                    {"job": "alertmanager", "integration": "slack", "reason": "other"},
                    "0 1 1x20",
                )
            ],
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


@pytest.fixture(scope="module")
def rules_file(dev: RenderedMonitoring, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rules file exactly as the Prometheus ConfigMap carries it."""
    (config_map,) = [
        obj for obj in dev.manifests["prometheus"] if obj["metadata"]["name"] == "prometheus-rules"
    ]
    ((name, text),) = config_map["data"].items()
    path: Path = tmp_path_factory.mktemp("rules") / str(name)
    path.write_text(text)
    return path


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_promtool_accepts_the_rules(promtool: str, rules_file: Path) -> None:
    result = run([promtool, "check", "rules", str(rules_file)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 16 rules found" in result.stdout


def test_the_configmap_carries_the_rules_as_built(rules_file: Path) -> None:
    assert yaml.safe_load(rules_file.read_text()) == rules_document(VALUES)


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
    assert fired == names
    # Watchdog is vector(1): there is no input under which it is quiet.
    assert quiet_ones == names - {"Watchdog"}


def test_the_original_ten_alerts_and_our_own_upstream_names_where_upstream_has_them() -> None:
    names = alert_names(VALUES)
    assert len(names) == 12 and len(set(names)) == 12
    assert set(names) == UPSTREAM_ALERTS | OPENMARKET_ALERTS | OPENMARKET_PLATFORM_ALERTS
    for name in names:
        assert not any(word in name for word in CONTROL_PLANE_WORDS), name


def test_every_alert_is_labelled_and_documented() -> None:
    for group in rule_groups(VALUES):
        for rule in group["rules"]:
            if "alert" not in rule:
                assert rule["record"].count(":") == 2, rule["record"]  # level:metric:operations
                continue
            name = rule["alert"]
            assert rule["labels"]["severity"] in {"critical", "warning", "info", "none"}, name
            assert rule["labels"]["team"] in {"platform", "app"}, name
            notes = rule["annotations"]
            assert set(notes) == {"summary", "description", "runbook_url"}, name
            assert notes["runbook_url"].startswith("https://"), name
            if name in OPENMARKET_ALERTS | OPENMARKET_PLATFORM_ALERTS:
                team = "app" if name in OPENMARKET_ALERTS else "platform"
                assert rule["labels"]["team"] == team, name
                assert notes["runbook_url"].endswith(f"#{name.lower()}")
            else:
                assert notes["runbook_url"].startswith(UPSTREAM_RUNBOOKS), name


def test_the_backend_alerts_use_the_original_targets() -> None:
    exprs = {
        rule["alert"]: rule["expr"]
        for group in rule_groups(VALUES)
        for rule in group["rules"]
        if "alert" in rule
    }
    assert exprs["OpenMarketBackendHighLatency"].endswith("> 0.5")
    assert exprs["OpenMarketBackendHighErrorRate"].endswith("> 0.01")


def test_the_runbook_anchors_exist_in_the_monitoring_guide() -> None:
    from tests.charts.conftest import ROOT

    guide = (ROOT / "docs" / "monitoring.md").read_text()
    for name in OPENMARKET_ALERTS | OPENMARKET_PLATFORM_ALERTS:
        assert f"### {name}" in guide, f"docs/monitoring.md has no section for {name}"
