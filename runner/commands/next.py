"""`runner next`: when a task fires, computed from its file alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from runner.commands.config import Workspace
from runner.commands.tasks import load_valid_task
from runner.errors import UsageError
from runner.schedule import next_fires
from runner.spec.task import zone_of
from runner.spec.types import parse_datetime


@dataclass(frozen=True)
class NextResult:
    task: str
    timezone: str
    next_runs: list[datetime]
    note: str | None = None


def next_runs(
    workspace: Workspace, task: str, *, now: datetime, after: str | None, count: int, cwd: Path
) -> NextResult:
    if count < 1:
        raise UsageError("--count must be at least 1")
    task_id, loaded = load_valid_task(workspace, task, cwd, now)
    spec = loaded.value
    assert spec is not None
    default_tz = workspace.config.model.timezone
    tz = zone_of(spec, default_tz)
    start = _parse_after(after, tz) if after else now
    if spec.schedule is None:
        return NextResult(task_id, str(tz), [], "manual: runs only with 'runner run'")
    if not spec.enabled:
        return NextResult(task_id, str(tz), [], "disabled (enabled: false)")
    fires = next_fires(
        spec.schedule, task_id, after=start, count=count, default_timezone=default_tz
    )
    note = "fires once, when a daemon first sees it" if spec.schedule.at == "now" else None
    return NextResult(task_id, str(tz), fires, note)


def _parse_after(value: str, tz: object) -> datetime:
    try:
        parsed = (
            parse_datetime(value)
            if "T" in value.upper() or " " in value
            else datetime.fromisoformat(value)
        )
    except ValueError:
        raise UsageError(f"--after {value!r} is not an ISO 8601 date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)  # type: ignore[arg-type]
