"""Hours in a month, working-hours arithmetic and how often a schedule fires.

AWS prices a month as 730 hours (365 days * 24 h / 12). The working hours of a stage that
sleeps (``StageSleepConfig.hours_per_week``) are ``730 * hours_per_week / 168`` hours: dev's
weekdays 09:00-18:00 are 45 h/week = 195.5 h/month. A resource stopped and started by two
schedules runs the window between them (``daily_window``): 08:50-18:30 on weekdays is
48.33 h/week.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openmarket_cdk.config import StageSleepConfig

HOURS_PER_MONTH = 730.0
HOURS_PER_WEEK = 168.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24.0  # 30.42

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_DAY_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTH_NAMES = {
    name: index
    for index, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        start=1,
    )
}


def hours_per_month(hours_per_week: float) -> float:
    """730 h/month scaled by the share of the week: 45 h/week -> 195.54 h/month."""
    if not 0 <= hours_per_week <= HOURS_PER_WEEK:
        raise ValueError(f"{hours_per_week} is not a number of hours in a week")
    return HOURS_PER_MONTH * hours_per_week / HOURS_PER_WEEK


def working_hours_per_month(sleep: StageSleepConfig) -> float:
    """The working hours of a month; 730 when the stage does not sleep."""
    return hours_per_month(sleep.hours_per_week)


def _field_count(field: str, low: int, high: int, names: dict[str, int] | None = None) -> int:
    """How many values a cron field selects in [low, high]; ValueError if it can't tell."""
    return len(_field_values(field, low, high, names))


def schedule_fires_per_month(expression: str) -> float | None:
    """How often an EventBridge/Scheduler expression fires in an average month.

    ``rate(...)`` exactly; ``cron(min hour day-of-month month day-of-week year)`` for plain
    values, lists, ranges, steps and day names; ``at(...)`` (one-off) as 0. ``None`` when the
    expression uses features this does not model (L, W, #): the caller states its assumption.
    """
    expression = expression.strip()
    if expression.startswith("at("):
        return 0.0
    rate = _RATE.match(expression)
    if rate:
        every, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        minutes = {"minute": 1, "hour": 60, "day": 1440}[unit] * every
        return HOURS_PER_MONTH * 60.0 / minutes
    cron = _CRON.match(expression)
    if not cron:
        return None
    fields = cron.group(1).split()
    if len(fields) != 6:
        return None
    minute, hour, day_of_month, month, day_of_week, _year = fields
    try:
        per_day = _field_count(minute, 0, 59) * _field_count(hour, 0, 23)
        months = _field_count(month, 1, 12, _MONTH_NAMES) / 12.0
        if day_of_month in ("*", "?") and day_of_week in ("*", "?"):
            days = DAYS_PER_MONTH
        elif day_of_month in ("*", "?"):
            days = DAYS_PER_MONTH * _field_count(day_of_week, 1, 7, _DAY_NAMES) / 7.0
        else:
            days = float(_field_count(day_of_month, 1, 31))
    except ValueError:
        return None
    return per_day * days * months


def _field_values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    """The values a cron field selects in [low, high] (plain values, lists, ranges, steps,
    day or month names); ValueError for what it does not model (L, W, #)."""

    def value(token: str) -> int:
        token = token.upper()
        if names and token in names:
            return names[token]
        if not token.isdigit():
            raise ValueError(f"cron value {token!r}")
        return int(token)

    values: set[int] = set()
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = value(first), value(last)
        else:
            start = value(part)
            end = high if step > 1 else start
        if not low <= start <= end <= high or step < 1:
            raise ValueError(f"cron field {field!r}")
        values.update(range(start, end + 1, step))
    return values


