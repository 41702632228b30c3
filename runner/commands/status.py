"""`runner status`: the Task Manager view, from the state the daemon and `runner run` keep.

Tasks a daemon knows are shown with the spec they run with (the last-known-good one) and the
file error it recorded; tasks no daemon has seen yet are shown from their files. Daemons count
as live when they did not record a stop and heartbeat within DAEMON_LIVE_WINDOW.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from runner.commands.config import Workspace
from runner.commands.plan import at_fired, upcoming_fires
from runner.daemon.reconcile import FileTask, Scanner, live_spec
from runner.schedule import describe
from runner.spec.files import read_text
from runner.spec.task import AnyTask, zone_of
from runner.spec.types import zone
from runner.spec.yamlsafe import YamlSyntaxError, load
from runner.state.backends import open_existing_state
from runner.state.base import DaemonRecord, RunRecord, StateStore, TaskState, live_since


@dataclass(frozen=True)
class LastRun:
    run: str
    status: str
    finished: datetime
    reason: str | None = None


@dataclass(frozen=True)
class TaskStatus:
    task: str
    module: str | None
    description: str | None
    enabled: bool
    schedule: str | None  # in words; None when the task has never had a valid spec
    last_run: LastRun | None
    running: str | None
    next_run: datetime | None
    error: str | None

    def as_json(self) -> dict[str, Any]:
        last = self.last_run
        return {
            "task": self.task,
            "module": self.module,
            "description": self.description,
            "enabled": self.enabled,
            "schedule": self.schedule,
            "last_run": (
                {"run": last.run, "status": last.status, "finished": _iso(last.finished)}
                if last
                else None
            ),
            "running": self.running,
            "next_run": _iso(self.next_run) if self.next_run else None,
            "error": self.error,
        }


@dataclass(frozen=True)
class DaemonStatus:
    id: str
    host: str
    pid: int
    started: datetime
    heartbeat: datetime
    git_commit: str | None
    heartbeat_age: timedelta

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "started": _iso(self.started),
            "heartbeat": _iso(self.heartbeat),
            "git_commit": self.git_commit,
        }


@dataclass(frozen=True)
class LastDaemon:
    id: str
    stopped: bool  # recorded its stop; else it died or lost the state
    age: timedelta  # since its stop, else since its last heartbeat


@dataclass(frozen=True)
class StatusResult:
    daemons: list[DaemonStatus]  # the live ones
    tasks: list[TaskStatus]
    recorded_daemons: int  # live or not
    last_daemon: LastDaemon | None  # the one heard of last, live or not

    @property
    def errors(self) -> list[TaskStatus]:
        return [task for task in self.tasks if task.error is not None]

    @property
    def daemon_missing(self) -> bool:
        """Daemons have run here, but none is running now."""
        return self.recorded_daemons > 0 and not self.daemons

    @property
    def healthy(self) -> bool:
        return not self.errors and not self.daemon_missing

    def as_json(self) -> dict[str, Any]:
        return {
            "daemons": [daemon.as_json() for daemon in self.daemons],
            "tasks": [task.as_json() for task in self.tasks],
        }


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def status(workspace: Workspace, *, now: datetime) -> StatusResult:
    files = {file.task_id: file for file in Scanner().scan(workspace, now)}
    config = workspace.config
    state = open_existing_state(config.model.state, config.base)
    try:
        known = {task.task_id: task for task in state.tasks()} if state else {}
        view = _View(state, now, config.model.timezone)
        tasks = [
            view.task(task_id, known.get(task_id), files.get(task_id))
            for task_id in sorted(set(files) | set(known))
        ]
        return _with_daemons(state, tasks, now, zone(config.model.timezone))
    finally:
        if state:
            state.close()


def _with_daemons(
    state: StateStore | None, tasks: list[TaskStatus], now: datetime, tz: ZoneInfo
) -> StatusResult:
    if state is not None:  # heartbeats are by the state's clock where it has one (PostgreSQL)
        now = state.server_time() or now
    recorded = state.daemons() if state else []
    live = state.daemons(live_since=live_since(now)) if state else []
    return StatusResult(
        daemons=[_daemon(daemon, now, tz) for daemon in live],
        tasks=tasks,
        recorded_daemons=len(recorded),
        last_daemon=_last_daemon(recorded, now),
    )


def _last_daemon(recorded: list[DaemonRecord], now: datetime) -> LastDaemon | None:
    def last_heard(daemon: DaemonRecord) -> datetime:
        return daemon.stopped or daemon.heartbeat

    if not recorded:
        return None
    last = max(recorded, key=last_heard)
    return LastDaemon(last.id, last.stopped is not None, now - last_heard(last))


def _daemon(daemon: DaemonRecord, now: datetime, tz: ZoneInfo) -> DaemonStatus:
    return DaemonStatus(
        id=daemon.id,
        host=daemon.host,
        pid=daemon.pid,
        started=daemon.started.astimezone(tz),
        heartbeat=daemon.heartbeat.astimezone(tz),
        git_commit=daemon.git_commit,
        heartbeat_age=now - daemon.heartbeat,
    )


@dataclass(frozen=True)
class _View:
    """Builds one task's row from what the state knows and what its file says."""

    state: StateStore | None
    now: datetime
    default_timezone: str

    def task(self, task_id: str, known: TaskState | None, file: FileTask | None) -> TaskStatus:
        spec = (live_spec(known) if known else None) or (file.spec if file else None)
        tz = zone_of(spec, self.default_timezone) if spec else zone(self.default_timezone)
        runs = self.state.runs(task_id) if self.state else []
        error = known.error if known else file.first_error if file else None
        module, description = _described(spec, known, file)
        return TaskStatus(
            task=task_id,
            module=module,
            description=description,
            enabled=spec.enabled if spec else False,
            schedule=self._schedule(spec, task_id),
            last_run=_last_run(runs, tz),
            running=_running(runs, self.now),
            next_run=self._next_run(spec, task_id),
            error=error,
        )

    def _schedule(self, spec: AnyTask | None, task_id: str) -> str | None:
        if spec is None:
            return None
        words = describe(spec.schedule, task_id, default_timezone=self.default_timezone)
        return f"{words} (fired)" if at_fired(spec, task_id, self.state) else words

    def _next_run(self, spec: AnyTask | None, task_id: str) -> datetime | None:
        if spec is None:
            return None
        fires = upcoming_fires(
            spec,
            task_id,
            self.state,
            after=self.now,
            count=1,
            default_timezone=self.default_timezone,
        )
        return fires[0] if fires else None


def _described(
    spec: AnyTask | None, known: TaskState | None, file: FileTask | None
) -> tuple[str | None, str | None]:
    if spec is not None:
        return spec.module, spec.description
    path = file.path if file else Path(known.path) if known else None
    return _raw_fields(path) if path else (None, None)


def _raw_fields(path: Path) -> tuple[str | None, str | None]:
    """`module` and `description` as written in a file that never validated, if readable."""
    try:
        data, _ = load(read_text(path))
    except YamlSyntaxError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    module, description = data.get("module"), data.get("description")
    return (
        module if isinstance(module, str) else None,
        description if isinstance(description, str) else None,
    )


def _last_run(runs: list[RunRecord], tz: ZoneInfo) -> LastRun | None:
    """The latest finished run (runs come newest first)."""
    for run in runs:
        if run.is_finished and run.finished is not None:
            return LastRun(run.run_id, run.status, run.finished.astimezone(tz), run.reason)
    return None


def _running(runs: list[RunRecord], now: datetime) -> str | None:
    """The newest run still holding its lease; one whose lease expired has died."""
    for run in runs:
        if run.status == "running" and (run.lease is None or run.lease.expires >= now):
            return run.run_id
    return None
