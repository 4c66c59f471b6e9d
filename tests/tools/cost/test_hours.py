"""Hours in a month, working hours, schedule expressions."""

from __future__ import annotations

import pytest

from openmarket_cdk.config import WorkingHoursConfig, stage_config
from tools.cost.hours import (
    DAYS_PER_MONTH,
    HOURS_PER_MONTH,
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
    working = stage_config("dev").observability.working_hours
    assert working.enabled
    assert working.hours_per_week == 45  # weekdays 09:00-18:00
    assert working_hours_per_month(working) == pytest.approx(730 * 45 / 168)
    assert working_hours_per_month(working) == pytest.approx(195.54, abs=0.01)


def test_prod_runs_all_month() -> None:
    working = stage_config("prod").observability.working_hours
    assert working_hours_per_month(working) == 730


def test_staging_runs_weekdays_08_to_18() -> None:
    working = stage_config("staging").observability.working_hours
    assert working.hours_per_week == 50
    assert working_hours_per_month(working) == pytest.approx(730 * 50 / 168)


def test_working_hours_follow_the_config() -> None:
    working = WorkingHoursConfig(enabled=True, start_hour=8, stop_hour=20)
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
    working = stage_config("dev").observability.working_hours  # weekdays 09:00-18:00
    # dev's data-sync: hourly, 09-17, weekdays: never off-hours, so Aurora can pause.
    assert off_hours_fires_per_month("cron(0 9-17 ? * MON-FRI *)", working) == 0
    # The nightly report at 00:00 every day: always off-hours.
    assert off_hours_fires_per_month("cron(0 0 * * ? *)", working) == pytest.approx(730 / 24)
    # Hourly around the clock: the off-hours share of the month.
    assert off_hours_fires_per_month("rate(1 hour)", working) == pytest.approx(730 * (1 - 45 / 168))
    prod = stage_config("prod").observability.working_hours
    assert off_hours_fires_per_month("rate(1 hour)", prod) == 0
