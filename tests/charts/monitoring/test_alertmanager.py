"""alertmanager.yml: amtool accepts it, every kind of alert reaches the channel it should,
and no webhook URL is in it (each is a file from the synced Secret)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from charts.monitoring.alertmanager import CONFIG_FILE, SLACK_DIR, alertmanager_config
from charts.monitoring.values import SLACK_RECEIVERS
from tests.charts.monitoring.conftest import RenderedMonitoring

# (labels of an alert, the receiver it must reach)
ROUTES = [
    (["alertname=Watchdog", "severity=none", "team=platform"], "slack-heartbeat"),
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
    assert "SUCCESS" in result.stdout and "5 receivers" in result.stdout


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
    assert yaml.safe_load(config_file.read_text()) == alertmanager_config()


def test_webhook_urls_come_from_the_secret_files(dev: RenderedMonitoring) -> None:
    config = alertmanager_config()
    receivers = {r["name"]: r["slack_configs"] for r in config["receivers"]}
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
    config: dict[str, Any] = alertmanager_config()
    route = config["route"]
    assert route["group_by"] == ["alertname", "namespace"]
    repeat = {r["receiver"]: r["repeat_interval"] for r in route["routes"]}
    assert repeat == {
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
