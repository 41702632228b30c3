"""Properties of next_fires over random cron fields, zones and instants, against a brute force.

The oracle walks real instants minute by minute, reads the wall clock in the zone and applies
the DST rule independently of `runner.schedule.dst`: a wildcard entry fires whenever the wall
time matches; a fixed-time entry only on the first pass (fold 0); and when the clock jumps
forward, a fixed-time entry matching a skipped wall time fires at the first instant after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from runner.schedule import every_fields, fires_between, next_fires
from runner.spec.task import WEEKDAYS, Every, Schedule

TASK_ID = "props/task"
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute shifts
    "Australia/Sydney",  # southern hemisphere
    "America/Santiago",  # transitions at midnight: the fall-back repeats Saturday 23:00
    "Antarctica/Troll",  # a 2-hour shift
    "Asia/Kathmandu",  # +05:45, no DST
]
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
WINDOW = timedelta(days=2)  # the brute force compares this far after `after`
SETTINGS = settings(max_examples=100, deadline=None)

# --- random schedules ---------------------------------------------------------------------


def field(low: int, high: int, hashed: bool) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    step = st.integers(1, max(1, (high - low) // 2 + 1))

    def ranged(draw: Callable[[Any], Any]) -> str:
        a, b = sorted((draw(number), draw(number)))
        return f"{a}-{b}"

    part = st.one_of(
        number.map(str),
        st.composite(ranged)(),
        st.tuples(st.composite(ranged)(), step).map(lambda t: f"{t[0]}/{t[1]}"),
        step.map(lambda n: f"*/{n}"),
    )
    listed = st.lists(part, min_size=1, max_size=3).map(",".join)
    # croniter takes `H` only as a whole field, not inside a list
    hashes = [st.just("H"), step.map(lambda n: f"H/{n}")] if hashed else []
    return st.one_of(st.just("*"), listed, *hashes)


def rare(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Mostly '*', so that day and month fields leave fires within the brute-force window."""
    return st.one_of(st.just("*"), st.just("*"), st.just("*"), strategy)


def numbers(values: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    """A list of plain numbers: with one in the hour field too, a fixed-time entry."""
    return st.lists(values, min_size=1, max_size=3).map(lambda vs: ",".join(map(str, vs)))


def cron_expressions(hours: list[int]) -> st.SearchStrategy[str]:
    """Random fields; the hour field often names some of `hours` (around a DST change)."""
    named = numbers(st.sampled_from(hours))
    return st.tuples(
        st.one_of(numbers(st.integers(0, 59)), field(0, 59, hashed=True)),
        st.one_of(named, named, field(0, 23, hashed=True)),
        rare(field(1, 31, hashed=False)),
        rare(field(1, 12, hashed=False)),
        rare(field(0, 6, hashed=False)),
    ).map(" ".join)


def small_list(values: st.SearchStrategy[int]) -> st.SearchStrategy[list[int]]:
    return st.lists(values, min_size=1, max_size=4)


def every_objects(hours: list[int]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "weekdays": st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=4),
            "days_of_month": small_list(st.integers(1, 31)),
            "hours": small_list(st.one_of(st.sampled_from(hours), st.integers(0, 23))),
            "minutes": small_list(st.integers(0, 59)),
        },
    )


@st.composite
def schedules(draw: Callable[[Any], Any], zone_name: str, hours: list[int]) -> Schedule:
    if draw(st.booleans()):
        expressions = st.lists(cron_expressions(hours), min_size=1, max_size=2)
        keys: dict[str, Any] = {"cron": draw(expressions)}
    else:
        keys = {"every": draw(st.lists(every_objects(hours), min_size=1, max_size=2))}
    try:
        return Schedule.model_validate(
            {**keys, "timezone": zone_name}, context={"task_id": TASK_ID}
        )
    except ValidationError:  # fields naming no date at all, e.g. "0 0 30 2 *", are refused
        assume(False)
        raise


@cache
def transitions(zone_name: str) -> list[datetime]:
    """UTC instants in 2025-2028 where the zone's offset changes, to the minute."""
    tz, found = ZoneInfo(zone_name), []
    t = datetime(2025, 1, 1, tzinfo=UTC)
    while t.year < 2029:  # steps of 3 hours: changes are months apart
        if (t + 3 * HOUR).astimezone(tz).utcoffset() != t.astimezone(tz).utcoffset():
            offset = t.astimezone(tz).utcoffset()
            change = t + MINUTE
            while change.astimezone(tz).utcoffset() == offset:
                change += MINUTE
            found.append(change)
        t += 3 * HOUR
    return found


