"""What a schedule fires on: cron fields matched against the task's local wall clock.

Cron strings and `every` objects both become an `Entry`. They differ only in how the two day
fields combine: a cron string fires when either the day of month or the day of week matches
(standard cron, croniter's `day_or=True`); an `every` object needs both (`day_or=False`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from runner.schedule.every import every_fields
from runner.spec.cron import CronEntry, parse_cron
from runner.spec.task import Schedule

FieldTexts = tuple[str, str, str, str, str]  # minute, hour, day of month, month, weekday


@dataclass(frozen=True)
class Entry:
    cron: CronEntry
    day_or: bool

    @property
    def fixed_time(self) -> bool:
        """Debian cron's DST class, decided on the expanded fields (`@hourly` is a wildcard)."""
        return self.cron.fixed_time


def schedule_entries(schedule: Schedule, task_id: str) -> list[Entry]:
    """The entries of a `cron` or `every` schedule; `at` has none."""
    crons = tuple(schedule.cron or ())
    everys = tuple(every_fields(every) for every in schedule.every or ())
    hashed = any("H" in expression for expression in crons)
    return list(_entries(crons, everys, task_id if hashed else None))


@lru_cache(maxsize=4096)
def _entries(
    crons: tuple[str, ...], everys: tuple[FieldTexts, ...], task_id: str | None
) -> tuple[Entry, ...]:
    """Parsed once per distinct schedule: tasks sharing one share its entries."""
    parsed = [Entry(parse_cron(expression, task_id), day_or=True) for expression in crons]
    return (*parsed, *(Entry(CronEntry(" ".join(f), f), day_or=False) for f in everys))
