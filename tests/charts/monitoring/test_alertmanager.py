"""alertmanager.yml: amtool accepts it, every kind of alert reaches the channel it should,
and no webhook URL is in it (each is a file from the synced Secret)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from charts.monitoring.alertmanager import (
    CONFIG_FILE,
    DEAD_MANS_SWITCH,
    DELIVERY_FAILURES,
    SLACK_DIR,
    alertmanager_config,
)
from tests.charts.monitoring.conftest import RenderedMonitoring, monitoring_values

VALUES = monitoring_values("dev")
ALERTING = VALUES.alerting
SLACK_RECEIVERS = ALERTING.slack_receivers


def built() -> dict[str, Any]:
    return alertmanager_config(ALERTING, VALUES.region)


# (labels of an alert, the receiver it must reach)
ROUTES = [
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


@pytest.fixture(scope="module")
def config_file(dev: RenderedMonitoring, tmp_path_factory: pytest.TempPathFactory) -> Path:
    config_map = dev.one("ConfigMap", "alertmanager-config")
    path = tmp_path_factory.mktemp("alertmanager") / CONFIG_FILE
    path.write_text(config_map["data"][CONFIG_FILE])
    return path


def amtool_run(amtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([amtool, *args], capture_output=True, text=True, check=False)


def test_amtool_accepts_the_config(amtool: str, config_file: Path) -> None:
    result = amtool_run(amtool, "check-config", str(config_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "7 receivers" in result.stdout


@pytest.mark.parametrize(("labels", "receiver"), ROUTES, ids=[r for _, r in ROUTES])
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


def test_the_configmap_carries_the_config_as_built(config_file: Path) -> None:
    assert yaml.safe_load(config_file.read_text()) == built()


def test_webhook_urls_come_from_the_secret_files(dev: RenderedMonitoring) -> None:
    config = built()
    receivers = {r["name"]: r["slack_configs"] for r in config["receivers"] if "slack_configs" in r}
    assert set(receivers) == {f"slack-{name}" for name in SLACK_RECEIVERS}
    for name in SLACK_RECEIVERS:
        (slack,) = receivers[f"slack-{name}"]
        assert slack["api_url_file"] == f"{SLACK_DIR}/{name}"
        assert "api_url" not in slack
    text = dev.one("ConfigMap", "alertmanager-config")["data"][CONFIG_FILE]
    assert "hooks.slack.com" not in text and "https://" not in text

    # The files are the keys of the Secret that External Secrets keeps in sync.
    pod = dev.one("StatefulSet", "alertmanager")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == "alertmanager-slack"
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts[volume["name"]]["mountPath"] == SLACK_DIR
    assert mounts[volume["name"]]["readOnly"] is True
    external_secret = dev.one("ExternalSecret", "alertmanager-slack")
    keys = {item["secretKey"] for item in external_secret["spec"]["data"]}
    assert keys == set(SLACK_RECEIVERS)


def test_grouping_repeats_and_inhibition() -> None:
    config: dict[str, Any] = built()
    route = config["route"]
    assert route["group_by"] == ["alertname", "namespace"]
    repeat = {r["receiver"]: r["repeat_interval"] for r in route["routes"]}
    assert repeat == {
        DEAD_MANS_SWITCH: "5m",
        DELIVERY_FAILURES: "1h",
        "slack-heartbeat": "1h",
        "slack-app": "4h",
        "slack-critical": "1h",
        "slack-warning": "4h",
        "slack-info": "24h",
    }
    assert config["inhibit_rules"][0] == {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity=~"warning|info"'],
        "equal": ["namespace", "alertname"],
    }
    heartbeat = {r["name"]: r for r in config["receivers"]}["slack-heartbeat"]
    assert heartbeat["slack_configs"][0]["send_resolved"] is False


def test_the_heartbeat_and_failures_go_to_sns_as_the_pod_role() -> None:
    """The dead man's switch and the delivery-failure alarm watch these topics from outside
    the cluster: every heartbeat interval, no resolved notices (each publish counts)."""
    config = built()
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
    first, second = config["route"]["routes"][:2]
    assert first["receiver"] == DEAD_MANS_SWITCH and first["continue"] is True
    assert first["repeat_interval"] == ALERTING.heartbeat_interval
    assert second["receiver"] == DELIVERY_FAILURES and second["continue"] is True


def test_alertmanager_runs_as_the_service_account_its_pod_role_is_for(
    dev: RenderedMonitoring,
) -> None:
    pod = dev.one("StatefulSet", "alertmanager")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == ALERTING.service_account == "alertmanager"
