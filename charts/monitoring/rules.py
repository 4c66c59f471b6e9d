"""Prometheus alerting and recording rules, as data (rendered with yaml.safe_dump).

Twelve alerts: the original design's ten, one for capacity and one for alert delivery.
Eight are upstream rules, kept under their
upstream names and with their upstream expressions, thresholds and ``for`` durations
(prometheus-operator's general rules, kubernetes-mixin, node-mixin), adapted only to this
stack's job names; their runbooks are the upstream ones. Two are OpenMarket's own, on the
backend's targets of the original design (error rate < 1 %, p95 < 500 ms), one says that
pods have waited for a node longer than the Cluster Autoscaler should ever need
(kubernetes-mixin has no such rule), and one that Alertmanager could not deliver to a Slack
channel (routed to SNS, so it reaches e-mail when Slack cannot); their runbooks are in
docs/monitoring.md.

Left out on purpose: anything about kube-scheduler, kube-controller-manager or etcd (EKS
runs the control plane and exposes none of them to scraping, so those rules would fire
for ever), and KubeAPIDown/KubeletDown-style absent() rules for the same reason.
"""

from __future__ import annotations

from typing import Any

from charts.monitoring.values import MonitoringValues

UPSTREAM_RUNBOOKS = "https://runbooks.prometheus-operator.dev/runbooks"
KSM = 'job="kube-state-metrics"'
NODE = 'job="node-exporter"'
NODE_FS = 'job="node-exporter",fstype!="",mountpoint!=""'
KUBELET = 'job="kubelet", metrics_path="/metrics"'
CADVISOR = 'job="kubelet", metrics_path="/metrics/cadvisor"'

# Recording rules of the backend (openmarket:<what>:<how>, Prometheus' naming convention).
BACKEND_REQUEST_RATE = "openmarket:backend_http_requests:rate5m"
BACKEND_ERROR_RATIO = "openmarket:backend_http_errors:ratio_rate5m"
BACKEND_P95 = "openmarket:backend_http_request_duration_seconds:p95_5m"
BACKEND_P99 = "openmarket:backend_http_request_duration_seconds:p99_5m"

Rule = dict[str, Any]


def _alert(
    name: str,
    expr: str,
    *,
    for_: str | None,
    severity: str,
    team: str,
    summary: str,
    description: str,
    runbook_url: str,
) -> Rule:
    rule: Rule = {"alert": name, "expr": expr}
    if for_:
        rule["for"] = for_
    rule["labels"] = {"severity": severity, "team": team}
    rule["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": runbook_url,
    }
    return rule


def _upstream(group: str, name: str) -> str:
    return f"{UPSTREAM_RUNBOOKS}/{group}/{name.lower()}"


def general_rules() -> Rule:
    return {
        "name": "general.rules",
        "rules": [
            _alert(
                "Watchdog",
                "vector(1)",
                for_=None,
                severity="none",
                team="platform",
                summary="An alert that should always be firing to certify that Alertmanager "
                "is working properly.",
                description="This is an alert meant to ensure that the entire alerting "
                "pipeline is functional. It is always firing; Alertmanager publishes it to "
                "the heartbeat SNS topic every few minutes (a CloudWatch alarm pages by e-mail "
                "when it stops) and to the Slack heartbeat channel every hour.",
                runbook_url=_upstream("general", "Watchdog"),
            ),
            _alert(
                "TargetDown",
                "100 * (count(up == 0) by (job, namespace, service) "
                "/ count(up) by (job, namespace, service)) > 10",
                for_="10m",
                severity="warning",
                team="platform",
                summary="One or more targets are unreachable.",
                description='{{ printf "%.4g" $value }}% of the {{ $labels.job }}/'
                "{{ $labels.service }} targets in {{ $labels.namespace }} namespace are down.",
                runbook_url=_upstream("general", "TargetDown"),
            ),
        ],
    }


