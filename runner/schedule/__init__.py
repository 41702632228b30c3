"""Layer 2: when tasks fire. Pure functions of a schedule and a given instant; no clock.

- `fires.py`: `next_fires`, `fires_between` (merging entries, ordering, `at`), and the
  `Timetable` the daemon keeps per task (shared by tasks with the same schedule)
- `dst.py`: the cron DST rule (fixed-time vs wildcard entries in gaps and overlaps)
- `walltime.py`: naive local wall-clock times of an entry (fields expanded by croniter)
- `entries.py`, `every.py`: cron strings and fylr `every` objects as cron fields
- `describe.py`: a schedule in words
"""

from __future__ import annotations

from runner.schedule.describe import describe
from runner.schedule.dst import resolve_wall, wall_instants
from runner.schedule.entries import Entry, schedule_entries
from runner.schedule.every import every_cron, every_fields
from runner.schedule.fires import Timetable, fires_between, next_fires, task_zone, timetable

__all__ = [
    "Entry",
    "Timetable",
    "describe",
    "every_cron",
    "every_fields",
    "fires_between",
    "next_fires",
    "resolve_wall",
    "schedule_entries",
    "task_zone",
    "timetable",
    "wall_instants",
]
