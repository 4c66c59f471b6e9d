"""OpenMarket's own Prometheus rules, as data (a PrometheusRule the operator loads).

The Kubernetes and node alerts (Watchdog, TargetDown, KubePodCrashLooping, ...) are the
upstream rules kube-prometheus-stack ships and keeps current, with their runbooks. These
are the ones upstream has no equivalent for, with their runbooks in docs/monitoring.md:

- the backend's targets of the original design (error rate < 1 %, p95 < 500 ms), on
  recording rules of its request histogram;
- pods that have waited for a node longer than the Cluster Autoscaler should ever need;
- Alertmanager unable to deliver to a Slack channel (routed to SNS, so it reaches e-mail
  when Slack cannot).
"""

from __future__ import annotations

from typing import Any

from charts.monitoring.values import MonitoringValues

# kube-state-metrics' job, as the chart's ServiceMonitor names it (and upstream's rules use).
KSM = 'job="kube-state-metrics"'

# Recording rules of the backend (openmarket:<what>:<how>, Prometheus' naming convention).
BACKEND_REQUEST_RATE = "openmarket:backend_http_requests:rate5m"
BACKEND_ERROR_RATIO = "openmarket:backend_http_errors:ratio_rate5m"
BACKEND_P95 = "openmarket:backend_http_request_duration_seconds:p95_5m"
BACKEND_P99 = "openmarket:backend_http_request_duration_seconds:p99_5m"

Rule = dict[str, Any]


def _alert(
    values: MonitoringValues,
    name: str,
    expr: str,
    *,
    for_: str,
    severity: str,
    summary: str,
    description: str,
    team: str = "platform",
) -> Rule:
    """An alert whose runbook is the section of its name in docs/monitoring.md."""
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity, "team": team},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{values.runbook_base_url}#{name.lower()}",
        },
    }


def capacity_rules(values: MonitoringValues) -> Rule:
    """Pods that no node can take: the autoscaler is at the node group's maximum, cannot
    launch an instance, or is not running. It adds a node within minutes, so 10 minutes of
    PodScheduled=False/Unschedulable is never a normal scale-up."""
    return {
        "name": "openmarket-capacity",
        "rules": [
            _alert(
                values,
                "OpenMarketPodsUnschedulable",
                f"max by (namespace, pod) (kube_pod_status_unschedulable{{{KSM}}}) == 1",
                for_="10m",
                severity="warning",
                summary="Pods have been unschedulable for 10 minutes: the cluster is out of room.",
                description="Pod {{ $labels.namespace }}/{{ $labels.pod }} has waited for a "
                "node for more than 10 minutes (PodScheduled=False, reason Unschedulable); the "
                "Cluster Autoscaler has not added one.",
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
                values,
                "AlertDeliveryFailing",
                # Only Alertmanager has this metric: no job selector to keep in step with
                # the chart's Service name.
                "sum by (integration) (rate(alertmanager_notifications_failed_total"
                '{integration!="sns"}[5m])) > 0',
                for_="5m",
                severity="critical",
                summary="Alertmanager cannot deliver notifications to {{ $labels.integration }}.",
                description="Notifications to {{ $labels.integration }} have been failing for 5 "
                "minutes: alerts routed there reach nobody. A channel whose webhook URL is not "
                "stored yet fails this way (make slack-webhooks).",
            )
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
    return {
        "name": "openmarket-backend",
        "rules": [
            _alert(
                values,
                "OpenMarketBackendHighErrorRate",
                f"{BACKEND_ERROR_RATIO} > {backend.error_ratio_threshold:g}",
                for_="10m",
                severity="critical",
                team="app",
                summary="The OpenMarket API answers too many requests with a 5xx error.",
                description="{{ $value | humanizePercentage }} of the backend's requests in "
                "{{ $labels.namespace }} failed with a 5xx status over the last 5 minutes "
                f"(target: below {backend.error_ratio_threshold:.0%}).",
            ),
            _alert(
                values,
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
            ),
        ],
    }


def rule_groups(values: MonitoringValues) -> list[Rule]:
    """Every rule group Prometheus loads, in one rules file."""
    return [
        capacity_rules(values),
        alerting_rules(values),
        backend_recording_rules(values),
        backend_alert_rules(values),
    ]


def rules_document(values: MonitoringValues) -> dict[str, Any]:
    return {"groups": rule_groups(values)}


def alert_names(values: MonitoringValues) -> list[str]:
    return [
        rule["alert"] for group in rule_groups(values) for rule in group["rules"] if "alert" in rule
    ]
