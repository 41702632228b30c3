"""The cron DST rule (DESIGN section 8), as tables worked out by hand.

Each row: zone, expression, `after` and the expected fires, all written as UTC instants.
Fixed-time entries ("30 2 * * *", "15,45 1-3 * * *") fire once at the end of a spring-forward
gap and once, at the first occurrence, in a fall-back overlap. Wildcard entries ("*/15 * * * *",
"0 * * * *", "30 * * * *") follow the real clock: nothing in a gap, twice in an overlap.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runner.schedule import fires_between, next_fires
from runner.spec.task import Schedule


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cron(expression: str, timezone: str) -> Schedule:
    return Schedule.model_validate(
        {"cron": expression, "timezone": timezone}, context={"task_id": "dst/table"}
    )


# (zone, expression, after, expected fires; every time is UTC)
BERLIN = [
    # 2026-03-29 01:00 UTC: 02:00 CET (+1) jumps to 03:00 CEST (+2); walls 02:00-02:59 missing
    ("30 2 * * *", "2026-03-28 23:00", ["2026-03-29 01:00", "2026-03-30 00:30"]),
    # 02:30 never happens: fires at 03:00 CEST = 01:00 UTC; next day 02:30 CEST = 00:30 UTC
    ("0 2 * * *", "2026-03-28 23:00", ["2026-03-29 01:00", "2026-03-30 00:00"]),
    # 01:15, 01:45 CET; 02:15 and 02:45 both collapse into 03:00 CEST; then 03:15, 03:45 CEST
    (
        "15,45 1-3 * * *",
        "2026-03-28 23:00",
        [
            "2026-03-29 00:15",
            "2026-03-29 00:45",
            "2026-03-29 01:00",
            "2026-03-29 01:15",
            "2026-03-29 01:45",
        ],
    ),
    # the real clock: 01:45 CET, then 03:00 CEST, every 15 real minutes
    (
        "*/15 * * * *",
        "2026-03-29 00:30",
        ["2026-03-29 00:45", "2026-03-29 01:00", "2026-03-29 01:15", "2026-03-29 01:30"],
    ),
    # 01:00 CET, 03:00 CEST, 04:00 CEST: hourly in real time, no 02:00
    ("0 * * * *", "2026-03-28 23:30", ["2026-03-29 00:00", "2026-03-29 01:00", "2026-03-29 02:00"]),
    # 01:30 CET, then 03:30 CEST: 02:30 does not exist, so nothing at 01:00 UTC
    (
        "30 * * * *",
        "2026-03-29 00:00",
        ["2026-03-29 00:30", "2026-03-29 01:30", "2026-03-29 02:30"],
    ),
    # 2026-10-25 01:00 UTC: 03:00 CEST (+2) falls back to 02:00 CET (+1);
    # walls 02:00-02:59 happen at 00:00-00:59 UTC (fold 0) and again at 01:00-01:59 UTC (fold 1)
    ("30 2 * * *", "2026-10-24 22:00", ["2026-10-25 00:30", "2026-10-26 01:30"]),
    # once at the first 02:00 (CEST); the next day 02:00 CET = 01:00 UTC
    ("0 2 * * *", "2026-10-24 22:00", ["2026-10-25 00:00", "2026-10-26 01:00"]),
    # 01:15, 01:45 CEST; 02:15, 02:45 first pass only; 03:15, 03:45 CET
    (
        "15,45 1-3 * * *",
        "2026-10-24 22:00",
        [
            "2026-10-24 23:15",
            "2026-10-24 23:45",
            "2026-10-25 00:15",
            "2026-10-25 00:45",
            "2026-10-25 02:15",
            "2026-10-25 02:45",
        ],
    ),
    # 02:45 CEST, then the second pass 02:00 .. 02:45 CET, then 03:00 CET
    (
        "*/15 * * * *",
        "2026-10-25 00:30",
        [
            "2026-10-25 00:45",
            "2026-10-25 01:00",
            "2026-10-25 01:15",
            "2026-10-25 01:30",
            "2026-10-25 01:45",
            "2026-10-25 02:00",
        ],
    ),
    # 02:00 CEST, 02:00 CET, 03:00 CET: hourly in real time
    ("0 * * * *", "2026-10-24 23:30", ["2026-10-25 00:00", "2026-10-25 01:00", "2026-10-25 02:00"]),
    # 02:30 CEST and 02:30 CET, then 03:30 CET
    (
        "30 * * * *",
        "2026-10-24 23:45",
        ["2026-10-25 00:30", "2026-10-25 01:30", "2026-10-25 02:30"],
    ),
]

NEW_YORK = [
    # 2026-03-08 07:00 UTC: 02:00 EST (-5) jumps to 03:00 EDT (-4); walls 02:00-02:59 missing
    ("30 2 * * *", "2026-03-08 05:00", ["2026-03-08 07:00", "2026-03-09 06:30"]),
    ("0 2 * * *", "2026-03-08 05:00", ["2026-03-08 07:00", "2026-03-09 06:00"]),
    # 01:15, 01:45 EST; the gap's 02:15 and 02:45 become 03:00 EDT once; 03:15, 03:45 EDT
    (
        "15,45 1-3 * * *",
        "2026-03-08 05:00",
        [
            "2026-03-08 06:15",
            "2026-03-08 06:45",
            "2026-03-08 07:00",
            "2026-03-08 07:15",
            "2026-03-08 07:45",
        ],
    ),
    # 01:45 EST, 03:00 EDT, 03:15 EDT
    (
        "*/15 * * * *",
        "2026-03-08 06:30",
        ["2026-03-08 06:45", "2026-03-08 07:00", "2026-03-08 07:15"],
    ),
    # 01:00 EST, 03:00 EDT, 04:00 EDT
    ("0 * * * *", "2026-03-08 05:30", ["2026-03-08 06:00", "2026-03-08 07:00", "2026-03-08 08:00"]),
    # 01:30 EST, 03:30 EDT
    ("30 * * * *", "2026-03-08 06:00", ["2026-03-08 06:30", "2026-03-08 07:30"]),
    # 2026-11-01 06:00 UTC: 02:00 EDT (-4) falls back to 01:00 EST (-5);
    # walls 01:00-01:59 happen at 05:00-05:59 UTC and again at 06:00-06:59 UTC
    ("30 1 * * *", "2026-11-01 04:00", ["2026-11-01 05:30", "2026-11-02 06:30"]),
    # 02:30 is after the overlap: once, 02:30 EST = 07:30 UTC
    ("30 2 * * *", "2026-11-01 04:00", ["2026-11-01 07:30", "2026-11-02 07:30"]),
    # 01:15, 01:45 EDT (first pass only), then 02:15, 02:45, 03:15 EST
    (
        "15,45 1-3 * * *",
        "2026-11-01 04:00",
        [
            "2026-11-01 05:15",
            "2026-11-01 05:45",
            "2026-11-01 07:15",
            "2026-11-01 07:45",
            "2026-11-01 08:15",
        ],
    ),
    # 01:45 EDT, then 01:00 .. 01:45 EST again, then 02:00 EST
    (
        "*/15 * * * *",
        "2026-11-01 05:30",
        [
            "2026-11-01 05:45",
            "2026-11-01 06:00",
            "2026-11-01 06:15",
            "2026-11-01 06:30",
            "2026-11-01 06:45",
            "2026-11-01 07:00",
        ],
    ),
    # 01:00 EDT, 01:00 EST, 02:00 EST
    ("0 * * * *", "2026-11-01 04:30", ["2026-11-01 05:00", "2026-11-01 06:00", "2026-11-01 07:00"]),
    # 01:30 EDT, 01:30 EST, 02:30 EST
    (
        "30 * * * *",
        "2026-11-01 05:00",
        ["2026-11-01 05:30", "2026-11-01 06:30", "2026-11-01 07:30"],
    ),
]

LORD_HOWE = [
    # 30-minute shifts. 2026-04-04 15:00 UTC: 02:00 (+11) falls back to 01:30 (+10:30);
    # walls 01:30-01:59 happen at 14:30-14:59 UTC and again at 15:00-15:29 UTC
    # 01:45 first pass only (+11); the next day 01:45 (+10:30)
    ("45 1 * * *", "2026-04-04 12:00", ["2026-04-04 14:45", "2026-04-05 15:15"]),
    # 02:30 is after the overlap: 02:30 (+10:30) = 16:00 UTC
    ("30 2 * * *", "2026-04-04 12:00", ["2026-04-04 16:00", "2026-04-05 16:00"]),
    # 01:15, 01:45 (+11), then 02:15, 02:45, 03:15 (+10:30)
    (
        "15,45 1-3 * * *",
        "2026-04-04 13:30",
        [
            "2026-04-04 14:15",
            "2026-04-04 14:45",
            "2026-04-04 15:45",
            "2026-04-04 16:15",
            "2026-04-04 16:45",
        ],
    ),
    # real clock, every 15 minutes: 01:30, 01:45 (+11), 01:30, 01:45 (+10:30), 02:00, 02:15
    (
        "*/15 * * * *",
        "2026-04-04 14:20",
        [
            "2026-04-04 14:30",
            "2026-04-04 14:45",
            "2026-04-04 15:00",
            "2026-04-04 15:15",
            "2026-04-04 15:30",
            "2026-04-04 15:45",
        ],
    ),
    # 01:00 (+11), then 02:00 (+10:30): 90 real minutes apart, 01:00 happens only once
    ("0 * * * *", "2026-04-04 13:30", ["2026-04-04 14:00", "2026-04-04 15:30", "2026-04-04 16:30"]),
    # 01:30 is the first minute of the overlap: twice; then 02:30 (+10:30)
    (
        "30 * * * *",
        "2026-04-04 13:30",
        ["2026-04-04 14:30", "2026-04-04 15:00", "2026-04-04 16:00"],
    ),
    # 2026-10-03 15:30 UTC: 02:00 (+10:30) jumps to 02:30 (+11); walls 02:00-02:29 missing
    # 02:00 becomes 02:30 (+11) = 15:30 UTC; the next day 02:00 (+11) = 15:00 UTC
    ("0 2 * * *", "2026-10-03 12:00", ["2026-10-03 15:30", "2026-10-04 15:00"]),
    ("15 2 * * *", "2026-10-03 12:00", ["2026-10-03 15:30", "2026-10-04 15:15"]),
    # 02:30 exists (+11): the same instant as the gap's end, but a normal fire
    ("30 2 * * *", "2026-10-03 12:00", ["2026-10-03 15:30", "2026-10-04 15:30"]),
    # 01:15, 01:45 (+10:30), 02:15 -> 02:30 (+11), 02:45, 03:15 (+11)
    (
        "15,45 1-3 * * *",
        "2026-10-03 13:30",
        [
            "2026-10-03 14:45",
            "2026-10-03 15:15",
            "2026-10-03 15:30",
            "2026-10-03 15:45",
            "2026-10-03 16:15",
        ],
    ),
    # 01:45 (+10:30), then 02:30, 02:45 (+11): 02:00 and 02:15 do not exist
    (
        "*/15 * * * *",
        "2026-10-03 15:00",
        ["2026-10-03 15:15", "2026-10-03 15:30", "2026-10-03 15:45"],
    ),
    # 01:00 (+10:30), then 03:00 (+11): 02:00 does not exist
    ("0 * * * *", "2026-10-03 14:00", ["2026-10-03 14:30", "2026-10-03 16:00", "2026-10-03 17:00"]),
    # 01:30 (+10:30), 02:30 (+11), 03:30 (+11)
    (
        "30 * * * *",
        "2026-10-03 14:00",
        ["2026-10-03 15:00", "2026-10-03 15:30", "2026-10-03 16:30"],
    ),
]

SYDNEY = [
    # southern hemisphere: DST ends in April. 2026-04-04 16:00 UTC: 03:00 AEDT (+11) falls back
    # to 02:00 AEST (+10); walls 02:00-02:59 at 15:00-15:59 UTC and again at 16:00-16:59 UTC
    ("30 2 * * *", "2026-04-04 12:00", ["2026-04-04 15:30", "2026-04-05 16:30"]),
    ("0 2 * * *", "2026-04-04 12:00", ["2026-04-04 15:00", "2026-04-05 16:00"]),
    # 01:15, 01:45 AEDT, 02:15, 02:45 first pass, 03:15 AEST
    (
        "15,45 1-3 * * *",
        "2026-04-04 14:00",
        [
            "2026-04-04 14:15",
            "2026-04-04 14:45",
            "2026-04-04 15:15",
            "2026-04-04 15:45",
            "2026-04-04 17:15",
        ],
    ),
    # 02:45 AEDT, then 02:00, 02:15 AEST
    (
        "*/15 * * * *",
        "2026-04-04 15:30",
        ["2026-04-04 15:45", "2026-04-04 16:00", "2026-04-04 16:15"],
    ),
    # 02:00 AEDT, 02:00 AEST, 03:00 AEST
    ("0 * * * *", "2026-04-04 14:30", ["2026-04-04 15:00", "2026-04-04 16:00", "2026-04-04 17:00"]),
    (
        "30 * * * *",
        "2026-04-04 14:30",
        ["2026-04-04 15:30", "2026-04-04 16:30", "2026-04-04 17:30"],
    ),
    # DST starts in October. 2026-10-03 16:00 UTC: 02:00 AEST (+10) jumps to 03:00 AEDT (+11)
    ("30 2 * * *", "2026-10-03 12:00", ["2026-10-03 16:00", "2026-10-04 15:30"]),
    ("0 2 * * *", "2026-10-03 12:00", ["2026-10-03 16:00", "2026-10-04 15:00"]),
    # 01:15, 01:45 AEST, the gap's 02:15, 02:45 -> 03:00 AEDT, 03:15, 03:45 AEDT
    (
        "15,45 1-3 * * *",
        "2026-10-03 14:00",
        [
            "2026-10-03 15:15",
            "2026-10-03 15:45",
            "2026-10-03 16:00",
            "2026-10-03 16:15",
            "2026-10-03 16:45",
        ],
    ),
    # 01:45 AEST, 03:00 AEDT, 03:15 AEDT
    (
        "*/15 * * * *",
        "2026-10-03 15:30",
        ["2026-10-03 15:45", "2026-10-03 16:00", "2026-10-03 16:15"],
    ),
    # 01:00 AEST, 03:00 AEDT, 04:00 AEDT
    ("0 * * * *", "2026-10-03 14:30", ["2026-10-03 15:00", "2026-10-03 16:00", "2026-10-03 17:00"]),
    # 01:30 AEST, 03:30 AEDT
    ("30 * * * *", "2026-10-03 15:00", ["2026-10-03 15:30", "2026-10-03 16:30"]),
]

TROLL = [
    # 2-hour shifts, more than most zones: a start looking back only one hour would miss fires.
    # 2026-03-29 01:00 UTC: 01:00 (+00) jumps to 03:00 (+02); walls 01:00-02:59 missing
    # 01:15, 01:45, 02:15, 02:45 all become 03:00 (+02) = 01:00 UTC; then 03:15, 03:45 (+02)
    (
        "15,45 1-3 * * *",
        "2026-03-28 23:00",
        ["2026-03-29 01:00", "2026-03-29 01:15", "2026-03-29 01:45"],
    ),
    # 00:00 (+00), then 03:00 (+02) = 01:00 UTC: hourly in real time
    ("0 * * * *", "2026-03-28 23:30", ["2026-03-29 00:00", "2026-03-29 01:00", "2026-03-29 02:00"]),
    # 2026-10-25 01:00 UTC: 03:00 (+02) falls back to 01:00 (+00); walls 01:00-02:59 happen at
    # 23:00-00:59 UTC and again at 01:00-02:59 UTC. `after` is 01:30 (+02), in the first pass:
    # 02:00 (+02), then the second pass 01:00, 02:00 (+00), then 03:00 (+00)
    (
        "0 * * * *",
        "2026-10-24 23:30",
        ["2026-10-25 00:00", "2026-10-25 01:00", "2026-10-25 02:00", "2026-10-25 03:00"],
    ),
    # fixed-time 01:45 fires on the first pass only; the next day 01:45 (+00)
    ("45 1 * * *", "2026-10-24 23:30", ["2026-10-24 23:45", "2026-10-26 01:45"]),
]

ROWS = (
    [("Europe/Berlin", *row) for row in BERLIN]
    + [("America/New_York", *row) for row in NEW_YORK]
    + [("Australia/Lord_Howe", *row) for row in LORD_HOWE]
    + [("Australia/Sydney", *row) for row in SYDNEY]
    + [("Antarctica/Troll", *row) for row in TROLL]
)


@pytest.mark.parametrize(("zone_name", "expression", "after", "expected"), ROWS)
def test_dst_table(zone_name: str, expression: str, after: str, expected: list[str]) -> None:
    fires = next_fires(
        cron(expression, zone_name), "dst/table", after=utc(after), count=len(expected)
    )
    assert [fire.astimezone(UTC) for fire in fires] == [utc(text) for text in expected]


@pytest.mark.parametrize(("zone_name", "expression", "after", "expected"), ROWS)
def test_dst_table_fires_between(
    zone_name: str, expression: str, after: str, expected: list[str]
) -> None:
    fires = fires_between(
        cron(expression, zone_name), "dst/table", start=utc(after), end=utc(expected[-1])
    )
    assert [fire.astimezone(UTC) for fire in fires] == [utc(text) for text in expected]


def test_fires_are_in_the_task_timezone_with_fold() -> None:
    # 02:00 CEST, then 02:00 CET: the same wall time, told apart by fold and offset
    fires = next_fires(
        cron("0 * * * *", "Europe/Berlin"), "t", after=utc("2026-10-24 23:30"), count=2
    )
    assert [str(f.tzinfo) for f in fires] == ["Europe/Berlin", "Europe/Berlin"]
    assert [(f.hour, f.fold, f.utcoffset()) for f in fires] == [
        (2, 0, timedelta(hours=2)),
        (2, 1, timedelta(hours=1)),
    ]


def test_after_inside_the_overlap_second_pass() -> None:
    # after = 02:10 CET (second pass); 02:15 CEST (00:15 UTC) is before it and is skipped
    fires = next_fires(
        cron("*/15 * * * *", "Europe/Berlin"), "t", after=utc("2026-10-25 01:10"), count=3
    )
    assert [f.astimezone(UTC) for f in fires] == [
        utc("2026-10-25 01:15"),
        utc("2026-10-25 01:30"),
        utc("2026-10-25 01:45"),
    ]


def test_after_inside_the_overlap_first_pass_sees_the_second() -> None:
    # after = 02:50 CEST (first pass): 02:00 CET (01:00 UTC) is still ahead, wall time earlier
    fires = next_fires(
        cron("0 * * * *", "Europe/Berlin"), "t", after=utc("2026-10-25 00:50"), count=2
    )
    assert [f.astimezone(UTC) for f in fires] == [utc("2026-10-25 01:00"), utc("2026-10-25 02:00")]


def test_fixed_and_wildcard_entries_merge_without_duplicates() -> None:
    schedule = Schedule.model_validate(
        {"cron": ["30 2 * * *", "*/30 * * * *"], "timezone": "Europe/Berlin"},
        context={"task_id": "t"},
    )
    fires = next_fires(schedule, "t", after=utc("2026-10-25 00:10"), count=4)
    # 02:30 CEST from both entries once, then the wildcard's second pass 02:00, 02:30 CET
    assert [f.astimezone(UTC) for f in fires] == [
        utc("2026-10-25 00:30"),
        utc("2026-10-25 01:00"),
        utc("2026-10-25 01:30"),
        utc("2026-10-25 02:00"),
    ]
