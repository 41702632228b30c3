"""fylr `every` objects as cron fields (DESIGN section 4).

A missing day key means any day, missing `hours` every hour, and `minutes` defaults to [0] in
the model. All given keys must match, so these fields are matched with weekday AND day of
month (`Entry.day_or` is False), unlike a cron string.
"""

from __future__ import annotations

from collections.abc import Iterable

from runner.spec.cron import CronEntry
from runner.spec.task import Every

# croniter's day-of-week numbers: sunday is 0 (7 is accepted too, but 0 keeps fields canonical)
WEEKDAY_NUMBERS = {
    "monday": 1,
    "tuesday": 2,
    "wednesday": 3,
    "thursday": 4,
    "friday": 5,
    "saturday": 6,
    "sunday": 0,
}


def every_fields(every: Every) -> tuple[str, str, str, str, str]:
    """minute, hour, day of month, month, day of week."""
    weekdays = None if every.weekdays is None else [WEEKDAY_NUMBERS[d] for d in every.weekdays]
    return (
        _field(every.minutes),
        _field(every.hours),
        _field(every.days_of_month),
        "*",
        _field(weekdays),
    )


def every_cron(every: Every) -> CronEntry:
    """The fields as a `CronEntry`, so fixed-time vs wildcard is the one Debian rule."""
    fields = every_fields(every)
    return CronEntry(" ".join(fields), fields)


def _field(values: Iterable[int] | None) -> str:
    return "*" if values is None else ",".join(str(v) for v in sorted(set(values)))
