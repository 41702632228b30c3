"""What an email template sees: the variables of a run's summary (the README lists them).

A Summary is built from a finished run by the notifier, or from a task file alone as a sample
(`runner check` renders templates with samples, `runner notify test` mails one); both go through
`template_context`, so a template that renders for a sample renders for a real run.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from runner.modules.search import DEFAULT_FIELDS
from runner.runs.engine import has_problems
from runner.runs.ids import iso_ms, new_run_id
from runner.schedule.describe import describe
from runner.spec.task import AnyTask, SearchTask, validate_task, zone_of
from runner.state.base import Counts, RunRecord, Status

CONTEXT_KEYS = ("task", "run", "log", "search")
SHOWN_LEVELS = ("info", "warning", "error")
PROBLEM_LEVELS = ("warning", "error")
MAX_LOG_LINES = 200
MAX_PROBLEM_LINES = 50
MAX_ATTACHMENT = 10 * 1024 * 1024


@dataclass(frozen=True)
class HitList:
    """The search module's result as the mail shows it; `csv` is None when not attached."""

    hits: int
    fields: list[str]
    rows: list[list[str]]
    max_rows: int
    csv_path: Path
    csv_size: int
    csv: bytes | None


@dataclass(frozen=True)
class Summary:
    task_id: str
    spec: AnyTask
    run: RunRecord
    git_commit: str | None
    log_path: Path
    lines: Sequence[Mapping[str, Any]]
    default_timezone: str
    hits: HitList | None = None

    @property
    def problems(self) -> bool:
        return has_problems(self.run)

    @property
    def csv_name(self) -> str:
        return f"{self.task_id.replace('/', '-')}-{self.run.run_id}.csv"


def template_context(summary: Summary) -> dict[str, Any]:
    return {
        "task": _task(summary),
        "run": _run(summary),
        "log": _log(summary),
        "search": _search(summary),
    }


def _task(summary: Summary) -> dict[str, Any]:
    spec = summary.spec
    return {
        "id": summary.task_id,
        "description": spec.description,
        "module": spec.module,
        "schedule": describe(
            spec.schedule, summary.task_id, default_timezone=summary.default_timezone
        ),
        "run_as": spec.run_as,
        "timezone": str(zone_of(spec, summary.default_timezone)),
    }


def _run(summary: Summary) -> dict[str, Any]:
    run, zone = summary.run, zone_of(summary.spec, summary.default_timezone)
    seconds = (run.finished - run.started).total_seconds() if run.finished else 0.0

    def shown(value: datetime | None) -> str | None:
        return value.astimezone(zone).isoformat(timespec="seconds") if value else None

    return {
        "id": run.run_id,
        "trigger": run.trigger,
        "status": run.status,
        "reason": run.reason,
        "problems": summary.problems,
        "scheduled_for": shown(run.scheduled_for),
        "started": shown(run.started),
        "finished": shown(run.finished),
        "duration_s": round(seconds, 3),
        "duration": duration_text(seconds),
        "counts": run.counts.as_dict(),
        "dry_run": run.dry_run,
        "git_commit": summary.git_commit,
        "error": run.error,
        "undo_of": run.undo_of,
    }


def duration_text(seconds: float) -> str:
    """`0.4 s`, `12 s`, `3 min 5 s`, `2 h 7 min`."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _log(summary: Summary) -> dict[str, Any]:
    zone = zone_of(summary.spec, summary.default_timezone)
    lines = (line for line in summary.lines if line.get("level") in SHOWN_LEVELS)
    shown = [_line(line, zone) for line in lines]
    problems = [line for line in shown if line["level"] in PROBLEM_LEVELS]
    return {
        "path": str(summary.log_path),
        "lines": shown[:MAX_LOG_LINES],
        "omitted": max(len(shown) - MAX_LOG_LINES, 0),
        "problems": problems[:MAX_PROBLEM_LINES],
        "problems_omitted": max(len(problems) - MAX_PROBLEM_LINES, 0),
    }


def _line(line: Mapping[str, Any], zone: ZoneInfo) -> dict[str, str]:
    shown = {key: str(line.get(key, "")) for key in ("ts", "level", "event", "msg")}
    try:
        instant = datetime.fromisoformat(shown["ts"].replace("Z", "+00:00"))
    except ValueError:
        instant = None
    shown["time"] = f"{instant.astimezone(zone):%H:%M:%S}" if instant else ""
    return shown


def _search(summary: Summary) -> dict[str, Any] | None:
    hits = summary.hits
    if hits is None:
        return None
    return {
        "hits": hits.hits,
        "fields": hits.fields,
        "rows": hits.rows,
        "shown": len(hits.rows),
        "more": max(hits.hits - len(hits.rows), 0),
        "max_rows": hits.max_rows,
        "widths": column_widths(hits.fields, hits.rows),
        "csv": {
            "name": summary.csv_name,
            "path": str(hits.csv_path),
            "size": hits.csv_size,
            "attached": hits.csv is not None,
        },
    }


def column_widths(fields: list[str], rows: list[list[str]], cap: int = 40) -> list[int]:
    """Per column, the widest cell (at most `cap`): for plain-text tables."""
    columns = zip(fields, *rows, strict=False) if rows else ((f,) for f in fields)
    return [min(max(len(cell) for cell in column), cap) for column in columns]


def hit_list(spec: AnyTask, extra: Mapping[str, Any]) -> HitList | None:
    """The search module's `finish()` result, with the CSV read when it is to be attached."""
    if not isinstance(spec, SearchTask) or "rows" not in extra:
        return None
    fields = list(extra["fields"])
    path = Path(extra["csv"])
    size = path.stat().st_size if path.is_file() else 0
    wanted = spec.params.attach == "csv" and path.is_file() and size <= MAX_ATTACHMENT
    return HitList(
        hits=int(extra["hits"]),
        fields=fields,
        rows=[[str(row.get(name, "")) for name in fields] for row in extra["rows"]],
        max_rows=spec.params.max_rows,
        csv_path=path,
        csv_size=size,
        csv=path.read_bytes() if wanted else None,
    )


