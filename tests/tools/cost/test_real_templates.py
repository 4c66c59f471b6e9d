"""The estimator over the real synthesized templates: the test session's one synth."""

from __future__ import annotations

import json

import pytest

from openmarket_cdk.config import STAGE_NAMES, stage_config
from tests.conftest import Synthesized
from tools.cost import StageEstimate, estimate_from_cdk_out, load_prices
from tools.cost.hours import daily_time, hours_per_month
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


def _weekly_hours(weekdays: str, start_minute: int, stop_minute: int) -> float:
    """Hours a week between two times of day (minutes after midnight) on ``weekdays``."""
    days = len(daily_time(f"cron(0 0 ? * {weekdays} *)").days)
    return days * (stop_minute - start_minute) / 60


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_the_nat_instance_and_the_alb_sleep_where_config_says_so(
    estimates: dict[str, StageEstimate], stage: str
) -> None:
    """The sleep function's schedules the stacks synthesize are the ones the estimator
    recognises: with ``nat_instance_sleeps`` the stage's NAT instance runs from its wake
    (``nat_wake_before_start_minutes`` before ``start_hour``) to its sleep
    (``sleep_after_stop_minutes`` after ``stop_hour``), its public IPv4 with it; with
    ``load_balancer_sleeps`` the ALB exists from ``start_hour`` (the nodes) to that sleep."""
    estimate = estimates[stage]
    config = stage_config(stage)
    working = config.observability.working_hours
    sleeps_at = working.stop_hour * 60 + working.sleep_after_stop_minutes
    nat = [
        i for i in estimate.items if i.category == "NAT" and i.resource_type == "AWS::EC2::Instance"
    ]
    nat_instances = sorted({i.resource for i in nat})
    stopped = estimate.facts["instances_stopped_by_schedule"]
    if working.nat_instance_sleeps:
        assert len(nat_instances) == 1
        assert stopped == nat_instances
        wakes_at = working.start_hour * 60 - working.nat_wake_before_start_minutes
        hours = hours_per_month(_weekly_hours(working.weekdays, wakes_at, sleeps_at))
        # The instance and its public IPv4 address; the root volume stays all month.
        running = [i for i in nat if "root volume" not in i.description]
        assert len(running) == 2, running
        for item in running:
            assert f"{hours:.1f} h" in item.quantity, item
            (note,) = item.notes
            assert note.startswith("stopped outside") and "(function " in note
    else:
        assert stopped == []
    deleted = estimate.facts["albs_deleted_by_schedule"]
    alb = [i for i in estimate.items if i.category == "ALB"]
    if working.load_balancer_sleeps:
        assert deleted == [config.load_balancer_name]
        hours = hours_per_month(_weekly_hours(working.weekdays, working.start_hour * 60, sleeps_at))
        (item,) = alb
        assert item.quantity.startswith(f"{hours:.1f} h"), item
    else:
        assert deleted == []
        assert all(i.quantity.startswith("730 h") for i in alb)
    # None of the warnings of the NAT instance and ALB rules (schedules half there, a window
    # not modelled, a tag or a name nothing carries).
    markers = ("instance ", "instances ", "ALB '", "load balancer '")
    assert not [w for w in estimate.warnings if any(m in w for m in markers)]


def test_the_report_document_serializes(estimates: dict[str, StageEstimate]) -> None:
    document = report_document(list(estimates.values()), load_prices())
    assert set(json.loads(json.dumps(document))["totals_usd"]) == set(STAGE_NAMES)
