"""A schedule in words, for status tables: short, with cron text shown as written."""

from __future__ import annotations

import re
from datetime import datetime
from itertools import pairwise
from typing import Literal

from croniter import croniter

from runner.spec.cron import parse_cron
from runner.spec.task import WEEKDAYS, Every, Schedule
from runner.spec.types import zone

_HASHED = re.compile(r"(?<![A-Za-z])H(?![A-Za-z])")  # croniter's H, not the H of "THU"


def describe(schedule: Schedule | None, task_id: str, *, default_timezone: str = "UTC") -> str:
    """E.g. "manual", "once at 2026-12-01 06:00 Europe/Berlin", "cron 0 6 * * 1-5 (UTC)"."""
    if schedule is None:
        return "manual"
    zone_name = schedule.timezone or default_timezone
    if schedule.at is not None:
        return _describe_at(schedule.at, zone_name)
    if schedule.cron is not None:
        texts = "; ".join(_describe_cron(expression, task_id) for expression in schedule.cron)
        return f"cron {texts} ({zone_name})"
    texts = "; ".join(_describe_every(every) for every in schedule.every or [])
    return f"{texts} ({zone_name})"


def _describe_at(at: Literal["now"] | datetime, zone_name: str) -> str:
    if at == "now":
        return "once, when first seen"
    local = at if at.tzinfo is None else at.astimezone(zone(zone_name))
    shown = f"{local:%Y-%m-%d %H:%M:%S}" if local.second else f"{local:%Y-%m-%d %H:%M}"
    return f"once at {shown} {zone_name}"


def _describe_cron(expression: str, task_id: str) -> str:
    """As written; with `H`, also the fields it hashes to for this task id."""
    fields = parse_cron(expression, task_id).fields
    if not any(_HASHED.search(field) for field in fields):
        return expression
    expanded, _ = croniter.expand(" ".join(fields), hash_id=task_id.encode("utf-8"))
    resolved = [
        _compact([int(v) for v in values]) if _HASHED.search(field) else field
        for field, values in zip(fields, expanded, strict=True)
    ]
    return f"{expression} = {' '.join(resolved)}"


def _compact(values: list[int]) -> str:
    """Evenly spaced values as a range with a step, so "H/5" stays short."""
    steps = {b - a for a, b in pairwise(values)}
    if len(values) < 3 or len(steps) != 1:
        return ",".join(str(value) for value in values)
    step = steps.pop()
    suffix = "" if step == 1 else f"/{step}"
    return f"{values[0]}-{values[-1]}{suffix}"


def _describe_every(every: Every) -> str:
    minutes = _numbers(every.minutes)
    hours = "every hour" if every.hours is None else _plural("hour", _numbers(every.hours))
    return f"at {_plural('minute', minutes)} past {hours} {_days(every)}"


def _days(every: Every) -> str:
    weekdays = None
    if every.weekdays is not None:
        weekdays = ", ".join(day for day in WEEKDAYS if day in every.weekdays)
    days = None if every.days_of_month is None else _numbers(every.days_of_month)
    if weekdays and days:
        return f"on {weekdays} if the day of month is {days}"
    if weekdays:
        return f"on {weekdays}"
    if days:
        return f"on {_plural('day', days)} of the month"
    return "every day"


def _numbers(values: list[int]) -> str:
    return ", ".join(str(value) for value in sorted(set(values)))


def _plural(word: str, numbers: str) -> str:
    return f"{word}s {numbers}" if "," in numbers else f"{word} {numbers}"
