"""The estimator over the real synthesized templates: the test session's one synth."""

from __future__ import annotations

import json

import pytest

from openmarket_cdk.config import STAGE_NAMES, stage_config
from tests.conftest import Synthesized
from tools.cost import StageEstimate, estimate_from_cdk_out, load_prices
from tools.cost.report import report_document


@pytest.fixture(scope="module")
def estimates(synthesized: Synthesized) -> dict[str, StageEstimate]:
    prices = load_prices()
    return {
        stage: estimate_from_cdk_out(synthesized.outdir, stage, prices) for stage in STAGE_NAMES
    }


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_resource_of_the_real_templates_is_priced_or_free(
    estimates: dict[str, StageEstimate], stage: str
) -> None:
    estimate = estimates[stage]
    assert not estimate.unpriced, (
        "unpriced resources: add a rule or a free entry to the service's module in "
        "tools/cost/rules/: "
        + "; ".join(f"{u.resource_type} {u.resource}: {u.reason}" for u in estimate.unpriced)
    )


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_the_main_line_items_are_found(estimates: dict[str, StageEstimate], stage: str) -> None:
    categories = estimates[stage].by_category()
    main = ["EKS control plane", "nodes", "Aurora", "ElastiCache", "NAT", "ALB"]
    if stage_config(stage).kubernetes.waf_enabled:  # dev restricts its ALB instead
        main.append("WAF")
    for category in main:
        assert categories[category] > 0, category
    assert categories["EKS control plane"] == pytest.approx(73.0)


def test_dev_counts_working_hours_only_when_its_schedule_is_synthesized(
    estimates: dict[str, StageEstimate],
) -> None:
    dev = estimates["dev"]
    nodes = [i for i in dev.items if i.description.startswith("node group")]
    assert nodes
    scheduled = dev.facts["nodegroups_scaled_to_zero_by_schedule"]
    expected_hours = 730 * 45 / 168 if scheduled else 730
    assert all(f"{expected_hours:.1f} h" in i.quantity for i in nodes)


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_the_nat_instance_and_the_alb_sleep_where_config_says_so(
    estimates: dict[str, StageEstimate], stage: str
) -> None:
    """The schedules the stacks synthesize are the ones the estimator recognises."""
    estimate = estimates[stage]
    working = stage_config(stage).observability.working_hours
    stopped = estimate.facts["instances_stopped_by_schedule"]
    assert len(stopped) == (1 if working.nat_instance_sleeps else 0)
    deleted = estimate.facts["albs_deleted_by_schedule"]
    assert deleted == (
        [stage_config(stage).load_balancer_name] if working.load_balancer_sleeps else []
    )
    # None of the warnings of the NAT instance and ALB rules (schedules half there, a window
    # not modelled, a name no Ingress uses).
    markers = ("instance ", "instances ", "ALB '", "load balancer '")
    assert not [w for w in estimate.warnings if any(m in w for m in markers)]


def test_the_report_document_serializes(estimates: dict[str, StageEstimate]) -> None:
    document = report_document(list(estimates.values()), load_prices())
    assert set(json.loads(json.dumps(document))["totals_usd"]) == set(STAGE_NAMES)
