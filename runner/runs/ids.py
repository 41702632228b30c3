"""Run ids sort by start: `20261128T060000123Z-1a2b3c` (UTC start in ms, then random hex)."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

RUN_ID = re.compile(r"^\d{8}T\d{9}Z-[0-9a-f]{6}$")


def new_run_id(started: datetime) -> str:
    utc = started.astimezone(UTC)
    return f"{utc:%Y%m%dT%H%M%S}{utc.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


def started_of(run_id: str) -> datetime:
    stamp = run_id.split("-", 1)[0]
    return datetime.strptime(stamp[:-1] + "000", "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)


def iso_ms(value: datetime) -> str:
    """`2026-11-28T06:00:00.123Z`: the timestamp of every log line."""
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
