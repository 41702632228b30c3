"""fylr `every` objects: cron fields, weekday AND day of month, defaults, DST class."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from runner.schedule import every_cron, every_fields, next_fires, schedule_entries
from runner.spec.task import Every, Schedule


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def every(*objects: dict[str, Any], timezone: str = "UTC") -> Schedule:
    return Schedule.model_validate(
        {"every": list(objects), "timezone": timezone}, context={"task_id": "t"}
    )


def fires(schedule: Schedule, after: str, count: int) -> list[datetime]:
    return [f.astimezone(UTC) for f in next_fires(schedule, "t", after=utc(after), count=count)]


@pytest.mark.parametrize(
    ("given", "fields"),
    [
        ({}, ("0", "*", "*", "*", "*")),
        ({"hours": [18, 6]}, ("0", "6,18", "*", "*", "*")),
        ({"minutes": [30, 0, 30]}, ("0,30", "*", "*", "*", "*")),
        ({"weekdays": ["sunday", "monday", "saturday"]}, ("0", "*", "*", "*", "0,1,6")),
        ({"weekdays": ["friday"], "days_of_month": [13]}, ("0", "*", "13", "*", "5")),
        (
            {"days_of_month": [1, 15], "hours": [2], "minutes": [5, 35]},
            ("5,35", "2", "1,15", "*", "*"),
        ),
    ],
)
def test_every_fields(given: dict[str, Any], fields: tuple[str, ...]) -> None:
    assert every_fields(Every.model_validate(given)) == fields


def test_every_with_hours_is_fixed_time_and_without_is_wildcard() -> None:
    # Debian's rule on the resulting fields: minutes always given, so hours decide
    assert every_cron(Every.model_validate({"hours": [2]})).fixed_time
    assert not every_cron(Every.model_validate({"minutes": [30]})).fixed_time


def test_every_entries_need_both_day_keys() -> None:
    [entry] = schedule_entries(every({"weekdays": ["friday"], "days_of_month": [13]}), "t")
    assert entry.day_or is False


def test_friday_the_13th_only() -> None:
    schedule = every({"weekdays": ["friday"], "days_of_month": [13], "hours": [9]})
    # Fridays that are the 13th in 2026-2027: February, March, November 2026, August 2027;
    # a cron string "0 9 13 * 5" would also fire on every Friday and every 13th
    assert fires(schedule, "2026-01-01 00:00", 4) == [
        utc("2026-02-13 09:00"),
        utc("2026-03-13 09:00"),
        utc("2026-11-13 09:00"),
        utc("2027-08-13 09:00"),
    ]


def test_missing_hours_is_every_hour_at_minute_zero() -> None:
    # 2026-05-04 is a Monday
    assert fires(every({"weekdays": ["monday"]}), "2026-05-01 00:00", 3) == [
        utc("2026-05-04 00:00"),
        utc("2026-05-04 01:00"),
        utc("2026-05-04 02:00"),
    ]


def test_missing_minutes_is_minute_zero() -> None:
    assert fires(every({"hours": [6]}), "2026-05-01 06:00", 2) == [
        utc("2026-05-02 06:00"),
        utc("2026-05-03 06:00"),
    ]


def test_days_of_month_without_weekdays() -> None:
    assert fires(every({"days_of_month": [31], "hours": [12]}), "2026-01-31 12:00", 2) == [
        utc("2026-03-31 12:00"),  # February and its missing 31st are skipped
        utc("2026-05-31 12:00"),
    ]


def test_several_objects_merge() -> None:
    schedule = every({"hours": [6]}, {"hours": [6, 18]}, {"weekdays": ["friday"], "hours": [12]})
    # 2026-05-01 is a Friday; 06:00 from two objects fires once
    assert fires(schedule, "2026-05-01 00:00", 4) == [
        utc("2026-05-01 06:00"),
        utc("2026-05-01 12:00"),
        utc("2026-05-01 18:00"),
        utc("2026-05-02 06:00"),
    ]


def test_every_follows_the_dst_rule() -> None:
    # Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00 UTC.
    # with hours it is fixed-time: 02:30 fires at the end of the gap
    fixed = every({"hours": [2], "minutes": [30]}, timezone="Europe/Berlin")
    assert fires(fixed, "2026-03-28 23:00", 1) == [utc("2026-03-29 01:00")]
    # without hours it is a wildcard: 01:30 CET, then 03:30 CEST (no 02:30)
    wildcard = every({"minutes": [30]}, timezone="Europe/Berlin")
    assert fires(wildcard, "2026-03-29 00:00", 2) == [
        utc("2026-03-29 00:30"),
        utc("2026-03-29 01:30"),
    ]
