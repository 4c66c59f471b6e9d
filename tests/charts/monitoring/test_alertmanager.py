"""alertmanager.yml, as the kube-prometheus-stack release's values carry it: amtool accepts
it, every kind of alert reaches the channel it should, Helm merges nothing of the chart's
default config into it, and no webhook URL is in it (each is a file of the Secret that
External Secrets syncs and the operator mounts)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from charts.monitoring import stack_values
from charts.monitoring.alertmanager import (
    DEAD_MANS_SWITCH,
    DELIVERY_FAILURES,
    alertmanager_config,
)
from openmarket_cdk.config import stage_config
from tests.charts.conftest import ROOT
from tests.charts.monitoring.conftest import RenderedMonitoring, monitoring_values, stage_params

VALUES = monitoring_values("dev")
ALERTING = VALUES.alerting
SLACK_RECEIVERS = VALUES.alertmanager.slack_receivers
CONFIG_FILE = "alertmanager.yml"
# The operator mounts each Secret named in alertmanagerSpec.secrets here, one file per key.
OPERATOR_SECRETS_DIR = "/etc/alertmanager/secrets"
# The chart's value keys at the pinned version (tools/helm_values_keys.py): under
# alertmanager.config, the keys of the chart's default alertmanager.yml.
CHART_KEYS = ROOT / "charts" / "monitoring" / "chart_keys" / "kube-prometheus-stack.txt"
CONFIG_VALUE = "alertmanager.config"


def release_config(stage: str = "dev") -> dict[str, Any]:
    """alertmanager.yml as the stage's release values carry it."""
    config: dict[str, Any] = stack_values(monitoring_values(stage))["alertmanager"]["config"]
    return config


# (labels of an alert, the receiver(s) it must reach)
ROUTES = [
    # Upstream's always-firing inhibitor of lone info alerts: nowhere.
    (["alertname=InfoInhibitor", "severity=none", "namespace=openmarket-dev"], "null"),
    # The heartbeat: to the SNS topic of the dead man's switch, and to Slack.
    (
        ["alertname=Watchdog", "severity=none", "team=platform"],
        f"{DEAD_MANS_SWITCH},slack-heartbeat",
    ),
    # A failing channel: to SNS (e-mail by CloudWatch), and to Slack's critical channel.
    (
        ["alertname=AlertDeliveryFailing", "severity=critical", "team=platform"],
        f"{DELIVERY_FAILURES},slack-critical",
    ),
    (
        ["alertname=KubePersistentVolumeFillingUp", "severity=critical", "team=platform"],
        "slack-critical",
    ),
    (["alertname=TargetDown", "severity=warning", "team=platform"], "slack-warning"),
    (["alertname=CPUThrottlingHigh", "severity=info", "team=platform"], "slack-info"),
    (["alertname=OpenMarketBackendHighErrorRate", "severity=critical", "team=app"], "slack-app"),
    (["alertname=OpenMarketBackendHighLatency", "severity=warning", "team=app"], "slack-app"),
    # No severity the tree knows: the root receiver, so nothing is dropped.
    (["alertname=Unknown"], "slack-warning"),
]


def write_config(directory: Path, stage: str) -> Path:
    path = directory / CONFIG_FILE
    path.write_text(yaml.safe_dump(release_config(stage), sort_keys=False))
    return path


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("alertmanager"), "dev")


