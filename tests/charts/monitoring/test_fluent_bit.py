"""Fluent Bit's configuration, parsed back from the ConfigMap: the plugins, the tag that
ties the tail input to the kubernetes filter, and the CloudWatch Logs destination."""

from __future__ import annotations

import re

import pytest

from charts.monitoring.fluent_bit import CONFIG_FILE, fluent_bit_config
from openmarket_cdk.config import stage_config
from tests.charts.monitoring.conftest import RenderedMonitoring, monitoring_values, stage_params

Sections = list[tuple[str, dict[str, str]]]
SECTION = re.compile(r"\[(\w+)\]")
ENTRY = re.compile(r"    (\S+) +(\S.*)")


def parse(text: str) -> Sections:
    """Fluent Bit's classic format: [SECTION] headers, then indented `key value` lines."""
    sections: Sections = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if header := SECTION.fullmatch(line):
            sections.append((header.group(1), {}))
            continue
        entry = ENTRY.fullmatch(line)
        assert entry and sections, f"not Fluent Bit's classic format: {line!r}"
        key, value = entry.groups()
        assert key not in sections[-1][1], f"{key} twice in [{sections[-1][0]}]"
        sections[-1][1][key] = value
    return sections


def config(rendered: RenderedMonitoring) -> Sections:
    config_map = rendered.one("ConfigMap", "fluent-bit-config")
    return parse(config_map["data"][CONFIG_FILE])


def one(sections: Sections, kind: str, name: str) -> dict[str, str]:
    found = [
        entries for section, entries in sections if section == kind and entries.get("Name") == name
    ]
    assert len(found) == 1, f"{len(found)} [{kind}] {name}"
    return found[0]


def test_the_pipeline_is_tail_kubernetes_cloudwatch(dev: RenderedMonitoring) -> None:
    sections = config(dev)
    assert [section for section, _ in sections] == ["SERVICE", "INPUT", "FILTER", "OUTPUT"]
    assert [entries.get("Name") for _, entries in sections[1:]] == [
        "tail",
        "kubernetes",
        "cloudwatch_logs",
    ]
    assert parse(dev.one("ConfigMap", "fluent-bit-config")["data"][CONFIG_FILE]) == [
        (section, dict(entries)) for section, entries in fluent_bit_config(dev.values)
    ]


def test_tail_reads_container_logs_with_the_cri_parser(dev: RenderedMonitoring) -> None:
    tail = one(config(dev), "INPUT", "tail")
    assert tail["Path"] == "/var/log/containers/*.log"
    assert tail["multiline.parser"] == "cri"
    assert tail["DB"].startswith("/var/fluent-bit/state/")
    assert tail["storage.type"] == "filesystem"


def test_the_filter_prefix_matches_the_tail_tag(dev: RenderedMonitoring) -> None:
    sections = config(dev)
    tail = one(sections, "INPUT", "tail")
    kubernetes = one(sections, "FILTER", "kubernetes")
    # tail tags a record with its Tag's '*' replaced by the file path, '/' as '.'.
    example = "/var/log/containers/backend-7d9f_openmarket-dev_backend-0123abcd.log"
    tag = tail["Tag"].replace("*", example.lstrip("/").replace("/", "."))
    assert tag.startswith(kubernetes["Kube_Tag_Prefix"])
    assert tag.removeprefix(kubernetes["Kube_Tag_Prefix"]) == example.rsplit("/", 1)[1]
    assert kubernetes["Match"] == tail["Tag"]
    assert kubernetes["Kube_Token_File"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"


@pytest.mark.parametrize("stage", stage_params())
def test_logs_go_to_the_stage_log_group(
    monitoring: dict[str, RenderedMonitoring], stage: str
) -> None:
    output = one(config(monitoring[stage]), "OUTPUT", "cloudwatch_logs")
    assert output["log_group_name"] == f"/aws/eks/openmarket-{stage}/application"
    assert output["log_group_name"] == stage_config(stage).application_log_group_name
    assert output["region"] == monitoring_values(stage).region
    assert output["auto_create_group"] == "Off"  # the CDK stack owns the group
    assert output["Match"] == "kube.*"


def test_the_service_account_is_the_one_pod_identity_binds(dev: RenderedMonitoring) -> None:
    daemon_set = dev.one("DaemonSet", "fluent-bit")
    assert daemon_set["metadata"]["namespace"] == "monitoring-agents"
    assert daemon_set["spec"]["template"]["spec"]["serviceAccountName"] == "fluent-bit"
    account = dev.one("ServiceAccount", "fluent-bit")
    assert "annotations" not in account["metadata"]  # Pod Identity needs none
    role = dev.one("ClusterRole", "fluent-bit")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]


def test_metrics_and_health_endpoint(dev: RenderedMonitoring) -> None:
    service = config(dev)[0][1]
    assert service["HTTP_Server"] == "On" and service["HTTP_Port"] == "2020"
    assert service["Health_Check"] == "On"
