"""The cron DST rule (DESIGN section 8, as Debian's cron(8)): wall-clock times to instants.

A fixed-time entry (neither the minute nor the hour field starts with '*') names a time of
day. If the clock skips it (spring forward), it fires once, at the first instant after the
gap; if the clock shows it twice (fall back), it fires once, at the first occurrence.
A wildcard entry follows the real clock: a skipped wall time never happens, a repeated one
happens twice.

Gaps and overlaps are found with PEP 495 folds: for a wall time that exists once, fold=0 and
fold=1 give the same instant; in an overlap fold=0 is the earlier one; in a gap fold=0 reads
the wall time with the offset from before the jump, fold=1 with the one after it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def wall_instants(wall: datetime, tz: ZoneInfo, *, fixed_time: bool) -> list[datetime]:
    """The UTC instants, in order, at which the naive wall time `wall` in `tz` fires."""
    first, second = _as_utc(wall, tz, fold=0), _as_utc(wall, tz, fold=1)
    if first == second:
        return [first]
    if first < second:  # fall-back overlap
        return [first] if fixed_time else [first, second]
    # spring-forward gap: the jump lies between the two readings
    return [transition(second, first, tz)] if fixed_time else []


def resolve_wall(wall: datetime, tz: ZoneInfo) -> datetime:
    """One UTC instant for a wall time, as a fixed-time entry fires: first occurrence, or the
    first instant after a gap (used for a naive `at` too)."""
    return wall_instants(wall, tz, fixed_time=True)[0]


def transition(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in (before, after] with a different UTC offset than `before`.

    zoneinfo does not expose its transitions, so bisect on whole seconds (about 13 steps for
    a one-hour gap; only gap fires of fixed-time entries pay this).
    """
    offset = before.astimezone(tz).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _as_utc(wall: datetime, tz: ZoneInfo, *, fold: int) -> datetime:
    return wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