def amtool_run(amtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([amtool, *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("stage", stage_params())
def test_amtool_accepts_the_config(
    amtool: str, stage: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = write_config(tmp_path_factory.mktemp(f"alertmanager-{stage}"), stage)
    result = amtool_run(amtool, "check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    # Five Slack channels, the null receiver, two SNS topics; the four inhibit rules.
    assert "8 receivers" in result.stdout and "4 inhibit rules" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"), ROUTES, ids=[labels[0].split("=")[1] for labels, _ in ROUTES]
)
def test_each_alert_reaches_its_channel(
    amtool: str, config_file: Path, labels: list[str], receiver: str
) -> None:
    result = amtool_run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={config_file}",
        f"--verify.receivers={receiver}",
        *labels,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def chart_default_config_paths() -> set[tuple[str, ...]]:
    """Every map key of the chart's default alertmanager.yml, as a path below the config."""
    lines = CHART_KEYS.read_text().splitlines()[1:]
    return {
        tuple(line.removeprefix(f"{CONFIG_VALUE}.").split("."))
        for line in lines
        if line.startswith(f"{CONFIG_VALUE}.") and not line.endswith("{}")
    }


def test_the_release_values_carry_the_config_as_built_and_replace_the_charts(
    config_file: Path,
) -> None:
    """Helm merges the release's values into the chart's map by map (lists are replaced):
    a key of the chart's default alertmanager.yml left unset here would be added to ours."""
    config = release_config()
    assert config == alertmanager_config(VALUES)
    assert yaml.safe_load(config_file.read_text()) == config

    default = chart_default_config_paths()
    assert {path[0] for path in default} == {
        "global",
        "route",
        "inhibit_rules",
        "receivers",
        "templates",
    }
    assert {path[1] for path in default if path[0] == "route" and len(path) == 2} == {
        "group_by",
        "group_wait",
        "group_interval",
        "repeat_interval",
        "receiver",
        "routes",
    }
    unset = []
    for path in sorted(default):
        node: Any = config
        for key in path:
            if not isinstance(node, dict) or key not in node:
                unset.append(".".join(path))
                break
            node = node[key]
    assert unset == []
    # Set, and empty: the chart's default (a template glob) would otherwise be used.
    assert config["templates"] == []


def all_keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from all_keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_keys(item)


def test_webhook_urls_come_from_the_synced_secret_files(dev: RenderedMonitoring) -> None:
    values = dev.values
    secret_name = values.secrets.slack_secret_name
    release = stack_values(values)["alertmanager"]
    config = release["config"]
    receivers = {r["name"]: r["slack_configs"] for r in config["receivers"] if "slack_configs" in r}
    assert set(receivers) == {f"slack-{name}" for name in SLACK_RECEIVERS}
    for name in SLACK_RECEIVERS:
        (slack,) = receivers[f"slack-{name}"]
        assert slack["api_url_file"] == f"{OPERATOR_SECRETS_DIR}/{secret_name}/{name}"

    # No URL inline, anywhere (per receiver or global).
    assert [k for k in all_keys(config) if k.endswith("api_url") or k == "url"] == []
    text = yaml.safe_dump(config)
    assert "hooks.slack.com" not in text and "https://" not in text

    # The operator mounts that Secret at <secrets dir>/<its name>, one file per key ...
    assert secret_name in release["alertmanagerSpec"]["secrets"]
    # ... and External Secrets writes it, in Alertmanager's namespace, one key per receiver.
    (external_secret,) = [
        obj
        for obj in dev.manifests["monitoring-secrets"]
        if obj["kind"] == "ExternalSecret" and obj["spec"]["target"]["name"] == secret_name
    ]
    assert external_secret["metadata"]["namespace"] == values.namespace
    data = external_secret["spec"]["data"]
    assert {item["secretKey"] for item in data} == set(SLACK_RECEIVERS)
    for item in data:
        assert item["remoteRef"] == {
            "key": values.secrets.slack_remote_name,
            "property": item["secretKey"],
        }


def test_grouping_repeats_and_inhibition() -> None:
    config = release_config()
    route = config["route"]
    assert route["receiver"] == "slack-warning"
    assert route["group_by"] == ["alertname", "namespace"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "30s",
        "5m",
        "4h",
    )
    # InfoInhibitor first, and no further: it reaches no other route.
    null_route, *routes = route["routes"]
    assert null_route == {"receiver": "null", "matchers": ['alertname="InfoInhibitor"']}
    assert {"name": "null"} in config["receivers"]
    repeat = {r["receiver"]: r["repeat_interval"] for r in routes}
    assert repeat == {
        DEAD_MANS_SWITCH: ALERTING.heartbeat_interval,
        DELIVERY_FAILURES: "1h",
        "slack-heartbeat": "1h",
        "slack-app": "4h",
        "slack-critical": "1h",
        "slack-warning": "4h",
        "slack-info": "24h",
    }
    assert len(routes) == len(repeat)
    assert config["inhibit_rules"] == [
        # A critical mutes the warning/info alerts of its name and namespace, a warning
        # the infos.
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
        # Upstream's: InfoInhibitor mutes the info alerts of its namespace, and nothing else.
        {
            "source_matchers": ['alertname="InfoInhibitor"'],
            "target_matchers": ['severity="info"'],
            "equal": ["namespace"],
        },
        {"target_matchers": ['alertname="InfoInhibitor"']},
    ]
    heartbeat = {r["name"]: r for r in config["receivers"]}["slack-heartbeat"]
    assert heartbeat["slack_configs"][0]["send_resolved"] is False


def test_the_heartbeat_and_failures_go_to_sns_as_the_pod_role() -> None:
    """The dead man's switch and the delivery-failure alarm watch these topics from outside
    the cluster: every heartbeat interval, no resolved notices (each publish counts)."""
    config = release_config()
    receivers = {r["name"]: r for r in config["receivers"]}
    for name, topic in (
        (
            DEAD_MANS_SWITCH,
            "arn:aws:sns:ap-northeast-2:000000000000:openmarket-dev-alerting-heartbeat",
        ),
        (
            DELIVERY_FAILURES,
            "arn:aws:sns:ap-northeast-2:000000000000:openmarket-dev-alert-delivery-failures",
        ),
    ):
        (sns,) = receivers[name]["sns_configs"]
        assert sns["topic_arn"] == topic
        assert sns["sigv4"] == {"region": "ap-northeast-2"}  # no key: the pod's role
        assert sns["send_resolved"] is False
    routes = {r["receiver"]: r for r in config["route"]["routes"]}
    assert routes[DEAD_MANS_SWITCH]["continue"] is True
    assert routes[DEAD_MANS_SWITCH]["repeat_interval"] == ALERTING.heartbeat_interval == "5m"
    assert routes[DELIVERY_FAILURES]["continue"] is True


def test_the_release_creates_the_service_account_its_pod_role_is_for(
    dev: RenderedMonitoring,
) -> None:
    """The cluster stack's Pod Identity association (SNS publish) is for the stage config's
    monitoring namespace and Alertmanager service account: the release must create exactly
    that account, in the namespace it is installed in (the monitoring one)."""
    values = dev.values
    release = stack_values(values)
    alertmanager = release["alertmanager"]
    account = values.alertmanager.service_account
    assert alertmanager["serviceAccount"] == {"create": True, "name": account}
    association = stage_config("dev").kubernetes.monitoring
    assert account == association.alertmanager.service_account == "alertmanager"
    # No override: the chart puts the account in the release's namespace, the monitoring one
    # (the cluster stack installs the release there), which the namespaces chart creates.
    assert "namespaceOverride" not in release and "namespaceOverride" not in alertmanager
    assert values.namespace == association.namespace == "monitoring"
    namespace = dev.one("Namespace", values.namespace)
    assert namespace in dev.manifests["monitoring-namespaces"]
