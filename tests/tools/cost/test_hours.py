"""Hours in a month, working hours, schedule expressions."""

from __future__ import annotations

import pytest

from openmarket_cdk.config import StageSleepConfig, stage_config
from tools.cost.hours import (
    DAYS_PER_MONTH,
    HOURS_PER_MONTH,
    UnmodelledWindow,
    daily_time,
    daily_window,
    hours_per_month,
    off_hours_fires_per_month,
    schedule_fires_per_month,
    working_hours_per_month,
)


def test_a_month_is_730_hours() -> None:
    assert HOURS_PER_MONTH == 730
    assert hours_per_month(168) == 730
    assert hours_per_month(0) == 0


def test_dev_working_hours_are_45_per_week_and_195_5_per_month() -> None:
    working = stage_config("dev").sleep
    assert working.enabled
    assert working.hours_per_week == 45  # weekdays 09:00-18:00
    assert working_hours_per_month(working) == pytest.approx(730 * 45 / 168)
    assert working_hours_per_month(working) == pytest.approx(195.54, abs=0.01)


def test_prod_runs_all_month() -> None:
    working = stage_config("prod").sleep
    assert working_hours_per_month(working) == 730


def test_staging_runs_weekdays_08_to_18() -> None:
    working = stage_config("staging").sleep
    assert working.hours_per_week == 50
    assert working_hours_per_month(working) == pytest.approx(730 * 50 / 168)


def test_working_hours_follow_the_config() -> None:
    working = StageSleepConfig(enabled=True, start_hour=8, stop_hour=20)
    assert working_hours_per_month(working) == pytest.approx(730 * 60 / 168)


def test_hours_outside_a_week_are_rejected() -> None:
    with pytest.raises(ValueError):
        hours_per_month(169)


@pytest.mark.parametrize(
    ("expression", "fires"),
    [
        ("rate(1 hour)", 730),
        ("rate(2 hours)", 365),
        ("rate(5 minutes)", 730 * 12),
        ("rate(1 day)", DAYS_PER_MONTH),
        ("cron(0 0 * * ? *)", DAYS_PER_MONTH),
        ("cron(0 9 ? * MON-FRI *)", DAYS_PER_MONTH * 5 / 7),
        ("cron(0 18 ? * 2-6 *)", DAYS_PER_MONTH * 5 / 7),
        ("cron(0/15 * * * ? *)", 4 * 24 * DAYS_PER_MONTH),
        ("cron(0 9,18 ? * SAT,SUN *)", 2 * DAYS_PER_MONTH * 2 / 7),
        ("cron(0 12 1 * ? *)", 1),
        ("cron(0 12 1 JAN ? *)", 1 / 12),
        ("at(2030-01-01T00:00:00)", 0),
    ],
)
def test_schedule_fires_per_month(expression: str, fires: float) -> None:
    assert schedule_fires_per_month(expression) == pytest.approx(fires)


@pytest.mark.parametrize(
    "expression", ["cron(0 12 L * ? *)", "cron(0 12 ? * 6#3 *)", "cron(0 12 * *)", "daily", ""]
)
def test_unmodelled_schedules_say_so(expression: str) -> None:
    assert schedule_fires_per_month(expression) is None


def test_off_hours_fires_follow_the_working_hours() -> None:
    working = stage_config("dev").sleep  # weekdays 09:00-18:00
    # dev's data-sync: hourly, 09-17, weekdays: never off-hours, so Aurora can pause.
    assert off_hours_fires_per_month("cron(0 9-17 ? * MON-FRI *)", working) == 0
    # The nightly report at 00:00 every day: always off-hours.
    assert off_hours_fires_per_month("cron(0 0 * * ? *)", working) == pytest.approx(730 / 24)
    # Hourly around the clock: the off-hours share of the month.
    assert off_hours_fires_per_month("rate(1 hour)", working) == pytest.approx(730 * (1 - 45 / 168))
    prod = stage_config("prod").sleep
    assert off_hours_fires_per_month("rate(1 hour)", prod) == 0


@pytest.mark.parametrize(
    ("start", "stop", "hours_per_week", "described"),
    [
        # dev's NAT instance: 10 minutes before the nodes, 30 minutes after them.
        ("cron(50 8 ? * MON-FRI *)", "cron(30 18 ? * MON-FRI *)", 5 * (9 + 40 / 60), "08:50-18:30"),
        # dev's nodes and ALB: from the wake to the sleep.
        ("cron(50 8 ? * MON-FRI *)", "cron(0 18 ? * MON-FRI *)", 5 * (9 + 10 / 60), "08:50-18:00"),
        # Day numbers and names select the same days.
        ("cron(0 9 ? * 2-6 *)", "cron(0 18 ? * MON-FRI *)", 45, "09:00-18:00"),
        ("cron(0 8 * * ? *)", "cron(0 20 * * ? *)", 7 * 12, "08:00-20:00"),
    ],
)
def test_daily_window_runs_from_the_start_time_to_the_stop_time(
    start: str, stop: str, hours_per_week: float, described: str
) -> None:
    window = daily_window(start, stop)
    assert window.hours_per_week == pytest.approx(hours_per_week)
    assert window.hours_per_month == pytest.approx(730 * hours_per_week / 168)
    assert described in window.describe()


def test_dev_nat_instance_window_is_48_33_hours_a_week() -> None:
    window = daily_window("cron(50 8 ? * MON-FRI *)", "cron(30 18 ? * MON-FRI *)")
    assert window.hours_per_week == pytest.approx(48.33, abs=0.01)
    assert window.hours_per_month == pytest.approx(210.0, abs=0.1)
    assert window.describe() == "MON-FRI 08:50-18:30"


@pytest.mark.parametrize(
    ("start", "stop", "why"),
    [
        ("cron(0 9 ? * MON-FRI *)", "cron(0 18 ? * MON-SAT *)", "different weekdays"),
        ("cron(0 18 ? * MON-FRI *)", "cron(0 9 ? * MON-FRI *)", "not after the start"),
        ("cron(0 22 * * ? *)", "cron(0 6 * * ? *)", "not after the start"),  # across midnight
        ("cron(0 9 ? * MON-FRI *)", "cron(0 9 ? * MON-FRI *)", "not after the start"),
        ("rate(1 day)", "cron(0 18 ? * MON-FRI *)", "not a six-field cron"),
        ("cron(0 9,13 ? * MON-FRI *)", "cron(0 18 ? * MON-FRI *)", "more than once a day"),
        ("cron(0 9 1 * ? *)", "cron(0 18 1 * ? *)", "chosen dates"),
        ("cron(0 9 ? * 2#1 *)", "cron(0 18 ? * 2#1 *)", "not modelled"),
    ],
)
def test_daily_window_refuses_what_it_does_not_model(start: str, stop: str, why: str) -> None:
    with pytest.raises(UnmodelledWindow, match=why):
        daily_window(start, stop)


def test_daily_time_reads_a_once_a_day_cron() -> None:
    time = daily_time("cron(30 18 ? * MON-FRI *)")
    assert (time.minute_of_day, time.clock, time.weekdays) == (18 * 60 + 30, "18:30", "MON-FRI")
    assert time.days == frozenset({2, 3, 4, 5, 6})
