"""When a schedule fires: the next fires after an instant, and all fires in a window.

Entries are walked in the task's local wall-clock time and each wall time becomes zero, one
or two instants by the DST rule in `dst.py`. Results are aware datetimes in the task's
timezone. Compare them as instants (`.astimezone(UTC)` or `.timestamp()`): Python compares two
datetimes with the same tzinfo by wall time and ignores `fold`, which misorders the second pass
through a fall-back overlap.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import islice
from typing import Literal
from zoneinfo import ZoneInfo

from runner.schedule.dst import resolve_wall, wall_instants
from runner.schedule.entries import Entry, schedule_entries
from runner.schedule.walltime import wall_times
from runner.spec.task import Schedule
from runner.spec.types import zone

# The largest fall-back to expect; tzdata's largest current one is 2h (Antarctica/Troll).
MAX_DST_SHIFT = timedelta(hours=3)


def task_zone(schedule: Schedule, default_timezone: str = "UTC") -> ZoneInfo:
    """The schedule's timezone, else the configured default (runner.yaml's, else UTC)."""
    return zone(schedule.timezone or default_timezone)


@dataclass(frozen=True)
class Timetable:
    """A schedule made ready for repeated questions: its entries parsed and its zone found
    once (the daemon keeps one per task). Tasks with equal timetables share one, and their
    next fires after one instant are computed once: a cache that a reconcile of many tasks
    with the same schedule, or a tick evaluating them together, hits for all but the first.
    """

    at: Literal["now"] | datetime | None
    entries: tuple[Entry, ...]
    seed: str  # the task id when an entry hashes `H` on it, else "" so that tasks share
    tz: ZoneInfo

    def fires_after(self, after: datetime) -> Iterator[datetime]:
        """All fires strictly after the aware `after`, in order, in the task's timezone."""
        after_utc = _utc(after, "after")
        if self.at is not None:
            instants: Iterable[datetime] = _at_instants(self.at, self.tz)
        else:
            instants = _entry_instants(self.entries, self.seed, self.tz, after_utc)
        for instant in instants:
            if instant > after_utc:
                yield instant.astimezone(self.tz)

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire strictly after the aware `after`, or None."""
        return _next_after(self, _utc(after, "after"))

    def between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """All fires with start < fire <= end, in order."""
        end_utc = _utc(end, "end")
        for fire in self.fires_after(start):
            if fire.astimezone(UTC) > end_utc:
                return
            yield fire


def timetable(schedule: Schedule, task_id: str, default_timezone: str = "UTC") -> Timetable:
    entries = tuple(schedule_entries(schedule, task_id))
    hashed = any("H" in entry.cron.text for entry in entries)
    return Timetable(
        schedule.at, entries, task_id if hashed else "", task_zone(schedule, default_timezone)
    )


@lru_cache(maxsize=8192)
def _next_after(table: Timetable, after_utc: datetime) -> datetime | None:
    return next(table.fires_after(after_utc), None)


def next_fires(
    schedule: Schedule,
    task_id: str,
    *,
    after: datetime,
    count: int,
    default_timezone: str = "UTC",
) -> list[datetime]:
    """The next `count` fires strictly after the aware `after`, in order, each instant once.

    `at: now` has no time that the file alone determines (it means "when the daemon first
    sees the task"), so it yields no fires here; the daemon handles it.
    """
    fires = timetable(schedule, task_id, default_timezone).fires_after(after)
    return list(islice(fires, max(count, 0)))


def fires_between(
    schedule: Schedule,
    task_id: str,
    *,
    start: datetime,
    end: datetime,
    default_timezone: str = "UTC",
) -> Iterator[datetime]:
    """All fires with start < fire <= end, in order (the daemon's missed fires after downtime)."""
    return timetable(schedule, task_id, default_timezone).between(start, end)


def _at_instants(at: Literal["now"] | datetime, tz: ZoneInfo) -> list[datetime]:
    if at == "now":
        return []
    if at.tzinfo is None:  # local to the task's timezone; DST as for a fixed-time entry
        return [resolve_wall(at, tz)]
    return [at.astimezone(UTC)]


def _entry_instants(
    entries: tuple[Entry, ...], seed: str, tz: ZoneInfo, after_utc: datetime
) -> Iterator[datetime]:
    """UTC instants of all entries from shortly before `after_utc` on, sorted, each once."""
    start = _first_wall(after_utc, tz)
    walls = heapq.merge(*(_tagged(entry, seed, start) for entry in entries))
    return _unique(_in_order(walls, tz))


def _first_wall(after_utc: datetime, tz: ZoneInfo) -> datetime:
    """The earliest wall time the clock shows after `after_utc`.

    That is the wall time of `after_utc` itself, unless a fall-back soon after turns the
    clock back, which looking MAX_DST_SHIFT ahead reveals.
    """
    now = _wall(after_utc, tz)
    ahead = _wall(after_utc + MAX_DST_SHIFT, tz) - MAX_DST_SHIFT
    return min(now, ahead)


def _tagged(entry: Entry, seed: str, start: datetime) -> Iterator[tuple[datetime, bool]]:
    for wall in wall_times(entry, seed, start):
        yield wall, entry.fixed_time


def _in_order(walls: Iterable[tuple[datetime, bool]], tz: ZoneInfo) -> Iterator[datetime]:
    """The instants of wall times given in order, sorted.

    The first instant of each wall time (fold=0, or the end of a gap) never goes back as the
    wall times advance; only the second pass through an overlap (fold=1) can come after the
    first instants of later wall times. So hold instants back until a later wall time's first
    instant reaches them: exact, and no wider than the overlap.
    """
    pending: list[datetime] = []
    for wall, fixed_time in walls:
        found = wall_instants(wall, tz, fixed_time=fixed_time)
        if found:
            yield from _release(pending, found[0])
        for instant in found:
            heapq.heappush(pending, instant)
    yield from _release(pending, None)


def _release(pending: list[datetime], up_to: datetime | None) -> Iterator[datetime]:
    while pending and (up_to is None or pending[0] <= up_to):
        yield heapq.heappop(pending)


def _unique(instants: Iterable[datetime]) -> Iterator[datetime]:
    """Drop repeats in a sorted stream: entries that coincide, gap times that collapse."""
    last: datetime | None = None
    for instant in instants:
        if instant != last:
            yield instant
        last = instant


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)
