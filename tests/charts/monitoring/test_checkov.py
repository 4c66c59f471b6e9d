"""checkov on OpenMarket's own monitoring objects: no failure, and nothing acknowledged.

What this repository renders for monitoring is the namespaces, the SecretStore and
ExternalSecrets, the PrometheusRule, the ServiceMonitor, the dashboard ConfigMap and the
NetworkPolicies (the kube-prometheus-stack release's objects are the chart's, rendered by
Helm on the cluster). None of them runs a pod, so none needs a finding acknowledged: no
object carries checkov's in-manifest suppression annotation.

From the session's one checkov run (tests/checkov_scan.py), with the repo's skip list, as
for the app manifests (tests/charts/test_checkov.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.charts.monitoring.conftest import RenderedMonitoring, stage_params
from tests.charts.test_checkov import skip_list
from tests.checkov_scan import MONITORING, PROBE, PROBE_SUPPRESSION, Scan

SUPPRESSION_PREFIX = "checkov.io/skip"


def test_checkov_finds_no_failure(
    checkov_scan: Scan, monitoring: dict[str, RenderedMonitoring]
) -> None:
    failures = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for c in checkov_scan.checks("kubernetes", "failed", MONITORING)
        if c["check_id"] not in skip_list()
    ]
    assert failures == []
    # Nothing suppressed in a manifest (the run has no skip list of its own).
    suppressed = [
        f"{c['check_id']} {c['resource']}"
        for c in checkov_scan.checks("kubernetes", "skipped", MONITORING)
    ]
    assert suppressed == []
    assert checkov_scan.summary("kubernetes")["parsing_errors"] == 0
    # The monitoring objects of every stage were read, and checked.
    checked = {
        c["file_path"].split("/")[2]
        for outcome in ("passed", "failed")
        for c in checkov_scan.checks("kubernetes", outcome, MONITORING)
    }
    assert checked == set(monitoring)


def annotation_keys(node: Any) -> Iterator[str]:
    """The keys of every ``annotations`` map in an object (its own, and any template's)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "annotations" and isinstance(value, dict):
                yield from value
            yield from annotation_keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from annotation_keys(item)


@pytest.mark.parametrize("stage", stage_params())
def test_nothing_is_acknowledged(monitoring: dict[str, RenderedMonitoring], stage: str) -> None:
    objects = monitoring[stage].all_objects()
    assert objects
    suppressions = [
        f"{obj['kind']}/{obj['metadata']['name']}: {key}"
        for obj in objects
        for key in annotation_keys(obj)
        if key.startswith(SUPPRESSION_PREFIX)
    ]
    assert suppressions == []


def test_checkov_reads_the_suppression_annotation(checkov_scan: Scan) -> None:
    """The annotation the test above looks for is the one checkov honours: on the scan's
    probe (a copy of the dashboard ConfigMap), it turns a pass into a suppression."""
    key, value = PROBE_SUPPRESSION
    assert key.startswith(SUPPRESSION_PREFIX)
    skipped = checkov_scan.checks("kubernetes", "skipped", PROBE)
    assert [c["check_id"] for c in skipped] == [value.split("=")[0]]
    assert checkov_scan.checks("kubernetes", "failed", PROBE) == []
    passed = {c["check_id"] for c in checkov_scan.checks("kubernetes", "passed", MONITORING)}
    assert value.split("=")[0] in passed  # the same check passes on the original