def kubernetes_rules() -> list[Rule]:
    return [
        {
            "name": "kubernetes-apps",
            "rules": [
                _alert(
                    "KubePodCrashLooping",
                    "max_over_time(kube_pod_container_status_waiting_reason"
                    f'{{reason="CrashLoopBackOff", {KSM}}}[5m]) >= 1',
                    for_="15m",
                    severity="warning",
                    team="platform",
                    summary="Pod is crash looping.",
                    description="Pod {{ $labels.namespace }}/{{ $labels.pod }} "
                    "({{ $labels.container }}) is in waiting state (reason: "
                    '"CrashLoopBackOff").',
                    runbook_url=_upstream("kubernetes", "KubePodCrashLooping"),
                )
            ],
        },
        {
            "name": "kubernetes-resources",
            "rules": [
                _alert(
                    "CPUThrottlingHigh",
                    "sum(increase(container_cpu_cfs_throttled_periods_total"
                    f'{{container!="", {CADVISOR}}}[5m])) '
                    "without (id, metrics_path, name, image, endpoint, job, node)\n"
                    "  / on (namespace, pod, container, instance) group_left\n"
                    f"sum(increase(container_cpu_cfs_periods_total{{{CADVISOR}}}[5m])) "
                    "without (id, metrics_path, name, image, endpoint, job, node)\n"
                    "  > ( 25 / 100 )",
                    for_="15m",
                    severity="info",
                    team="platform",
                    summary="Processes experience elevated CPU throttling.",
                    description="{{ $value | humanizePercentage }} throttling of CPU in "
                    "namespace {{ $labels.namespace }} for container {{ $labels.container }} "
                    "in pod {{ $labels.pod }}.",
                    runbook_url=_upstream("kubernetes", "CPUThrottlingHigh"),
                )
            ],
        },
        {
            "name": "kubernetes-storage",
            "rules": [
                _alert(
                    "KubePersistentVolumeFillingUp",
                    "(\n"
                    f"  kubelet_volume_stats_available_bytes{{{KUBELET}}}\n"
                    "    /\n"
                    f"  kubelet_volume_stats_capacity_bytes{{{KUBELET}}}\n"
                    ") < 0.03\n"
                    "and\n"
                    f"kubelet_volume_stats_used_bytes{{{KUBELET}}} > 0\n"
                    "unless on (namespace, persistentvolumeclaim)\n"
                    f'kube_persistentvolumeclaim_access_mode{{{KSM}, access_mode="ReadOnlyMany"}}'
                    " == 1",
                    for_="1m",
                    severity="critical",
                    team="platform",
                    summary="PersistentVolume is filling up.",
                    description="The PersistentVolume claimed by "
                    "{{ $labels.persistentvolumeclaim }} in Namespace {{ $labels.namespace }} "
                    "is only {{ $value | humanizePercentage }} free.",
                    runbook_url=_upstream("kubernetes", "KubePersistentVolumeFillingUp"),
                )
            ],
        },
        {
            "name": "kubernetes-system-kubelet",
            "rules": [
                _alert(
                    "KubeNodeNotReady",
                    f'kube_node_status_condition{{{KSM},condition="Ready",status="true"}} == 0',
                    for_="15m",
                    severity="warning",
                    team="platform",
                    summary="Node is not ready.",
                    description="{{ $labels.node }} has been unready for more than 15 minutes.",
                    runbook_url=_upstream("kubernetes", "KubeNodeNotReady"),
                )
            ],
        },
    ]


def capacity_rules(values: MonitoringValues) -> Rule:
    """Pods that no node can take: the autoscaler is at the node group's maximum, cannot
    launch an instance, or is not running. It adds a node within minutes, so 10 minutes of
    PodScheduled=False/Unschedulable is never a normal scale-up."""
    return {
        "name": "openmarket-capacity",
        "rules": [
            _alert(
                "OpenMarketPodsUnschedulable",
                f"max by (namespace, pod) (kube_pod_status_unschedulable{{{KSM}}}) == 1",
                for_="10m",
                severity="warning",
                team="platform",
                summary="Pods have been unschedulable for 10 minutes: the cluster is out of room.",
                description="Pod {{ $labels.namespace }}/{{ $labels.pod }} has waited for a "
                "node for more than 10 minutes (PodScheduled=False, reason Unschedulable); the "
                "Cluster Autoscaler has not added one.",
                runbook_url=f"{values.runbook_base_url}#openmarketpodsunschedulable",
            )
        ],
    }


def alerting_rules(values: MonitoringValues) -> Rule:
    """A channel that fails (a webhook URL never stored or revoked, Slack unreachable): the
    alert itself goes to SNS as well, where a CloudWatch alarm e-mails it. SNS's own failures
    are left out: those stop the heartbeat too, which the dead man's switch catches."""
    return {
        "name": "openmarket-alerting",
        "rules": [
            _alert(
                "AlertDeliveryFailing",
                "sum by (integration) (rate(alertmanager_notifications_failed_total"
                '{job="alertmanager", integration!="sns"}[5m])) > 0',
                for_="5m",
                severity="critical",
                team="platform",
                summary="Alertmanager cannot deliver notifications to {{ $labels.integration }}.",
                description="Notifications to {{ $labels.integration }} have been failing for 5 "
                "minutes: alerts routed there reach nobody. A channel whose webhook URL is not "
                "stored yet fails this way (make slack-webhooks).",
                runbook_url=f"{values.runbook_base_url}#alertdeliveryfailing",
            )
        ],
    }


