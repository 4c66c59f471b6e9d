"""Alertmanager's configuration (alertmanager.yml as data): five Slack channels, the two SNS
topics outside the cluster, routing, grouping and inhibition. The kube-prometheus-stack
release runs Alertmanager with it (stack.py); amtool tests the routes."""

from __future__ import annotations

from typing import Any

from charts.monitoring.values import MonitoringValues

# The operator mounts each Secret of alertmanagerSpec.secrets at <this>/<secret name>: the
# Slack secret holds one file per receiver, named after it, with that channel's webhook URL.
SECRETS_DIR = "/etc/alertmanager/secrets"
# Upstream's always-firing alert that mutes info alerts of a namespace with no other alert
# (kube-prometheus-stack's general rules): it goes nowhere.
INFO_INHIBITOR = "InfoInhibitor"
NULL_RECEIVER = "null"

# The two receivers outside Slack, on SNS topics CloudWatch alarms watch: the Watchdog
# heartbeat (the dead man's switch) and notices that a Slack delivery failed.
DEAD_MANS_SWITCH = "dead-mans-switch"
DELIVERY_FAILURES = "delivery-failures"
# The alert that says a notification could not be delivered (rules.py).
DELIVERY_FAILING_ALERT = "AlertDeliveryFailing"

# How long Alertmanager waits and repeats, per receiver: criticals come back every hour
# until resolved or silenced, infos once a day; the Slack heartbeat every hour (a person's
# glance that alerting works; the dead man's switch on SNS is what pages).
REPEAT_INTERVALS = {
    "critical": "1h",
    "warning": "4h",
    "info": "24h",
    "heartbeat": "1h",
    "app": "4h",
}

SLACK_TITLE = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}]'
    " {{ .CommonLabels.stage }}: {{ .CommonLabels.alertname }}"
    "{{ if .CommonLabels.namespace }} ({{ .CommonLabels.namespace }}){{ end }}"
)
SLACK_TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n"
    "{{ .Annotations.description }}\n"
    "Severity: {{ .Labels.severity }} | Runbook: {{ .Annotations.runbook_url }}\n"
    "{{ end }}"
)


def receiver_name(receiver: str) -> str:
    return f"slack-{receiver}"


def _route(receiver: str, matcher: str, **timing: str) -> dict[str, Any]:
    return {
        "receiver": receiver_name(receiver),
        "matchers": [matcher],
        **timing,
        "repeat_interval": REPEAT_INTERVALS[receiver],
    }


SNS_SUBJECT = "[{{ .Status | toUpper }}] {{ .CommonLabels.stage }}: {{ .CommonLabels.alertname }}"
SNS_MESSAGE = (
    "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\n"
    "Runbook: {{ .Annotations.runbook_url }}\n{{ end }}"
)


def _sns_receiver(name: str, topic_arn: str, region: str) -> dict[str, Any]:
    return {
        "name": name,
        "sns_configs": [
            {
                "topic_arn": topic_arn,
                # Credentials from the pod's role (EKS Pod Identity, the SDK's default chain).
                "sigv4": {"region": region},
                "subject": SNS_SUBJECT,
                "message": SNS_MESSAGE,
                # A resolved notice would count as a publish: the alarms count publishes.
                "send_resolved": False,
            }
        ],
    }


def slack_url_file(values: MonitoringValues, receiver: str) -> str:
    return f"{SECRETS_DIR}/{values.secrets.slack_secret_name}/{receiver}"


def alertmanager_config(values: MonitoringValues) -> dict[str, Any]:
    """alertmanager.yml as data. Routing, first match wins unless ``continue``:

    0. ``alertname="InfoInhibitor"`` -> nowhere;
    1. ``alertname="Watchdog"`` -> the dead man's switch (SNS, every heartbeat interval),
       and on;
    2. ``alertname="AlertDeliveryFailing"`` -> the delivery-failure topic (SNS: e-mail by
       CloudWatch, since a failing Slack cannot carry it), and on;
    3. ``alertname="Watchdog"`` -> the Slack heartbeat channel;
    4. ``team="app"`` -> app (the backend's alerts, whatever their severity);
    5. ``severity`` critical / warning / info -> the channel of that name;
    6. anything else -> warning (the root receiver), so no alert is dropped.
    """
    alerting, region = values.alerting, values.region
    receivers = [
        {
            "name": receiver_name(receiver),
            "slack_configs": [
                {
                    "api_url_file": slack_url_file(values, receiver),
                    # The heartbeat never resolves; the others say when they do.
                    "send_resolved": receiver != "heartbeat",
                    "title": SLACK_TITLE,
                    "text": SLACK_TEXT,
                }
            ],
        }
        for receiver in values.alertmanager.slack_receivers
    ]
    receivers += [
        {"name": NULL_RECEIVER},
        _sns_receiver(DEAD_MANS_SWITCH, alerting.heartbeat_topic_arn, region),
        _sns_receiver(DELIVERY_FAILURES, alerting.delivery_failures_topic_arn, region),
    ]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": receiver_name("warning"),
            "group_by": ["alertname", "namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": REPEAT_INTERVALS["warning"],
            "routes": [
                {"receiver": NULL_RECEIVER, "matchers": [f'alertname="{INFO_INHIBITOR}"']},
                {
                    "receiver": DEAD_MANS_SWITCH,
                    "matchers": ['alertname="Watchdog"'],
                    "group_wait": "0s",
                    "group_interval": "1m",
                    "repeat_interval": alerting.heartbeat_interval,
                    "continue": True,
                },
                {
                    "receiver": DELIVERY_FAILURES,
                    "matchers": [f'alertname="{DELIVERY_FAILING_ALERT}"'],
                    "group_wait": "0s",
                    "repeat_interval": "1h",
                    "continue": True,
                },
                _route("heartbeat", 'alertname="Watchdog"', group_wait="0s", group_interval="1m"),
                _route("app", 'team="app"'),
                _route("critical", 'severity="critical"', group_wait="10s"),
                _route("warning", 'severity="warning"'),
                _route("info", 'severity="info"'),
            ],
        },
        "inhibit_rules": [
            # A critical alert mutes the warning/info alerts of the same name and namespace
            # (the upstream rules come in severity pairs), and a warning the infos.
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity=~"warning|info"'],
                "equal": ["namespace", "alertname"],
            },
            {
                "source_matchers": ['severity="warning"'],
                "target_matchers": ['severity="info"'],
                "equal": ["namespace", "alertname"],
            },
            # Upstream's: an info alert is muted while InfoInhibitor fires in its namespace
            # (no warning or critical there), and InfoInhibitor mutes nothing else.
            {
                "source_matchers": [f'alertname="{INFO_INHIBITOR}"'],
                "target_matchers": ['severity="info"'],
                "equal": ["namespace"],
            },
            {"target_matchers": [f'alertname="{INFO_INHIBITOR}"']},
        ],
        "receivers": receivers,
        # Set, so the chart's default (a template glob) is not merged in.
        "templates": [],
    }
