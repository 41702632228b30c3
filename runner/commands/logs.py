"""`runner logs`: a task's runs from their JSONL logs, or one run's events (optionally live)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.commands.config import Workspace, open_state_store
from runner.errors import RunnerError, UsageError
from runner.runs.ids import RUN_ID
from runner.runs.log import LEVELS, read_lines
from runner.state.base import RunRecord


@dataclass(frozen=True)
class RunSummary:
    run: str
    task: str
    trigger: str | None
    started: str | None
    finished: str | None
    duration_s: float | None
    status: str
    reason: str | None
    counts: dict[str, int] | None

    def as_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "trigger": self.trigger,
            "started": self.started,
            "finished": self.finished,
            "duration_s": self.duration_s,
            "status": self.status,
            "reason": self.reason,
            "counts": self.counts,
        }


def summarize(path: Path, task: str, state_record: RunRecord | None) -> RunSummary:
    """What a run's log says about it; a log without run_finished is running (or crashed)."""
    lines = read_lines(path)
    started = next((line for line in lines if line.get("event") == "run_started"), {})
    finished = next((line for line in reversed(lines) if line.get("event") == "run_finished"), None)
    status = (
        finished.get("status") if finished else (state_record.status if state_record else "running")
    )
    return RunSummary(
        run=path.stem,
        task=task,
        trigger=started.get("trigger"),
        started=started.get("ts"),
        finished=finished.get("ts") if finished else None,
        duration_s=finished.get("duration_s") if finished else None,
        status=str(status),
        reason=finished.get("reason") if finished else None,
        counts=finished.get("counts") if finished else None,
    )


def run_files(logs_dir: Path, task: str | None) -> list[tuple[str, Path]]:
    """(task id, log file) of every run, oldest first; the task id is the path under logs_dir."""
    root = logs_dir / task if task else logs_dir
    if not root.is_dir():
        return []
    found = [
        (path.parent.relative_to(logs_dir).as_posix(), path)
        for path in root.rglob("*.jsonl")
        if RUN_ID.match(path.stem) and (task is None or path.parent == root)
    ]
    return sorted(found, key=lambda item: item[1].stem)


def list_runs(workspace: Workspace, task: str | None) -> list[RunSummary]:
    state = open_state_store(workspace.config)
    try:
        return [
            summarize(path, task_id, state.get(path.stem))
            for task_id, path in run_files(workspace.config.logs_dir, task)
        ]
    finally:
        state.close()


def find_log(workspace: Workspace, run_id: str) -> Path:
    if not RUN_ID.match(run_id):
        raise UsageError(f"'{run_id}' is not a run id (they look like 20261128T060000123Z-1a2b3c)")
    state = open_state_store(workspace.config)
    try:
        record = state.get(run_id)
    finally:
        state.close()
    if record is not None and Path(record.log_path).is_file():
        return Path(record.log_path)
    found = list(workspace.config.logs_dir.rglob(f"{run_id}.jsonl"))
    if not found:
        raise RunnerError(f"no log of run '{run_id}' in {workspace.config.logs_dir}")
    return found[0]


def at_least(level: str | None) -> Callable[[dict[str, Any]], bool]:
    floor = LEVELS.index(level) if level else 0
    return lambda line: (
        LEVELS.index(line.get("level", "info")) >= floor if line.get("level") in LEVELS else True
    )


def follow(
    path: Path, *, interval: float = 0.2, timeout: float | None = None
) -> Iterator[dict[str, Any]]:
    """Every line of a run's log as it is written, until its run_finished."""
    seen = 0
    waited = 0.0
    while True:
        lines = read_lines(path)
        for line in lines[seen:]:
            yield line
            if line.get("event") == "run_finished":
                return
        seen = len(lines)
        if timeout is not None and waited >= timeout:
            return
        time.sleep(interval)
        waited += interval