def node_rules() -> Rule:
    return {
        "name": "node-exporter",
        "rules": [
            _alert(
                "NodeFilesystemSpaceFillingUp",
                "(\n"
                f"  node_filesystem_avail_bytes{{{NODE_FS}}} / "
                f"node_filesystem_size_bytes{{{NODE_FS}}} * 100 < 15\n"
                "and\n"
                f"  predict_linear(node_filesystem_avail_bytes{{{NODE_FS}}}[6h], 24*60*60) < 0\n"
                "and\n"
                f"  node_filesystem_readonly{{{NODE_FS}}} == 0\n"
                ")",
                for_="1h",
                severity="warning",
                team="platform",
                summary="Filesystem is predicted to run out of space within the next 24 hours.",
                description="Filesystem on {{ $labels.device }}, mounted on "
                "{{ $labels.mountpoint }}, at {{ $labels.instance }} has only "
                '{{ printf "%.2f" $value }}% available space left and is filling up.',
                runbook_url=_upstream("node", "NodeFilesystemSpaceFillingUp"),
            ),
            _alert(
                "NodeMemoryHighUtilization",
                f"100 - (node_memory_MemAvailable_bytes{{{NODE}}} / "
                f"node_memory_MemTotal_bytes{{{NODE}}} * 100) > 90",
                for_="15m",
                severity="warning",
                team="platform",
                summary="Host is running out of memory.",
                description='Memory is filled up at {{ printf "%.2f" $value }}% on '
                "{{ $labels.instance }}.",
                runbook_url=_upstream("node", "NodeMemoryHighUtilization"),
            ),
        ],
    }


def backend_recording_rules(values: MonitoringValues) -> Rule:
    backend = values.backend
    metric = backend.request_duration_metric
    selector = f'job="{backend.service_name}"'
    errors = f'{selector}, {backend.status_label}=~"5.."'
    by = "sum by (namespace)"
    return {
        "name": "openmarket-backend.rules",
        "rules": [
            {
                "record": BACKEND_REQUEST_RATE,
                "expr": f"{by} (rate({metric}_count{{{selector}}}[5m]))",
            },
            {
                "record": BACKEND_ERROR_RATIO,
                "expr": f"{by} (rate({metric}_count{{{errors}}}[5m]))\n"
                f"  /\n{by} (rate({metric}_count{{{selector}}}[5m]))",
            },
            {
                "record": BACKEND_P95,
                "expr": f"histogram_quantile(0.95, sum by (namespace, le) "
                f"(rate({metric}_bucket{{{selector}}}[5m])))",
            },
            {
                "record": BACKEND_P99,
                "expr": f"histogram_quantile(0.99, sum by (namespace, le) "
                f"(rate({metric}_bucket{{{selector}}}[5m])))",
            },
        ],
    }


def backend_alert_rules(values: MonitoringValues) -> Rule:
    backend = values.backend
    runbooks = values.runbook_base_url
    return {
        "name": "openmarket-backend",
        "rules": [
            _alert(
                "OpenMarketBackendHighErrorRate",
                f"{BACKEND_ERROR_RATIO} > {backend.error_ratio_threshold:g}",
                for_="10m",
                severity="critical",
                team="app",
                summary="The OpenMarket API answers too many requests with a 5xx error.",
                description="{{ $value | humanizePercentage }} of the backend's requests in "
                "{{ $labels.namespace }} failed with a 5xx status over the last 5 minutes "
                f"(target: below {backend.error_ratio_threshold:.0%}).",
                runbook_url=f"{runbooks}#openmarketbackendhigherrorrate",
            ),
            _alert(
                "OpenMarketBackendHighLatency",
                f"{BACKEND_P95} > {backend.p95_latency_threshold_seconds:g}",
                for_="10m",
                severity="warning",
                team="app",
                summary="The OpenMarket API's p95 latency is above its target.",
                description="The backend's 95th percentile response time in "
                "{{ $labels.namespace }} is {{ $value | humanizeDuration }} over the last "
                "5 minutes (target: below "
                f"{backend.p95_latency_threshold_seconds * 1000:.0f} ms).",
                runbook_url=f"{runbooks}#openmarketbackendhighlatency",
            ),
        ],
    }


def rule_groups(values: MonitoringValues) -> list[Rule]:
    """Every rule group Prometheus loads, in one rules file."""
    return [
        general_rules(),
        *kubernetes_rules(),
        capacity_rules(values),
        alerting_rules(values),
        node_rules(),
        backend_recording_rules(values),
        backend_alert_rules(values),
    ]


def rules_document(values: MonitoringValues) -> dict[str, Any]:
    return {"groups": rule_groups(values)}


def alert_names(values: MonitoringValues) -> list[str]:
    return [
        rule["alert"] for group in rule_groups(values) for rule in group["rules"] if "alert" in rule
    ]
