"""JSONL run logs (DESIGN section 7): one file per run, one JSON object per line.

Every line carries `ts`, `run`, `task`, `seq`, `level`, `event`, `msg` and the event's own
keys, and is flushed as it is written, so `runner logs --follow` and log shippers see it at
once. `run_finished` is always the last line; a file without it is a running or crashed run.
Readers skip a torn last line (a crash in the middle of a write).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from runner.runs.ids import RUN_ID, first_id_from, iso_ms

LEVELS = ("debug", "info", "warning", "error")


def run_log_path(logs_dir: Path, task_id: str, run_id: str) -> Path:
    return logs_dir / task_id / f"{run_id}.jsonl"


def fires_log_path(logs_dir: Path, task_id: str) -> Path:
    """Fires that did not run (missed, skipped) go here, with `run: null`."""
    return logs_dir / task_id / "fires.jsonl"


def log_fire(
    logs_dir: Path,
    task_id: str,
    now: Callable[[], datetime],
    event: str,
    msg: str,
    **extra: Any,
) -> dict[str, Any]:
    path = fires_log_path(logs_dir, task_id)
    append_torn_guard(path)
    log = RunLog(path, None, task_id, now)
    try:
        return log.warning(event, msg, **extra)
    finally:
        log.close()


class RunLog:
    """Appends the events of one run; `seq` continues when a crashed run's file is closed."""

    def __init__(
        self, path: Path, run_id: str | None, task_id: str, now: Callable[[], datetime]
    ) -> None:
        self.path = path
        self.run_id = run_id
        self.task_id = task_id
        self._now = now
        path.parent.mkdir(parents=True, exist_ok=True)
        self.seq = _last_seq(path)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        # called before each line: the run engine's lease check, which raises rather than let
        # a process that lost its run (paused past its lease) write another line
        self.guard: Callable[[], None] | None = None

    def write(self, level: str, event: str, msg: str, **extra: Any) -> dict[str, Any]:
        if self.guard is not None:
            self.guard()
        self.seq += 1
        line = {
            "ts": iso_ms(self._now()),
            "run": self.run_id,
            "task": self.task_id,
            "seq": self.seq,
            "level": level,
            "event": event,
            "msg": msg,
            **extra,
        }
        self._file.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        self._file.flush()
        return line

    def info(self, event: str, msg: str, **extra: Any) -> dict[str, Any]:
        return self.write("info", event, msg, **extra)

    def warning(self, event: str, msg: str, **extra: Any) -> dict[str, Any]:
        return self.write("warning", event, msg, **extra)

    def error(self, event: str, msg: str, **extra: Any) -> dict[str, Any]:
        return self.write("error", event, msg, **extra)

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a run's log; a torn (unterminated, unparsable) line is skipped."""
    return list(iter_lines(path))


def iter_lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            yield data


def _last_seq(path: Path) -> int:
    lines = read_lines(path) if path.exists() else []
    return max((int(line.get("seq", 0)) for line in lines), default=0)


def append_torn_guard(path: Path) -> None:
    """Before appending to a crashed run's file: end a torn last line so ours starts clean."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) != b"\n":
            handle.write(b"\n")


@dataclass(frozen=True)
class Pruned:
    run_ids: list[str]
    files: list[Path]


def prune(
    task_dir: Path,
    *,
    keep_runs: int | None,
    keep_days: int | None,
    now: datetime,
    protect: set[str],
) -> Pruned:
    """Delete the logs (and CSVs) of a task's runs beyond the last `keep_runs` or older than
    `keep_days` (None disables a rule); runs in `protect` (running ones) are always kept."""
    runs = sorted((p.stem for p in task_dir.glob("*.jsonl") if RUN_ID.match(p.stem)), reverse=True)
    newest = set(runs[:keep_runs]) if keep_runs is not None else set(runs)
    # run ids sort by start: comparing them with the cutoff's needs no date parsing
    cutoff = first_id_from(now - timedelta(days=keep_days)) if keep_days is not None else ""
    recent = {r for r in runs if r >= cutoff}
    doomed = [r for r in runs if not (r in newest and r in recent) and r not in protect]
    files = [p for r in doomed for p in (task_dir / f"{r}.jsonl", task_dir / f"{r}.csv")]
    removed = [p for p in files if p.exists()]
    for path in removed:
        path.unlink()
    return Pruned(doomed, removed)
