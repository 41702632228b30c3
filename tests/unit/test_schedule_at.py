"""`at` schedules, `H` hashing, validation of `after`, and `describe`."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from runner.schedule import describe, fires_between, next_fires
from runner.spec.task import Schedule

TASK_ID = "cleanup/old-drafts"
REPO = Path(__file__).resolve().parents[2]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def schedule(task_id: str = TASK_ID, **keys: Any) -> Schedule:
    return Schedule.model_validate(keys, context={"task_id": task_id})


def fires(s: Schedule, after: str, count: int = 3, **kw: Any) -> list[datetime]:
    found = next_fires(s, TASK_ID, after=utc(after), count=count, **kw)
    return [f.astimezone(UTC) for f in found]


# at


def test_naive_at_is_in_the_task_timezone() -> None:
    s = schedule(at="2026-12-01T06:00:00", timezone="Europe/Berlin")
    assert fires(s, "2026-11-01 00:00") == [utc("2026-12-01 05:00")]  # CET is UTC+1


def test_naive_at_uses_the_default_timezone() -> None:
    s = schedule(at="2026-12-01T06:00:00")
    assert fires(s, "2026-11-01 00:00", default_timezone="Asia/Tokyo") == [utc("2026-11-30 21:00")]


def test_at_with_offset_is_that_instant_shown_in_the_task_timezone() -> None:
    s = schedule(at="2026-12-01T06:00:00+01:00", timezone="America/New_York")
    [fire] = next_fires(s, TASK_ID, after=utc("2026-11-01 00:00"), count=5)
    assert fire == utc("2026-12-01 05:00")
    assert str(fire.tzinfo) == "America/New_York"
    assert (fire.hour, fire.utcoffset()) == (0, timedelta(hours=-5))


def test_at_fires_only_strictly_after() -> None:
    s = schedule(at="2026-12-01T06:00:00+00:00")
    assert fires(s, "2026-12-01 05:59") == [utc("2026-12-01 06:00")]
    assert fires(s, "2026-12-01 06:00") == []
    assert fires(s, "2027-01-01 00:00") == []


def test_naive_at_in_a_gap_fires_at_the_end_of_the_gap() -> None:
    # Berlin 2026-03-29 02:30 does not exist; the clock jumps to 03:00 CEST at 01:00 UTC
    s = schedule(at="2026-03-29T02:30:00", timezone="Europe/Berlin")
    assert fires(s, "2026-03-01 00:00") == [utc("2026-03-29 01:00")]


def test_naive_at_in_an_overlap_fires_at_the_first_occurrence() -> None:
    # Berlin 2026-10-25 02:30 happens at 00:30 UTC (CEST) and 01:30 UTC (CET): fold=0
    s = schedule(at="2026-10-25T02:30:00", timezone="Europe/Berlin")
    assert fires(s, "2026-10-01 00:00") == [utc("2026-10-25 00:30")]


def test_at_now_has_no_time_from_the_file() -> None:
    assert fires(schedule(at="now"), "2026-01-01 00:00") == []


def test_at_in_fires_between() -> None:
    s = schedule(at="2026-12-01T06:00:00+00:00")
    window = {"start": utc("2026-12-01 00:00"), "end": utc("2026-12-01 06:00")}
    assert list(fires_between(s, TASK_ID, **window)) == [utc("2026-12-01 06:00")]
    window["end"] = utc("2026-12-01 05:59")
    assert list(fires_between(s, TASK_ID, **window)) == []


def test_naive_after_is_refused() -> None:
    with pytest.raises(ValueError, match="after must be an aware datetime"):
        next_fires(schedule(cron="@daily"), TASK_ID, after=datetime(2026, 1, 1), count=1)


def test_after_in_any_timezone_is_the_same_instant() -> None:
    s = schedule(cron="*/10 * * * *", timezone="Europe/Berlin")
    after = datetime(2026, 5, 1, 12, 5, tzinfo=timezone(timedelta(hours=-7)))
    assert fires(s, "2026-05-01 19:05", 2) == [
        f.astimezone(UTC) for f in next_fires(s, TASK_ID, after=after, count=2)
    ]


def test_count_zero_and_no_possible_date() -> None:
    assert (
        next_fires(schedule(cron="@daily"), TASK_ID, after=utc("2026-01-01 00:00"), count=0) == []
    )
    # February has no 30th: such an expression is refused when the task file is validated
    with pytest.raises(ValidationError, match="never fires"):
        schedule(cron="0 0 30 2 *")


def test_cron_day_fields_are_ored_like_standard_cron() -> None:
    # "0 9 13 * 5": every 13th and every Friday (2026-02-06 is a Friday)
    assert fires(schedule(cron="0 9 13 * 5"), "2026-02-05 00:00", 3) == [
        utc("2026-02-06 09:00"),
        utc("2026-02-13 09:00"),
        utc("2026-02-20 09:00"),
    ]


def test_macros_are_expanded() -> None:
    assert fires(schedule(cron="@daily"), "2026-01-01 00:00", 2) == [
        utc("2026-01-02 00:00"),
        utc("2026-01-03 00:00"),
    ]


# H


def test_h_is_a_fixed_value_for_a_task_id() -> None:
    # croniter's CRC-32 hash of b"cleanup/old-drafts": minute 46, hour 17 (computed once)
    assert fires(schedule(cron="H H * * *"), "2026-05-01 00:00", 2) == [
        utc("2026-05-01 17:46"),
        utc("2026-05-02 17:46"),
    ]


def test_h_is_stable_across_processes() -> None:
    # Python's hash() of a str changes with PYTHONHASHSEED; the fire time must not
    code = (
        "from datetime import datetime, UTC\n"
        "from runner.spec.task import Schedule\n"
        "from runner.schedule import next_fires\n"
        "s = Schedule.model_validate({'cron': 'H H * * *'})\n"
        f"print(next_fires(s, {TASK_ID!r}, after=datetime(2026, 5, 1, tzinfo=UTC), count=1)[0])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)},
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {"2026-05-01 17:46:00+00:00\n"}


def test_h_spreads_task_ids() -> None:
    after = utc("2026-05-01 00:00")
    times = {
        next_fires(
            schedule(f"team/task-{n}", cron="H H * * *"), f"team/task-{n}", after=after, count=1
        )[0].strftime("%H:%M")
        for n in range(40)
    }
    assert len(times) >= 35
    assert len({t[:2] for t in times}) >= 12 and len({t[3:] for t in times}) >= 20


# describe


@pytest.mark.parametrize(
    ("keys", "text"),
    [
        ({"at": "now"}, "once, when first seen"),
        (
            {"at": "2026-12-01T06:00:00", "timezone": "Europe/Berlin"},
            "once at 2026-12-01 06:00 Europe/Berlin",
        ),
        (
            {"at": "2026-12-01T05:00:00+00:00", "timezone": "Europe/Berlin"},
            "once at 2026-12-01 06:00 Europe/Berlin",
        ),
        ({"at": "2026-12-01T06:00:30"}, "once at 2026-12-01 06:00:30 UTC"),
        ({"cron": "0 6 * * 1-5", "timezone": "Europe/Berlin"}, "cron 0 6 * * 1-5 (Europe/Berlin)"),
        ({"cron": ["@daily", "30 12 * * MON-THU"]}, "cron @daily; 30 12 * * MON-THU (UTC)"),
        ({"cron": "H H * * *"}, "cron H H * * * = 46 17 * * * (UTC)"),
        ({"cron": "H/15 2 * * *"}, "cron H/15 2 * * * = 1-46/15 2 * * * (UTC)"),
        (
            {"every": [{"weekdays": ["friday", "monday"], "hours": [18, 6]}]},
            "at minute 0 past hours 6, 18 on monday, friday (UTC)",
        ),
        (
            {"every": [{"weekdays": ["friday"], "days_of_month": [13], "minutes": [0, 30]}]},
            "at minutes 0, 30 past every hour on friday if the day of month is 13 (UTC)",
        ),
        (
            {"every": [{"days_of_month": [1], "hours": [2]}, {"hours": [12]}]},
            "at minute 0 past hour 2 on day 1 of the month; at minute 0 past hour 12 every day"
            " (UTC)",
        ),
    ],
)
def test_describe(keys: dict[str, Any], text: str) -> None:
    assert describe(schedule(**keys), TASK_ID) == text


def test_describe_manual_and_default_timezone() -> None:
    assert describe(None, TASK_ID) == "manual"
    assert describe(schedule(cron="@hourly"), TASK_ID, default_timezone="Asia/Tokyo") == (
        "cron @hourly (Asia/Tokyo)"
    )
