"""Dates of search requests and records: relative expressions, timezones, whole days."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from runner.store.dates import (
    format_instant,
    from_micros,
    micros,
    request_instant,
    resolve_relative,
    stored_instant,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 29, 10, 30, 15, tzinfo=UTC)  # a Sunday; Berlin switched to CEST at 01:00Z


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("expression", "zone", "expected"),
    [
        ("$now", "UTC", "2026-03-29T10:30:15+00:00"),
        ("$now-7d", "UTC", "2026-03-22T10:30:15+00:00"),
        ("$startOfDay", "UTC", "2026-03-29T00:00:00+00:00"),
        ("$startOfDay", "Europe/Berlin", "2026-03-29T00:00:00+01:00"),
        ("$startOfDay+1d", "Europe/Berlin", "2026-03-30T00:00:00+02:00"),  # across the DST change
        ("$now-1d", "Europe/Berlin", "2026-03-28T12:30:15+01:00"),  # same wall time, 23 h earlier
        ("$now-24h", "Europe/Berlin", "2026-03-28T10:30:15+00:00"),  # elapsed time
        ("$startOfWeek", "UTC", "2026-03-23T00:00:00+00:00"),  # Monday
        ("$startOfWeek-1w", "UTC", "2026-03-16T00:00:00+00:00"),
        ("$startOfMonth", "America/New_York", "2026-03-01T00:00:00-05:00"),
        ("$startOfMonth+1d-2h", "UTC", "2026-03-01T22:00:00+00:00"),
        ("$startOfYear", "Asia/Tokyo", "2026-01-01T00:00:00+09:00"),
        ("$now+90s", "UTC", "2026-03-29T10:31:45+00:00"),
        ("$now-5m", "UTC", "2026-03-29T10:25:15+00:00"),
        ("$now-1M", "UTC", "2026-02-28T10:30:15+00:00"),  # Feb has no 29th in 2026: clamped
        ("$now+1y", "UTC", "2027-03-29T10:30:15+00:00"),
    ],
)
def test_relative_dates(expression: str, zone: str, expected: str) -> None:
    assert resolve_relative(expression, NOW, ZoneInfo(zone)) == at(expected)


def test_relative_dates_start_from_the_local_day() -> None:
    late = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # already Sunday 00:30 in Berlin
    assert resolve_relative("$startOfDay", late, BERLIN) == at("2026-03-29T00:00:00+01:00")
    assert resolve_relative("$startOfDay", late, ZoneInfo("UTC")) == at("2026-03-28T00:00:00+00:00")


def test_month_steps_clamp_to_the_end_of_the_month() -> None:
    end_of_january = datetime(2024, 1, 31, 12, tzinfo=UTC)
    assert resolve_relative("$now+1M", end_of_january, ZoneInfo("UTC")) == at(
        "2024-02-29T12:00:00+00:00"
    )


def test_request_values_without_offset_are_in_the_timezone() -> None:
    assert from_micros(request_instant("2026-01-10T08:00:00", BERLIN, NOW)) == at(
        "2026-01-10T07:00:00+00:00"
    )
    assert from_micros(request_instant("2026-01-10T08:00:00Z", BERLIN, NOW)) == at(
        "2026-01-10T08:00:00+00:00"
    )
    start = request_instant("2026-01-10", BERLIN, NOW)
    end = request_instant("2026-01-10", BERLIN, NOW, end_of_day=True)
    assert from_micros(start) == at("2026-01-10T00:00:00+01:00")
    assert end == micros(at("2026-01-11T00:00:00+01:00")) - 1


def test_stored_values_without_offset_are_utc() -> None:
    assert stored_instant("2026-01-10") == micros(at("2026-01-10T00:00:00+00:00"))
    assert stored_instant("2026-01-10T08:00:00") == micros(at("2026-01-10T08:00:00+00:00"))
    assert stored_instant("2026-01-10T08:00:00-05:00") == micros(at("2026-01-10T13:00:00+00:00"))
    with pytest.raises(ValueError):
        stored_instant("10.01.2026")


def test_instants_are_written_in_utc_without_losing_precision() -> None:
    assert format_instant(micros(at("2026-01-10T08:00:00.123+01:00"))) == "2026-01-10T07:00:00.123Z"
    assert (
        format_instant(micros(at("2026-01-10T08:00:00.123456+00:00")))
        == "2026-01-10T08:00:00.123456Z"
    )
    assert format_instant(micros(at("0999-01-01T00:00:00+00:00"))) == "0999-01-01T00:00:00.000Z"