# Samples: a run of a task file as it could end, for checking and testing templates.

SAMPLE_TASK = {
    "version": 1,
    "description": "Sample summary from 'runner notify test'",
    "module": "search",
    "run_as": "editor",
    "schedule": {"cron": "30 8 * * 1"},
    "search": {"objecttypes": ["images"]},
    "params": {"fields": ["_system_object_id", "images.title", "images.creator"]},
}


def sample_task() -> AnyTask:
    return validate_task(SAMPLE_TASK, "notify-test")


def sample_summary(
    task_id: str, spec: AnyTask, *, now: datetime, default_timezone: str, failed: bool = False
) -> Summary:
    """A finished run of `spec` with made-up numbers; `failed` adds an error and problems."""
    started = now - timedelta(seconds=75)
    status: Status = "failed" if failed else "success"
    counts = _sample_counts(spec, failed)
    run = RunRecord(
        run_id=new_run_id(started),
        task_id=task_id,
        trigger="schedule" if spec.schedule else "manual",
        started=started,
        spec_hash="0" * 64,
        run_as=spec.run_as,
        dry_run=spec.dry_run,
        log_path=f"logs/{task_id}/sample.jsonl",
        scheduled_for=started if spec.schedule else None,
        status=status,
        reason="error" if failed else None,
        finished=now,
        counts=counts,
        error="sample error: the store did not answer" if failed else None,
    )
    return Summary(
        task_id=task_id,
        spec=spec,
        run=run,
        git_commit="0123456789abcdef0123456789abcdef01234567",
        log_path=Path(run.log_path),
        lines=_sample_lines(run, failed),
        default_timezone=default_timezone,
        hits=_sample_hits(spec, counts.matched, run.log_path),
    )


def _sample_counts(spec: AnyTask, failed: bool) -> Counts:
    if spec.module == "search":
        return Counts(matched=3, unchanged=3)
    if failed:
        return Counts(matched=120, changed=100, skipped=10, denied=6, failed=4)
    return Counts(matched=120, changed=100, unchanged=20)


def _sample_lines(run: RunRecord, failed: bool) -> list[dict[str, Any]]:
    ts = iso_ms(run.started)
    lines = [
        ("info", "run_started", f"sample run of {run.task_id} as {run.run_as}"),
        ("info", "search_done", f"search matched {run.counts.matched} objects"),
        ("info", "batch_done", f"{run.counts.matched} of {run.counts.matched} objects done"),
    ]
    if failed:
        lines += [
            ("warning", "object_denied", "object 17: no right to change it"),
            ("error", "object_failed", "object 23 failed: the file is missing"),
        ]
    return [{"ts": ts, "level": level, "event": e, "msg": m} for level, e, m in lines]


def _sample_hits(spec: AnyTask, hits: int, log_path: str) -> HitList | None:
    if not isinstance(spec, SearchTask):
        return None
    fields = list(spec.params.fields or DEFAULT_FIELDS)
    rows = [[_sample_cell(name, n) for name in fields] for n in range(1, hits + 1)]
    data = _csv_bytes(fields, rows)
    return HitList(
        hits=hits,
        fields=fields,
        rows=rows[: spec.params.max_rows],
        max_rows=spec.params.max_rows,
        csv_path=Path(log_path).with_suffix(".csv"),
        csv_size=len(data),
        csv=data if spec.params.attach == "csv" else None,
    )


def _sample_cell(field: str, n: int) -> str:
    return str(n) if field.endswith("_id") else f"sample {field} {n}"


def _csv_bytes(fields: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(fields)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
