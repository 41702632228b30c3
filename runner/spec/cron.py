"""Cron expressions as task files write them: 5 fields, macros, `H` hashed on the task id.

Parsing and validation only; when an expression fires is `runner/schedule/`'s business.
`H` uses croniter's hashing (CRC-32 of the task id), which is stable across processes and
Python versions, unlike `hash()`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_FIELD_CHARS = re.compile(r"^[0-9A-Za-z*/,\-()#?]+$")
_RANDOM = re.compile(r"(?<![A-Za-z])R(?![A-Za-z])")  # croniter's random 'R': not reproducible


class CronSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class CronEntry:
    """One expression: the five fields after macro expansion, with its DST class."""

    expression: str
    fields: tuple[str, str, str, str, str]

    @property
    def fixed_time(self) -> bool:
        """Debian cron's rule: neither the minute nor the hour field starts with '*'."""
        return not (self.fields[0].startswith("*") or self.fields[1].startswith("*"))

    @property
    def text(self) -> str:
        return " ".join(self.fields)


def parse_cron(expression: str, task_id: str | None = None) -> CronEntry:
    """Validate one expression; `task_id` is the seed of `H` (None: any fixed seed)."""
    stripped = expression.strip()
    if stripped.startswith("@"):
        if stripped not in MACROS:
            from runner.spec.diagnostics import suggest

            raise CronSyntaxError(
                f"unknown cron macro {stripped!r}; use one of {', '.join(MACROS)}"
                + suggest(stripped, MACROS)
            )
        stripped = MACROS[stripped]
    fields = stripped.split()
    if len(fields) != 5:
        raise CronSyntaxError(
            f"cron expression {expression!r} has {len(fields)} fields; write 5 "
            "(minute hour day-of-month month day-of-week) or a macro such as @daily"
        )
    for name, value in zip(FIELD_NAMES, fields, strict=True):
        if not _FIELD_CHARS.match(value) or _RANDOM.search(value):
            raise CronSyntaxError(f"cron {name} field {value!r} is not valid")
    text = " ".join(fields)
    _expand(text, (task_id or "runner") if "H" in text else "")
    return CronEntry(expression, (fields[0], fields[1], fields[2], fields[3], fields[4]))


@lru_cache(maxsize=4096)
def _expand(text: str, task_id: str) -> None:
    from croniter import CroniterError, croniter

    hash_id = task_id.encode("utf-8")
    try:
        croniter.expand(text, hash_id=hash_id)
    except (CroniterError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise CronSyntaxError(f"cron expression {text!r} is not valid: {_reason(exc)}") from None
    # A valid expression can still name a date that never comes, such as February 31st.
    start = datetime(2000, 1, 1)
    try:
        croniter(text, start, hash_id=hash_id, max_years_between_matches=50).get_next(datetime)
    except CroniterError:
        raise CronSyntaxError(f"cron expression {text!r} never fires (no such date)") from None


def _reason(exc: Exception) -> str:
    message = str(exc).strip() or type(exc).__name__
    return message[0].lower() + message[1:]
