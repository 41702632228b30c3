"""Scalar types shared by the models: durations, timezones, addresses, datetimes, names.

Each type validates a string as users write it and declares the JSON Schema of that string
(patterns only, never `format`, so that every validator accepts exactly what runner accepts).
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

STRICT_FROZEN = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=False)


def _integer_only(value: Any) -> Any:
    """`Literal[1]` alone accepts `true` and `1.0`, which equal 1 in Python."""
    if isinstance(value, bool | float):
        raise PydanticCustomError("literal_error", "Input should be 1", {"expected": "1"})
    return value


Version = Annotated[Literal[1], BeforeValidator(_integer_only)]

DURATION_PATTERN = r"^([0-9]+[smhdw])+$"
_DURATION_PART = re.compile(r"([0-9]+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_DURATION_SECONDS = 100 * 52 * 604800  # a century: beyond it timedelta arithmetic overflows


def parse_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str) or not re.match(DURATION_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a duration; write <integer><unit> parts with units s m h d w, "
            "e.g. '90s', '1h30m', '2d'"
        )
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(value))
    if seconds == 0:
        raise ValueError(f"duration {value!r} is zero; it must be positive")
    if seconds > _MAX_DURATION_SECONDS:
        weeks = _MAX_DURATION_SECONDS // 604800
        raise ValueError(f"duration {value!r} is too long; at most {weeks}w")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["30m", "1h30m"]}),
]


@lru_cache(maxsize=512)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(value: str) -> str:
    """An IANA zone name; `zone()` is cached, the full list is read only to suggest a fix."""
    if not re.match(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$", value) or value in (
        "localtime",
        "posixrules",
        "Factory",
    ):
        raise ValueError(_unknown_zone(value))
    try:
        zone(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(_unknown_zone(value)) from None
    return value


def _unknown_zone(value: str) -> str:
    import difflib

    close = difflib.get_close_matches(value, sorted(_zone_names()), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown timezone {value!r}: use an IANA name such as 'Europe/Berlin'{hint}"


Timezone = Annotated[
    str,
    AfterValidator(check_timezone),
    WithJsonSchema({"type": "string", "minLength": 1, "examples": ["Europe/Berlin", "UTC"]}),
]


def check_email(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    # Internal domains are fine for an admin tool; `localhost` is special-use but is the default
    # sender, so it is checked as if it were an ordinary host name.
    checked = (
        value[: -len("@localhost")] + "@localhost.localdomain"
        if value.endswith("@localhost")
        else value
    )
    try:
        validate_email(checked, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid email address: {exc}") from None
    return value


EmailAddress = Annotated[
    str,
    AfterValidator(check_email),
    WithJsonSchema({"type": "string", "pattern": r"^[^@\s]+@[^@\s]+$"}),
]


def parse_datetime(value: Any) -> datetime:
    """An ISO 8601 date-time; without an offset it is local to the task's timezone (naive)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or ("T" not in value.upper() and " " not in value):
        raise ValueError(f"{value!r} is not a date-time; write e.g. '2026-12-01T06:00:00+01:00'")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a date-time; write e.g. '2026-12-01T06:00:00+01:00'"
        ) from None


def format_datetime(value: datetime) -> str:
    return value.isoformat()


DateTime = Annotated[
    datetime,
    BeforeValidator(parse_datetime),
    PlainSerializer(format_datetime, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}"}),
]


def check_one_line(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if "\n" in value.strip() or "\r" in value:
        raise ValueError("must be one line")
    return value.strip()


OneLine = Annotated[
    str,
    AfterValidator(check_one_line),
    WithJsonSchema({"type": "string", "minLength": 1, "pattern": r"^[^\r\n]*\S[^\r\n]*\n?$"}),
]

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
Name = Annotated[
    str,
    AfterValidator(lambda v: _check_name(v)),
    WithJsonSchema({"type": "string", "pattern": NAME_PATTERN}),
]


def _check_name(value: str) -> str:
    if not re.match(NAME_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a valid name: use letters, digits, '_', '.' and '-', "
            "starting with a letter, digit or '_'"
        )
    return value
