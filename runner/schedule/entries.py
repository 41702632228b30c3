"""What a schedule fires on: cron fields matched against the task's local wall clock.

Cron strings and `every` objects both become an `Entry`. They differ only in how the two day
fields combine: a cron string fires when either the day of month or the day of week matches
(standard cron, croniter's `day_or=True`); an `every` object needs both (`day_or=False`).
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.schedule.every import every_cron
from runner.spec.cron import CronEntry
from runner.spec.task import Schedule


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
    crons = [Entry(entry, day_or=True) for entry in schedule.cron_entries(task_id)]
    everys = [Entry(every_cron(every), day_or=False) for every in schedule.every or []]
    return crons + everys
