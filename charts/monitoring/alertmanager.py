"""Alertmanager: its configuration (as data) and the chart that runs it."""

from __future__ import annotations

from typing import Any

import cdk8s
import cdk8s_plus_28 as kplus
from constructs import Construct

from charts.monitoring import common
from charts.monitoring.common import (
    NOBODY,
    PodPatches,
    http_probe,
    monitoring_labels,
    pod_labels,
    restricted_container,
    selector_labels,
)
from charts.monitoring.prometheus import ALERTMANAGER, render_yaml
from charts.monitoring.values import AlertingValues, MonitoringValues

NAME, PORT = ALERTMANAGER
CONFIG_DIR = "/etc/alertmanager/config"
CONFIG_FILE = "alertmanager.yml"
# One file per receiver, named after it, holding that channel's webhook URL.
SLACK_DIR = "/etc/alertmanager/slack"
DATA_DIR = "/alertmanager"
DATA_VOLUME = "data"

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


def alertmanager_config(alerting: AlertingValues, region: str) -> dict[str, Any]:
    """alertmanager.yml as data. Routing, first match wins unless ``continue``:

    1. ``alertname="Watchdog"`` -> the dead man's switch (SNS, every heartbeat interval),
       and on;
    2. ``alertname="AlertDeliveryFailing"`` -> the delivery-failure topic (SNS: e-mail by
       CloudWatch, since a failing Slack cannot carry it), and on;
    3. ``alertname="Watchdog"`` -> the Slack heartbeat channel;
    4. ``team="app"`` -> app (the backend's alerts, whatever their severity);
    5. ``severity`` critical / warning / info -> the channel of that name;
    6. anything else -> warning (the root receiver), so no alert is dropped.
    """
    receivers = [
        {
            "name": receiver_name(receiver),
            "slack_configs": [
                {
                    "api_url_file": f"{SLACK_DIR}/{receiver}",
                    # The heartbeat never resolves; the others say when they do.
                    "send_resolved": receiver != "heartbeat",
                    "title": SLACK_TITLE,
                    "text": SLACK_TEXT,
                }
            ],
        }
        for receiver in alerting.slack_receivers
    ]
    receivers += [
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
        ],
        "receivers": receivers,
    }


class AlertmanagerChart(cdk8s.Chart):
    """Deploys Alertmanager, for whoever is on call.

    One replica (no gossip cluster) with a small gp3 volume, so silences and the
    notification log survive a restart. Five Slack receivers; each webhook URL is read
    from a file of the ``alertmanager-slack`` Secret that External Secrets syncs from
    Secrets Manager, so no URL is part of any manifest (a URL not stored yet fails that
    delivery, which the delivery-failure topic reports). Two SNS receivers publish, as the
    pod's role, to the topics CloudWatch watches from outside the cluster.
    """

    def __init__(self, scope: Construct, id: str, values: MonitoringValues) -> None:
        super().__init__(
            scope,
            id,
            namespace=values.namespace,
            labels=monitoring_labels(NAME),
            disable_resource_name_hashes=True,
        )
        self.service_account = common.service_account(self, values.alerting.service_account)
        config = alertmanager_config(values.alerting, values.region)
        self.config_map = kplus.ConfigMap(
            self,
            "config",
            metadata=cdk8s.ApiObjectMetadata(name=f"{NAME}-config"),
            data={CONFIG_FILE: render_yaml(config)},
        )
        self.service = common.cluster_ip_service(self, NAME, [("http", PORT)])
        stateful_set = kplus.StatefulSet(
            self,
            "stateful-set",
            metadata=cdk8s.ApiObjectMetadata(name=NAME),
            pod_metadata=cdk8s.ApiObjectMetadata(labels=pod_labels(NAME)),
            select=False,
            service=self.service,
            replicas=1,
            service_account=self.service_account,
            automount_service_account_token=False,
            security_context=common.restricted_pod(
                fs_group=NOBODY,
                fs_group_change_policy=kplus.FsGroupChangePolicy.ON_ROOT_MISMATCH,
            ),
        )
        stateful_set.select(kplus.LabelSelector.of(labels=selector_labels(NAME)))
        common.governing_service_selector(self.service)
        config_volume = kplus.Volume.from_config_map(
            self, "config-volume", self.config_map, name="config"
        )
        slack = kplus.Volume.from_secret(
            self,
            "slack-volume",
            kplus.Secret.from_secret_name(self, "slack-secret", values.secrets.slack_secret_name),
            name="slack",
            # Readable by the pod's group (fsGroup) only.
            default_mode=0o440,
        )
        stateful_set.add_container(
            name=NAME,
            image=values.images.alertmanager,
            args=[
                f"--config.file={CONFIG_DIR}/{CONFIG_FILE}",
                f"--storage.path={DATA_DIR}",
                f"--web.listen-address=:{PORT}",
                f"--web.external-url=http://localhost:{PORT}",
                # A single replica: no gossip port.
                "--cluster.listen-address=",
            ],
            ports=[kplus.ContainerPort(number=PORT, name="http")],
            resources=common.resources(values.resources.alertmanager),
            security_context=restricted_container(),
            readiness=http_probe("/-/ready", PORT),
            liveness=http_probe("/-/healthy", PORT),
            volume_mounts=[
                kplus.VolumeMount(path=CONFIG_DIR, volume=config_volume, read_only=True),
                kplus.VolumeMount(path=SLACK_DIR, volume=slack, read_only=True),
            ],
        )
        (
            PodPatches(stateful_set)
            .common(fs_group=True)
            .annotate({"checksum/config": common.config_checksum(config)})
            .data_volume(
                name=DATA_VOLUME,
                mount_path=DATA_DIR,
                storage_class=values.storage_class,
                size=values.alertmanager_storage_size,
                app=NAME,
            )
        )
        self.stateful_set = stateful_set
