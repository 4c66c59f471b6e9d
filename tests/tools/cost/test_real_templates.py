"""The estimator over the real synthesized templates: the test session's one synth."""

from __future__ import annotations

import json
import re

import pytest

from openmarket_cdk.config import STAGE_NAMES, AuroraCapacity, stage_config
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


def _weekly_hours(weekdays: str, start_minute: int, stop_minute: int) -> float:
    """Hours a week between two times of day (minutes after midnight) on ``weekdays``."""
    days = len(daily_time(f"cron(0 0 ? * {weekdays} *)").days)
    return days * (stop_minute - start_minute) / 60


def _awake_hours(stage: str, stop_minute: int) -> float:
    """Hours a month from the stage's wake (``wake_hour_minute``) to ``stop_minute``."""
    sleep = stage_config(stage).sleep
    hour, minute = sleep.wake_hour_minute
    return hours_per_month(_weekly_hours(sleep.weekdays, hour * 60 + minute, stop_minute))


_BOUNDS = re.compile(r"^(\d+) x ([\d.]+) h \(min (\d+), max (\d+)\)$")


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_the_node_groups_sum_to_the_stage_bounds_and_sleep_where_config_says_so(
    estimates: dict[str, StageEstimate], stage: str
) -> None:
    """One node group per zone, each at its zone's bounds (``node_group_sizes``), together
    the stage's ``node_min_size``..``node_max_size``; in a stage that sleeps they run from
    the wake to the sleep (``stop_hour``), else all month."""
    estimate = estimates[stage]
    config = stage_config(stage)
    groups = [i for i in estimate.items if i.description.startswith("node group")]
    by_zone: dict[str, tuple[int, int]] = {}
    hours: set[float] = set()
    for item in groups:
        match = _BOUNDS.match(item.quantity)
        assert match is not None, item.quantity
        nodes, minimum, maximum = (int(match.group(n)) for n in (1, 3, 4))
        assert nodes == minimum, item  # a group starts, and wakes, at its minimum
        zone = item.description.split("(", 1)[1].split(")", 1)[0]
        by_zone[zone] = (minimum, maximum)
        hours.add(float(match.group(2)))
    assert by_zone == config.node_group_sizes
    assert sum(low for low, _ in by_zone.values()) == config.kubernetes.node_min_size
    assert sum(high for _, high in by_zone.values()) == config.kubernetes.node_max_size
    scaled = estimate.facts["nodegroups_scaled_to_zero_by_schedule"]
    if config.sleep.enabled:
        assert len(scaled) == len(groups)
        assert hours == {round(_awake_hours(stage, config.sleep.stop_hour * 60), 1)}
        for item in groups:
            (note, *_) = item.notes
            assert note.startswith("scaled to 0 outside") and "scaled back by" in note
    else:
        assert scaled == []
        assert hours == {730.0}
    assert not [w for w in estimate.warnings if "node group" in w]


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_the_nat_instance_and_the_alb_sleep_where_config_says_so(
    estimates: dict[str, StageEstimate], stage: str
) -> None:
    """The stage-sleep schedules the stacks synthesize are the ones the estimator
    recognises: with ``nat_instance_sleeps`` the stage's NAT instance runs from the wake
    (``nat_wake_before_start_minutes`` before ``start_hour``) to the finish-sleep
    (``finish_after_stop_minutes`` after ``stop_hour``), its public IPv4 with it; with
    ``load_balancer_sleeps`` the ALB exists from the wake to the sleep (``stop_hour``)."""
    estimate = estimates[stage]
    config = stage_config(stage)
    sleep = config.sleep
    nat = [
        i for i in estimate.items if i.category == "NAT" and i.resource_type == "AWS::EC2::Instance"
    ]
    nat_instances = sorted({i.resource for i in nat})
    stopped = estimate.facts["instances_stopped_by_schedule"]
    if sleep.nat_instance_sleeps:
        assert len(nat_instances) == 1
        assert stopped == nat_instances
        hours = _awake_hours(stage, sleep.stop_hour * 60 + sleep.finish_after_stop_minutes)
        # The instance and its public IPv4 address; the root volume stays all month.
        running = [i for i in nat if "root volume" not in i.description]
        assert len(running) == 2, running
        for item in running:
            assert f"{hours:.1f} h" in item.quantity, item
            (note,) = item.notes
            assert note.startswith("stopped outside") and "(function " in note
            # The schedules by address: the cluster stack's finish-sleep and wake.
            assert f"by {stage}/Cluster/StageSleepFinishSleepSchedule" in note, note
            assert f"started by {stage}/Cluster/StageSleepWakeSchedule" in note, note
    else:
        assert stopped == []
    deleted = estimate.facts["albs_deleted_by_schedule"]
    alb = [i for i in estimate.items if i.category == "ALB"]
    if sleep.load_balancer_sleeps:
        assert deleted == [config.names.load_balancer_name]
        hours = _awake_hours(stage, sleep.stop_hour * 60)
        (item,) = alb
        assert item.quantity.startswith(f"{hours:.1f} h"), item
    else:
        assert deleted == []
        assert all(i.quantity.startswith("730 h") for i in alb)
    # None of the warnings of the sleep rules (schedules half there, a window not modelled,
    # a tag, a name or a zone nothing carries, an input the function would refuse).
    markers = ("instance ", "instances ", "ALB '", "load balancer '", "zone(s)", "stage-sleep")
    assert not [w for w in estimate.warnings if any(m in w for m in markers)]


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_a_provisioned_aurora_sleeps_where_config_says_so(
    estimates: dict[str, StageEstimate], stage: str
) -> None:
    """staging's provisioned Aurora stops at the sleep and starts at the wake; dev's
    Serverless v2 pauses by itself; prod's runs all month."""
    estimate = estimates[stage]
    config = stage_config(stage)
    instances = [
        i
        for i in estimate.items
        if i.resource_type == "AWS::RDS::DBInstance" and i.description.startswith("Aurora MySQL")
    ]
    if config.sleep.enabled and config.aurora.capacity is AuroraCapacity.PROVISIONED:
        hours = _awake_hours(stage, config.sleep.stop_hour * 60)
        assert instances
        for item in instances:
            assert item.quantity == f"1 x {hours:.1f} h", item
            (note,) = item.notes
            assert note.startswith("stopped outside") and "started by" in note
    else:
        assert all(i.quantity == "1 x 730.0 h" for i in instances)


def test_the_report_document_serializes(estimates: dict[str, StageEstimate]) -> None:
    document = report_document(list(estimates.values()), load_prices())
    assert set(json.loads(json.dumps(document))["totals_usd"]) == set(STAGE_NAMES)
