"""The wall-clock times an entry names, as naive datetimes.

The fields are expanded by croniter (names, ranges, steps, `H` hashed on the task id), once per
distinct entry. Plain fields (numbers and '*') are then matched here, field by field, which is
about a hundred times faster than croniter's iteration; `L`, `#` and `W` go to croniter. Either
way the times are naive on purpose: croniter with aware datetimes applies its own DST handling,
which fires fixed-time entries twice in a fall-back overlap. Turning wall times into instants
is `dst.py`'s job.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from croniter import CroniterBadDateError, croniter

from runner.schedule.entries import Entry

MINUTE = timedelta(minutes=1)
HORIZON_YEARS = 50  # as croniter's: an entry with no match within it ends its stream


@dataclass(frozen=True)
class PlainFields:
    """Expanded plain fields, sorted; None is '*'. Weekdays count from sunday = 0, as in
    cron."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...] | None
    months: tuple[int, ...]
    weekdays: frozenset[int] | None
    day_or: bool

    def day_matches(self, day: date) -> bool:
        in_month = self.days is None or day.day in self.days
        in_week = self.weekdays is None or (day.weekday() + 1) % 7 in self.weekdays
        if self.day_or and self.days is not None and self.weekdays is not None:
            return in_month or in_week  # standard cron: either day field may match
        return in_month and in_week

    def first_from(self, start: datetime) -> datetime | None:
        """The earliest matching minute at or after naive `start` (seconds ignored)."""
        day = start.date()
        hour, minute = start.hour, start.minute
        last_year = day.year + HORIZON_YEARS
        while day.year <= last_year:
            if day.month not in self.months:
                day, hour, minute = _next_month(day, self.months), 0, 0
            elif not self.day_matches(day):
                day, hour, minute = self._next_day(day), 0, 0
            else:
                found = self._time_from(hour, minute)
                if found is not None:
                    return datetime(day.year, day.month, day.day, *found)
                day, hour, minute = day + timedelta(days=1), 0, 0
        return None

    def _next_day(self, day: date) -> date:
        """The day after `day`; with only days of the month named, the next named one."""
        if self.weekdays is not None or self.days is None:
            return day + timedelta(days=1)
        named = self.days
        index = bisect_right(named, day.day)
        if index < len(named) and named[index] <= calendar.monthrange(day.year, day.month)[1]:
            return day.replace(day=named[index])
        return _next_month(day, tuple(range(1, 13)))

    def _time_from(self, hour: int, minute: int) -> tuple[int, int] | None:
        """The earliest (hour, minute) of the day at or after the given one."""
        index = bisect_left(self.hours, hour)
        if index < len(self.hours) and self.hours[index] == hour:
            at = bisect_left(self.minutes, minute)
            if at < len(self.minutes):
                return hour, self.minutes[at]
            index += 1
        if index < len(self.hours):
            return self.hours[index], self.minutes[0]
        return None


def _next_month(day: date, months: tuple[int, ...]) -> date:
    """The first day of the next allowed month after `day`'s month."""
    index = bisect_left(months, day.month + 1)
    if index < len(months):
        return date(day.year, months[index], 1)
    return date(day.year + 1, months[0], 1)


def wall_times(entry: Entry, task_id: str, start: datetime) -> Iterator[datetime]:
    """Naive wall times matching `entry`, in order, from the minute of naive `start` on.

    `H` is hashed by croniter on the task id (CRC-32: the same in every process).
    """
    fields = plain_fields(entry.cron.text, _seed(entry, task_id), entry.day_or)
    if fields is None:
        return _croniter_times(entry, task_id, start)
    return _plain_times(fields, start)


def _plain_times(fields: PlainFields, start: datetime) -> Iterator[datetime]:
    found = fields.first_from(start)
    while found is not None:
        yield found
        found = fields.first_from(found + MINUTE)


def _croniter_times(entry: Entry, task_id: str, start: datetime) -> Iterator[datetime]:
    # croniter returns times strictly after its start, so begin one minute early
    times = croniter(
        entry.cron.text,
        start - MINUTE,
        day_or=entry.day_or,
        hash_id=task_id.encode("utf-8"),
    )
    while True:
        try:
            wall: datetime = times.get_next(datetime)
        except CroniterBadDateError:
            # no match within croniter's 50-year horizon; validation refuses such
            # expressions, so this only ends the stream instead of crashing the daemon
            return
        yield wall


def _seed(entry: Entry, task_id: str) -> str:
    """The task id matters only to `H`: without one, tasks share the expansion."""
    return task_id if "H" in entry.cron.text else ""


@lru_cache(maxsize=4096)
def plain_fields(text: str, seed: str, day_or: bool) -> PlainFields | None:
    """The expansion of five cron fields, or None when a field uses `L`, `#` or `W`."""
    expanded, nth_weekday = croniter.expand(text, hash_id=seed.encode("utf-8"))
    if nth_weekday or "w" in text.split()[2].lower():
        return None
    values: list[tuple[int, ...] | None] = []
    for field in expanded:
        if field == ["*"]:
            values.append(None)
        elif all(isinstance(value, int) for value in field):
            values.append(tuple(sorted({int(value) for value in field})))
        else:
            return None  # 'l': the last day of the month
    minutes, hours, days, months, weekdays = values
    return PlainFields(
        minutes=minutes or tuple(range(60)),
        hours=hours or tuple(range(24)),
        days=days,
        months=months or tuple(range(1, 13)),
        weekdays=None if weekdays is None else frozenset(value % 7 for value in weekdays),
        day_or=day_or,
    )