def hours_around(change: datetime, tz: ZoneInfo, span: timedelta = 2 * HOUR) -> list[int]:
    """The wall-clock hours within `span` of a change, including those a gap skips."""
    low, high = sorted((wall(change - span, tz), wall(change + span, tz)))
    hours = set()
    while low <= high:
        hours.add(low.hour)
        low += MINUTE * 30
    return sorted(hours)


@st.composite
def cases(draw: Callable[[Any], Any]) -> tuple[Schedule, datetime]:
    """A schedule and an `after`: mostly shortly before a DST change, with the hour fields
    often naming the hours around it; else anywhere in 2025-2028."""
    zone_name = draw(st.sampled_from(ZONES))
    tz, near = ZoneInfo(zone_name), transitions(zone_name)
    if near and draw(st.integers(0, 3)) > 0:
        change = draw(st.sampled_from(near))
        soon = st.integers(-30, 150)  # minutes before the change
        minutes = draw(st.one_of(soon, soon, soon, st.integers(-1440, 2 * 1440)))
        after, hours = change - minutes * MINUTE, hours_around(change, tz)
    else:
        after = draw(st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31))).replace(tzinfo=UTC)
        hours = list(range(24))
    schedule = draw(schedules(zone_name, hours))
    return schedule, after + timedelta(seconds=draw(st.sampled_from([0, 0, 1, 59])))


DST_ZONES = [z for z in ZONES if z not in ("UTC", "Asia/Kathmandu")]


@st.composite
def dst_cases(draw: Callable[[Any], Any]) -> tuple[Schedule, datetime]:
    """Entries made to fire around a DST change: day fields '*', the hour field naming hours
    the change skips or repeats and those next to it (fixed-time) or '*' (wildcard), and `after`
    at most 2.5 hours before the change."""
    zone_name = draw(st.sampled_from(DST_ZONES))
    tz = ZoneInfo(zone_name)
    change = draw(st.sampled_from(transitions(zone_name)))
    hours = st.sampled_from(hours_around(change, tz, MINUTE))
    fixed = numbers(st.integers(0, 59))
    minutes = st.one_of(fixed, fixed, st.integers(5, 30).map(lambda n: f"*/{n}"))
    expression = st.tuples(minutes, st.one_of(numbers(hours), numbers(hours), st.just("*"))).map(
        lambda mh: f"{mh[0]} {mh[1]} * * *"
    )
    every = st.fixed_dictionaries(
        {"minutes": st.lists(st.integers(0, 59), min_size=1, max_size=4)},
        optional={"hours": st.lists(hours, min_size=1, max_size=3)},
    )
    if draw(st.booleans()):
        keys: dict[str, Any] = {"cron": draw(st.lists(expression, min_size=1, max_size=2))}
    else:
        keys = {"every": draw(st.lists(every, min_size=1, max_size=2))}
    schedule = Schedule.model_validate(
        {**keys, "timezone": zone_name}, context={"task_id": TASK_ID}
    )
    # counted back from the change: Hypothesis favours small numbers, i.e. close before it
    seconds = draw(st.integers(1, 150 * 60))
    return schedule, change - timedelta(seconds=seconds)


# --- the oracle ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    values: tuple[frozenset[int] | None, ...]  # minute, hour, day, month, weekday; None = any
    day_or: bool
    fixed_time: bool

    def matches(self, wall: datetime) -> bool:
        minute, hour, day, month, weekday = self.values
        if not (_in(minute, wall.minute) and _in(hour, wall.hour) and _in(month, wall.month)):
            return False
        day_ok, weekday_ok = _in(day, wall.day), _in(weekday, (wall.weekday() + 1) % 7)
        if self.day_or and day is not None and weekday is not None:
            return day_ok or weekday_ok
        return day_ok and weekday_ok


def _in(values: frozenset[int] | None, value: int) -> bool:
    return values is None or value in values


