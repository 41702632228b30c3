"""Run ids sort by start: `20261128T060000123Z-1a2b3c` (UTC start in ms, then random hex)."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

RUN_ID = re.compile(r"^\d{8}T\d{9}Z-[0-9a-f]{6}$")


def new_run_id(started: datetime) -> str:
    return f"{_stamp(started.astimezone(UTC))}-{secrets.token_hex(3)}"


def first_id_from(instant: datetime) -> str:
    """A string that sorts before the ids of the runs started at or after `instant` and after
    those of the runs started before it (ids hold the start in whole milliseconds)."""
    utc = instant.astimezone(UTC)
    if utc.microsecond % 1000:
        utc += timedelta(microseconds=1000 - utc.microsecond % 1000)
    return _stamp(utc)


def _stamp(utc: datetime) -> str:
    return f"{utc:%Y%m%dT%H%M%S}{utc.microsecond // 1000:03d}Z"


def iso_ms(value: datetime) -> str:
    """`2026-11-28T06:00:00.123Z`: the timestamp of every log line."""
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