def off_hours_fires_per_month(expression: str, working: StageSleepConfig) -> float | None:
    """How many of a schedule's monthly fires fall outside the working hours.

    A cron whose hours and weekdays all lie inside the working hours never fires off-hours
    (dev's data-sync); one whose hours all lie outside them always does (the nightly
    report); anything else is counted pro rata. ``rate(...)`` is pro rata. ``None`` when the
    expression is not modelled. With working hours disabled there are no off-hours: 0.
    """
    fires = schedule_fires_per_month(expression)
    if fires is None or not working.enabled:
        return None if fires is None else 0.0
    off_share = 1.0 - working_hours_per_month(working) / HOURS_PER_MONTH
    cron = _CRON.match(expression.strip())
    if not cron:
        return fires * off_share
    _minute, hour, _dom, _month, day_of_week, _year = cron.group(1).split()
    try:
        hours = _field_values(hour, 0, 23)
        days = _field_values(day_of_week, 1, 7, _DAY_NAMES)
        weekdays = _field_values(working.weekdays, 1, 7, _DAY_NAMES)
    except ValueError:
        return fires * off_share
    inside = all(working.start_hour <= h < working.stop_hour for h in hours)
    if inside and days <= weekdays:
        return 0.0
    if not any(working.start_hour <= h < working.stop_hour for h in hours):
        return fires
    return fires * off_share


class UnmodelledWindow(ValueError):
    """Two schedules whose running window this does not model; the message says why."""


@dataclass(frozen=True)
class DailyTime:
    """When a once-a-day cron fires: a time of day on a set of weekdays."""

    minute_of_day: int  # minutes after midnight, in the schedule's time zone
    days: frozenset[int]  # cron day numbers, 1 = SUN ... 7 = SAT
    weekdays: str  # the day-of-week field as written (MON-FRI), for notes

    @property
    def clock(self) -> str:
        return f"{self.minute_of_day // 60:02d}:{self.minute_of_day % 60:02d}"


def daily_time(expression: str) -> DailyTime:
    """The time and weekdays of a cron that fires once on each of some weekdays, every week.

    ``cron(30 18 ? * MON-FRI *)`` -> 18:30 on MON-FRI. Anything else (``rate``, several
    times a day, chosen dates or months, L/W/#) raises ``UnmodelledWindow``.
    """
    cron = _CRON.match(expression.strip())
    fields = cron.group(1).split() if cron else []
    if len(fields) != 6:
        raise UnmodelledWindow(f"{expression!r} is not a six-field cron expression")
    minute, hour, day_of_month, month, day_of_week, year = fields
    if day_of_month not in ("*", "?") or month != "*" or year != "*":
        raise UnmodelledWindow(f"{expression} fires on chosen dates, not every week")
    try:
        minutes = _field_values(minute, 0, 59)
        hours = _field_values(hour, 0, 23)
        days = _field_values(day_of_week, 1, 7, _DAY_NAMES)
    except ValueError:
        raise UnmodelledWindow(f"{expression} uses cron features not modelled") from None
    if len(minutes) != 1 or len(hours) != 1:
        raise UnmodelledWindow(f"{expression} fires more than once a day")
    weekdays = "every day" if day_of_week in ("*", "?") else day_of_week
    return DailyTime(hours.pop() * 60 + minutes.pop(), frozenset(days), weekdays)


@dataclass(frozen=True)
class DailyWindow:
    """The hours a resource runs: from its start time to its stop time on some weekdays."""

    start: DailyTime
    stop: DailyTime

    @property
    def hours_per_week(self) -> float:
        return len(self.start.days) * (self.stop.minute_of_day - self.start.minute_of_day) / 60

    @property
    def hours_per_month(self) -> float:
        return hours_per_month(self.hours_per_week)

    def describe(self) -> str:
        """``MON-FRI 08:50-18:30``."""
        return f"{self.start.weekdays} {self.start.clock}-{self.stop.clock}"


def daily_window(start_expression: str, stop_expression: str) -> DailyWindow:
    """The running window between a start and a stop schedule (both in one time zone).

    Both must fire once a day on the same weekdays, the stop after the start on the same
    day: ``cron(50 8 ? * MON-FRI *)`` and ``cron(30 18 ? * MON-FRI *)`` are 9 h 40 min on 5
    days = 48.33 h/week. A window across midnight, or weekdays that differ, would need the
    days paired up; it is not modelled (``UnmodelledWindow``), so the caller keeps the
    resource running all month and says so.
    """
    start = daily_time(start_expression)
    stop = daily_time(stop_expression)
    if start.days != stop.days:
        raise UnmodelledWindow(
            f"the start ({start_expression}) and the stop ({stop_expression}) fire on "
            "different weekdays"
        )
    if stop.minute_of_day <= start.minute_of_day:
        raise UnmodelledWindow(
            f"the stop at {stop.clock} is not after the start at {start.clock} on the same day"
        )
    return DailyWindow(start, stop)
