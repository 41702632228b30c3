"""Dates of search requests and records as instants; pure functions, `now` passed in.

- A stored value without an offset is UTC; a date-only stored value is 00:00 UTC.
- A request value or bound without an offset is in the request's timezone; a date-only value
  is the start of that day there, and a date-only `to` bound the end of that day.
- Relative dates (`$now`, `$startOfDay`, `$startOfWeek` = Monday 00:00, `$startOfMonth`,
  `$startOfYear`, then `+N<unit>`/`-N<unit>` terms) are resolved against `now` in the
  timezone: `s m h` add elapsed time, `d w M y` move the wall-clock date (a month or year step
  clamps the day to the month's end), so `$startOfDay+1d` is the next local midnight across a
  DST change. A local time in a DST gap takes the offset from before the gap.
- Instants are integers: microseconds since 1970-01-01 UTC.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache

from runner.spec.search import RELATIVE_DATE, RELATIVE_TERM

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
_ELAPSED = {"s": timedelta(seconds=1), "m": timedelta(minutes=1), "h": timedelta(hours=1)}


def micros(instant: datetime) -> int:
    """An aware datetime as microseconds since the epoch."""
    delta = instant - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def format_instant(value: int) -> str:
    """UTC with `Z`: milliseconds, or microseconds when the value has them (lossless)."""
    moment = from_micros(value)
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def is_date_only(value: str) -> bool:
    return len(value) == 10 and value[4:5] == "-"


@lru_cache(maxsize=4096)  # an import checks a value, then indexes it: parse once
def stored_instant(value: str) -> int:
    """A record's date value; ValueError when it is not ISO 8601."""
    if is_date_only(value):
        day = date.fromisoformat(value)
        return micros(datetime(day.year, day.month, day.day, tzinfo=UTC))
    parsed = datetime.fromisoformat(value)
    return micros(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def request_instant(value: str, zone: tzinfo, now: datetime, *, end_of_day: bool = False) -> int:
    """A request's date value or bound; `end_of_day` makes a date-only value its last instant."""
    if value.startswith("$"):
        return micros(resolve_relative(value, now, zone))
    if is_date_only(value):
        day = date.fromisoformat(value)
        start = localize(datetime(day.year, day.month, day.day), zone)
        if not end_of_day:
            return micros(start)
        following = localize(datetime.combine(day + timedelta(days=1), datetime.min.time()), zone)
        return micros(following) - 1
    parsed = datetime.fromisoformat(value)
    return micros(parsed if parsed.tzinfo else localize(parsed, zone))


def localize(wall: datetime, zone: tzinfo) -> datetime:
    """A naive wall-clock time in `zone` as an aware UTC instant (fold 0)."""
    return wall.replace(tzinfo=zone).astimezone(UTC)


def resolve_relative(expression: str, now: datetime, zone: tzinfo) -> datetime:
    """`$startOfMonth+1d-2h` and friends as an aware UTC datetime."""
    match = RELATIVE_DATE.match(expression)
    if match is None:
        raise ValueError(f"{expression!r} is not a relative date")
    instant = _anchor(match.group(1), now.astimezone(zone), zone)
    for sign, amount, unit in RELATIVE_TERM.findall(match.group(2)):
        instant = _step(instant, int(amount) * (1 if sign == "+" else -1), unit, zone)
    return instant


def _anchor(name: str, local: datetime, zone: tzinfo) -> datetime:
    if name == "now":
        return local.astimezone(UTC)
    day = local.date()
    if name == "startOfWeek":
        day -= timedelta(days=day.weekday())
    elif name == "startOfMonth":
        day = day.replace(day=1)
    elif name == "startOfYear":
        day = day.replace(month=1, day=1)
    return localize(datetime(day.year, day.month, day.day), zone)


def _step(instant: datetime, amount: int, unit: str, zone: tzinfo) -> datetime:
    if unit in _ELAPSED:
        return instant + amount * _ELAPSED[unit]
    wall = instant.astimezone(zone).replace(tzinfo=None)
    if unit in ("d", "w"):
        wall += timedelta(days=amount * (7 if unit == "w" else 1))
    else:
        wall = add_months(wall, amount * (12 if unit == "y" else 1))
    return localize(wall, zone)


def add_months(wall: datetime, months: int) -> datetime:
    index = wall.year * 12 + wall.month - 1 + months
    year, month = divmod(index, 12)
    day = min(wall.day, calendar.monthrange(year, month + 1)[1])
    return wall.replace(year=year, month=month + 1, day=day)