def rule(fields: tuple[str, ...], day_or: bool) -> Rule:
    expanded, _ = croniter.expand(" ".join(fields), hash_id=TASK_ID.encode())
    values = tuple(None if e == ["*"] else frozenset(int(v) for v in e) for e in expanded)
    fixed_time = not (fields[0].startswith("*") or fields[1].startswith("*"))
    return Rule(values, day_or, fixed_time)


def rules(schedule: Schedule) -> list[Rule]:
    crons = [rule(e.fields, day_or=True) for e in schedule.cron_entries(TASK_ID)]
    everys = [
        rule(every_fields(Every.model_validate(e.model_dump())), day_or=False)
        for e in schedule.every or []
    ]
    return crons + everys


def wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)


def fires_at(all_rules: list[Rule], tz: ZoneInfo, instant: datetime, before: datetime) -> bool:
    """Whether the real instant (on a whole minute) fires; `before` is the wall time a minute
    earlier."""
    local = instant.astimezone(tz)
    now = local.replace(tzinfo=None, fold=0)
    if any(r.matches(now) and (not r.fixed_time or local.fold == 0) for r in all_rules):
        return True
    skipped = before + MINUTE  # up to `now`: the clock jumped forward over these
    fixed = [r for r in all_rules if r.fixed_time]
    while skipped < now:
        if any(r.matches(skipped) for r in fixed):
            return True
        skipped += MINUTE
    return False


def brute_force(
    all_rules: list[Rule], tz: ZoneInfo, after: datetime, last: datetime
) -> list[datetime]:
    t = after.replace(second=0, microsecond=0) + MINUTE
    before, found = wall(t - MINUTE, tz), []
    while t <= last:
        if fires_at(all_rules, tz, t, before):
            found.append(t)
        before, t = wall(t, tz), t + MINUTE
    return found


def utc_fires(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    return [f.astimezone(UTC) for f in next_fires(schedule, TASK_ID, after=after, count=count)]


# --- properties ---------------------------------------------------------------------------


@SETTINGS
@given(cases())
def test_fires_are_after_and_strictly_increasing(case: tuple[Schedule, datetime]) -> None:
    schedule, after = case
    fires = utc_fires(schedule, after, 30)
    assert all(fire > after for fire in fires)
    assert all(a < b for a, b in pairwise(fires))


@SETTINGS
@given(cases())
def test_each_fire_matches_in_wall_time(case: tuple[Schedule, datetime]) -> None:
    schedule, after = case
    tz, all_rules = ZoneInfo(schedule.timezone or "UTC"), rules(schedule)
    for fire in next_fires(schedule, TASK_ID, after=after, count=30):
        assert str(fire.tzinfo) == str(tz)
        assert fire.second == 0 and fire.microsecond == 0
        instant = fire.astimezone(UTC)
        assert fires_at(all_rules, tz, instant, wall(instant - MINUTE, tz)), fire


@settings(SETTINGS, max_examples=75)  # the brute force is the slow part
@given(cases())
def test_nothing_is_skipped(case: tuple[Schedule, datetime]) -> None:
    schedule, after = case
    fires = utc_fires(schedule, after, 50)
    last = after + WINDOW
    if len(fires) == 50:
        last = min(last, fires[-1])
    expected = brute_force(rules(schedule), ZoneInfo(schedule.timezone or "UTC"), after, last)
    assert [fire for fire in fires if fire <= last] == expected


@settings(SETTINGS, max_examples=150)
@given(dst_cases())
def test_around_dst_changes_fires_are_exactly_the_brute_force(
    case: tuple[Schedule, datetime],
) -> None:
    schedule, after = case
    end = after + 6 * HOUR
    fires = fires_between(schedule, TASK_ID, start=after, end=end)
    expected = brute_force(rules(schedule), ZoneInfo(schedule.timezone or "UTC"), after, end)
    assert [fire.astimezone(UTC) for fire in fires] == expected


@SETTINGS
@given(cases())
def test_results_do_not_depend_on_where_iteration_starts(case: tuple[Schedule, datetime]) -> None:
    schedule, after = case
    fires = next_fires(schedule, TASK_ID, after=after, count=20)
    if fires:
        again = next_fires(schedule, TASK_ID, after=fires[0], count=19)
        assert [f.astimezone(UTC) for f in again] == [f.astimezone(UTC) for f in fires[1:]]
