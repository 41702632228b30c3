"""The wall-clock times an entry names, from croniter on naive datetimes.

croniter gets naive datetimes on purpose: with aware ones it applies its own DST handling,
which fires fixed-time entries twice in a fall-back overlap. Turning wall times into instants
is `dst.py`'s job.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from croniter import CroniterBadDateError, croniter

from runner.schedule.entries import Entry


def wall_times(entry: Entry, task_id: str, start: datetime) -> Iterator[datetime]:
    """Naive wall times matching `entry`, in order, from the minute of naive `start` on.

    `H` is hashed by croniter on the task id (CRC-32: the same in every process).
    """
    # croniter returns times strictly after its start, so begin one minute early
    times = croniter(
        entry.cron.text,
        start - timedelta(minutes=1),
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
