"""The wall-time walker against croniter's own iteration, which it replaces for plain fields:
the same wall times, in the same order, for random fields, names, steps, `H` and both ways of
combining the day fields; `L`, `#` and `W` are left to croniter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.schedule import next_fires
from runner.schedule.entries import Entry
from runner.schedule.fires import timetable
from runner.schedule.walltime import plain_fields, wall_times
from runner.spec.cron import CronEntry
from runner.spec.task import Schedule

TASK_ID = "walltime/task"
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


def part(low: int, high: int, names: list[str] | None) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    if names:
        value = st.one_of(value, st.sampled_from(names).map(str))  # type: ignore[arg-type]
    step = st.integers(1, (high - low) // 2 + 1)

    def ranged(draw: Callable[[Any], Any]) -> str:
        a, b = sorted((draw(st.integers(low, high)), draw(st.integers(low, high))))
        return f"{a}-{b}"

    return st.one_of(
        value.map(str),
        st.composite(ranged)(),
        st.tuples(st.composite(ranged)(), step).map(lambda t: f"{t[0]}/{t[1]}"),
        step.map(lambda n: f"*/{n}"),
    )


def field(low: int, high: int, names: list[str] | None = None) -> st.SearchStrategy[str]:
    listed = st.lists(part(low, high, names), min_size=1, max_size=3).map(",".join)
    return st.one_of(st.just("*"), listed, listed)


def hashed(low: int, high: int) -> st.SearchStrategy[str]:
    step = st.integers(1, (high - low) // 2 + 1)
    return st.one_of(field(low, high), st.just("H"), step.map(lambda n: f"H/{n}"))


expressions = st.tuples(
    hashed(0, 59),
    hashed(0, 23),
    field(1, 31),
    field(1, 12, MONTHS),
    field(0, 7, DAYS),
).map(" ".join)
starts = st.datetimes(datetime(2024, 1, 1), datetime(2030, 12, 31))


def croniter_times(text: str, day_or: bool, start: datetime, count: int) -> list[datetime]:
    times = croniter(
        text, start - timedelta(minutes=1), day_or=day_or, hash_id=TASK_ID.encode("utf-8")
    )
    return [times.get_next(datetime) for _ in range(count)]


def walked(text: str, day_or: bool, start: datetime, count: int) -> list[datetime]:
    entry = Entry(CronEntry(text, tuple(text.split())), day_or)  # type: ignore[arg-type]
    return list(islice(wall_times(entry, TASK_ID, start), count))


@settings(max_examples=300, deadline=None)
@given(expressions, st.booleans(), starts)
def test_plain_fields_walk_as_croniter_iterates(text: str, day_or: bool, start: datetime) -> None:
    try:
        expected = croniter_times(text, day_or, start, 25)
    except (ValueError, KeyError):  # fields croniter refuses (e.g. 31 in February only)
        return
    assert plain_fields(text, TASK_ID if "H" in text else "", day_or) is not None
    assert walked(text, day_or, start, 25) == expected


@pytest.mark.parametrize(
    "text", ["0 0 L * *", "30 6 1,L * *", "0 12 * * 5#2", "0 9 15W * *", "0 0 * * 5#1"]
)
def test_last_day_nth_weekday_and_nearest_weekday_are_croniters(text: str) -> None:
    assert plain_fields(text, "", True) is None
    start = datetime(2026, 1, 30, 12, 0)
    assert walked(text, True, start, 12) == croniter_times(text, True, start, 12)


def test_a_field_that_matches_nothing_for_50_years_ends_the_stream() -> None:
    # every: day 31 AND february never happen together
    text = "0 0 31 2 *"
    assert walked(text, False, datetime(2026, 1, 1), 3) == []


def schedule(**keys: Any) -> Schedule:
    return Schedule.model_validate(keys, context={"task_id": TASK_ID})


def test_tasks_with_the_same_schedule_share_one_timetable() -> None:
    daily = schedule(cron="0 6 * * *", timezone="Europe/Berlin")
    assert timetable(daily, "a/one") == timetable(daily, "b/two")
    hourly_hashed = schedule(cron="H * * * *")
    assert timetable(hourly_hashed, "a/one") != timetable(hourly_hashed, "b/two")


def test_next_after_is_the_first_of_next_fires() -> None:
    after = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # Berlin springs forward that night
    for keys in (
        {"cron": "30 2 * * *", "timezone": "Europe/Berlin"},
        {"cron": ["H H * * *", "15 9 * * 1-5"], "timezone": "America/New_York"},
        {"every": [{"weekdays": ["friday"], "days_of_month": [13]}]},
    ):
        spec = schedule(**keys)
        for task_id in ("a/one", "b/two"):
            [first] = next_fires(spec, task_id, after=after, count=1)
            assert timetable(spec, task_id).next_after(after) == first
