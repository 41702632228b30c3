"""The scheduler loop: reconcile, find due fires, claim them, run them on a bounded pool.

Time comes only from the injected Clock. `tick()` does one pass and returns when the next
thing is due; `run_forever()` sleeps on an Event until then or until a file event or signal
wakes it, so an idle daemon does no work at all between fires (no busy polling).

Each fire is claimed with `INSERT ... ON CONFLICT DO NOTHING` on (task id, scheduled_for):
when several daemons share a state, exactly one of them runs it; losing a claim is normal and
silent. Fires that are not run (missed by the policy, or skipped because the task is still
running) are claimed the same way and logged once in `<logs_dir>/<task>/fires.jsonl`.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

from runner.clock import Clock
from runner.commands.config import Workspace, load_workspace, open_state_store, open_store
from runner.commands.gitinfo import git_commit
from runner.daemon.events import EventSink
from runner.daemon.reconcile import Scanner, apply, live_spec, plan
from runner.errors import RunnerError
from runner.runs.engine import (
    LEASE,
    CancelToken,
    Environment,
    RunOutcome,
    RunRefused,
    RunRequest,
    close_expired,
    execute,
)
from runner.runs.log import log_fire
from runner.runs.notify import Notifier
from runner.schedule import fires_between, next_fires, task_zone
from runner.schedule.missed import due_fires
from runner.spec.task import AnyTask
from runner.state.base import DAEMON_HEARTBEAT, FireRecord, RunRecord, TaskState, Trigger

HEARTBEAT = DAEMON_HEARTBEAT
FireKind = Literal["schedule", "at"]
MAX_SLEEP = 60.0


@dataclass
class LiveRun:
    task_id: str
    scheduled_for: datetime
    cancel: CancelToken
    future: Future[RunOutcome | None] | None = None
    run_id: str | None = None


@dataclass
class Scheduled:
    """A task in the live schedule: the spec it runs with, its state row, and its next fire
    (`unevaluated` until the first pass after loading, which catches up on missed fires)."""

    state: TaskState
    spec: AnyTask
    next_due: datetime | None = None
    unevaluated: bool = True


@dataclass
class DaemonOptions:
    config: str | None
    cwd: Path
    heartbeat: timedelta = HEARTBEAT
    debounce: float = 0.15
    lease: timedelta = LEASE
    daemon_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )


class Daemon:
    def __init__(
        self, options: DaemonOptions, clock: Clock, events: EventSink | None = None
    ) -> None:
        self.options = options
        self.clock = clock
        self.id = options.daemon_id
        self.events = events or EventSink(self.id, clock.now)
        self.workspace = load_workspace(options.config, options.cwd)
        self._require_valid_config()
        self.state = open_state_store(self.workspace.config)
        self.scanner = Scanner()
        self.schedule: dict[str, Scheduled] = {}
        self.live: dict[tuple[str, datetime], LiveRun] = {}
        self.pool = ThreadPoolExecutor(max_workers=self.workspace.config.model.max_parallel_runs)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.dirty = True
        self.force_rescan = False
        self._last_event = 0.0
        self._last_heartbeat: datetime | None = None
        self._context: tuple[tuple[str, int, int], ...] = ()
        self._reconciled_once = False
        self._lock = threading.Lock()
        self.git_commit = git_commit(self.workspace.config.tasks_dir)

    def _require_valid_config(self) -> None:
        from runner.commands.config import require_valid

        require_valid(self.workspace)

    # lifecycle

    def start(self) -> None:
        from runner.state.base import DaemonRecord

        now = self.clock.now()
        record = DaemonRecord(self.id, socket.gethostname(), os.getpid(), now, now, self.git_commit)
        self.state.register_daemon(record)
        self.events.emit("daemon_started", f"daemon {self.id} started", git_commit=self.git_commit)
        self.reconcile()
        for run in close_expired(self.state, self.clock):
            self.events.emit(
                "run_closed",
                f"run {run.run_id} of {run.task_id} closed as interrupted",
                run=run.run_id,
            )
            self._resume(run)

    def stop(self, reason: str = "shutdown") -> None:
        """Stop claiming; running runs finish their current batch and stop."""
        self.stopping.set()
        with self._lock:
            for live in self.live.values():
                live.cancel.cancel(reason)
        self.wake.set()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.state.daemon_stopped(self.id, self.clock.now())
        self.events.emit("daemon_stopped", f"daemon {self.id} stopped")
        self.state.close()

    def notice_change(self, monotonic: float) -> None:
        """Called by the watcher: something under the watched paths changed."""
        self.dirty = True
        self._last_event = monotonic
        self.wake.set()

    def request_full_reconcile(self) -> None:
        self.dirty = True
        self.force_rescan = True
        self.wake.set()

    def run_forever(self) -> None:
        while not self.stopping.is_set():
            delay = self.tick()
            self.wake.wait(timeout=max(0.0, min(delay, MAX_SLEEP)))
            self.wake.clear()
            if self.dirty:
                self._debounce()

    def _debounce(self) -> None:
        # a burst of file events (git checkout, an editor's save) settles before reconciling
        while not self.stopping.is_set():
            quiet = self.clock.monotonic() - self._last_event
            if quiet >= self.options.debounce:
                return
            self.wake.wait(timeout=self.options.debounce - quiet)
            self.wake.clear()

    # one pass

    def tick(self) -> float:
        """Reconcile if needed, claim and start due fires; seconds until the next thing is due."""
        if self.dirty:
            self.reconcile()
        now = self.clock.now()
        if not self.stopping.is_set():
            evaluated = [t for t in sorted(self.schedule) if self._evaluate(t, now)]
            if evaluated:
                self.state.set_evaluated_many(evaluated, now)
        self._heartbeats(now)
        return self._seconds_to_next(now)

    def reconcile(self) -> None:
        self.dirty = False
        now = self.clock.now()
        workspace = load_workspace(self.options.config, self.options.cwd)
        broken = [
            f
            for f in (workspace.config_file, workspace.datamodel_file)
            if f is not None and f.errors
        ]
        if broken:
            first = broken[0]
            self.events.emit(
                "config_error",
                f"{first.path}:{first.errors[0]}; keeping the previous configuration",
                level="error",
            )
        else:
            self.workspace = workspace
        context = _context_stamp(self.workspace)
        force = self.force_rescan or context != self._context
        self.force_rescan, self._context = False, context
        files = self.scanner.scan(self.workspace, now, force=force)
        result = plan(
            files, self.state.tasks(), allow_empty=self.workspace.config.model.allow_empty
        )
        apply(result, self.state, now)
        self._load_schedule()
        for file, _ in result.invalid:
            self.events.emit(
                "file_error",
                f"{file.task_id}: {file.first_error}",
                level="error",
                task=file.task_id,
            )
        if result.pruning_blocked:
            self.events.emit(
                "prune_blocked",
                "tasks.d has no valid task: nothing unscheduled (allow_empty: true allows it)",
                level="warning",
            )
        self.events.emit(
            "reconciled",
            f"{len(self.schedule)} tasks scheduled",
            added=[f.task_id for f in result.added],
            changed=[f.task_id for f, _, _ in result.changed],
            removed=[t.task_id for t in result.removed],
            invalid=[f.task_id for f, _ in result.invalid],
        )

    def _load_schedule(self) -> None:
        """The live schedule from the state; unchanged tasks keep their entry (and cache)."""
        schedule: dict[str, Scheduled] = {}
        for task in self.state.tasks():
            kept = self.schedule.get(task.task_id)
            if kept is not None and kept.state.spec_hash == task.spec_hash:
                schedule[task.task_id] = Scheduled(task, kept.spec, kept.next_due, kept.unevaluated)
                continue
            try:
                spec = live_spec(task)
            except ValueError as exc:  # a last-known-good spec the code no longer accepts
                self.events.emit(
                    "file_error", f"{task.task_id}: stored spec invalid: {exc}", level="error"
                )
                continue
            if spec is not None:
                schedule[task.task_id] = Scheduled(task, spec)
        self.schedule = schedule

    # fires

    def _evaluate(self, task_id: str, now: datetime) -> bool:
        """Claim and start the task's due fires; True when it was evaluated up to `now`."""
        entry = self.schedule[task_id]
        spec, task = entry.spec, entry.state
        since = task.evaluated_until or task.first_seen
        if spec.schedule is None or now <= since:
            return False
        upcoming = entry.next_due
        if upcoming is not None and now < upcoming and not entry.unevaluated:
            return False  # nothing due: no schedule computation, no state write
        if spec.enabled:
            fires, kind = self._fires(task, spec, since, now)
            due = due_fires(
                fires,
                now=now,
                missed=spec.schedule.missed,
                max_lateness=spec.schedule.max_lateness,
                max_catchup=spec.schedule.max_catchup,
            )
            for instant, reason in due.dropped:
                self._drop(task_id, spec, instant, reason, now, kind)
            claimed = [
                (instant, trigger)
                for instant, trigger in due.run
                if self._claim(task_id, spec, instant, trigger, now, kind)
            ]
            self._dispatch(task_id, spec, claimed)
        self.schedule[task_id] = Scheduled(
            _with_evaluated(task, now), spec, self._next_due(task_id, spec, now), False
        )
        return True

    def _next_due(self, task_id: str, spec: AnyTask, now: datetime) -> datetime | None:
        """When the task has a fire next (cached, so idle ticks compute nothing)."""
        schedule = spec.schedule
        if schedule is None or not spec.enabled:
            return None
        zone = self.workspace.config.model.timezone
        if schedule.at is not None:
            if self.state.has_at_fire(task_id):
                return None
            return now if schedule.at == "now" else _aware_at(schedule.at, schedule, zone)
        found = next_fires(schedule, task_id, after=now, count=1, default_timezone=zone)
        return found[0] if found else None

    def _fires(
        self, task: TaskState, spec: AnyTask, since: datetime, now: datetime
    ) -> tuple[list[datetime], FireKind]:
        schedule = spec.schedule
        assert schedule is not None
        zone = self.workspace.config.model.timezone
        if schedule.at is None:
            return list(
                fires_between(schedule, task.task_id, start=since, end=now, default_timezone=zone)
            ), "schedule"
        if self.state.has_at_fire(task.task_id):
            return [], "at"
        if schedule.at == "now":
            return [task.first_seen], "at"
        at = (
            schedule.at
            if schedule.at.tzinfo
            else schedule.at.replace(tzinfo=task_zone(schedule, zone))
        )
        # an `at` already past when the task was first seen never fires (runner check warns)
        return ([at] if task.first_seen < at <= now and at > since else []), "at"

    def _drop(
        self,
        task_id: str,
        spec: AnyTask,
        instant: datetime,
        reason: str,
        now: datetime,
        kind: FireKind,
    ) -> None:
        fire = FireRecord(
            task_id, instant, now, self.id, "missed", spec.spec_hash(), detail=reason, kind=kind
        )
        if not self.state.claim_fire(fire):
            return
        policy = spec.schedule.missed if spec.schedule else None
        message = f"fire at {instant.isoformat()} not run: {reason}"
        log_fire(
            self.workspace.config.logs_dir,
            task_id,
            self.clock.now,
            "fire_missed",
            message,
            scheduled_for=instant.isoformat(),
            policy=policy,
            reason=reason,
        )
        self.events.emit(
            "fire_missed",
            f"{task_id}: {message}",
            level="warning",
            task=task_id,
            scheduled_for=instant.isoformat(),
        )

    def _claim(
        self,
        task_id: str,
        spec: AnyTask,
        instant: datetime,
        trigger: str,
        now: datetime,
        kind: FireKind,
    ) -> bool:
        fire = FireRecord(task_id, instant, now, self.id, "run", spec.spec_hash(), kind=kind)
        if not self.state.claim_fire(fire):
            return False  # another daemon has it: normal, silent
        self.events.emit(
            "fire_claimed",
            f"{task_id}: fire at {instant.isoformat()} claimed",
            task=task_id,
            scheduled_for=instant.isoformat(),
            trigger=trigger,
        )
        return True

    def _dispatch(self, task_id: str, spec: AnyTask, fires: list[tuple[datetime, str]]) -> None:
        """Start the claimed fires of one task: in order, one after another (catch-ups of
        `missed: all` included), after applying `concurrency` against runs still going."""
        if not fires:
            return
        concurrency = spec.schedule.concurrency if spec.schedule else "forbid"
        running = self._running_of(task_id)
        if running and concurrency == "forbid":
            busy = running[0].run_id or "(starting)"
            for instant, _ in fires:
                self._skip(task_id, spec, instant, f"run {busy} is still running")
            return
        if running and concurrency == "replace":
            for live in running:
                live.cancel.cancel("replaced")
        self._start(task_id, spec, fires, replacing=running if concurrency == "replace" else [])

    def _skip(self, task_id: str, spec: AnyTask, instant: datetime, why: str) -> None:
        self.state.set_fire_outcome(task_id, instant, "skipped", why)
        message = f"fire at {instant.isoformat()} skipped: {why} (concurrency: forbid)"
        log_fire(
            self.workspace.config.logs_dir,
            task_id,
            self.clock.now,
            "fire_skipped",
            message,
            scheduled_for=instant.isoformat(),
            policy="forbid",
        )
        self.events.emit("fire_skipped", f"{task_id}: {message}", level="warning", task=task_id)

    def _running_of(self, task_id: str) -> list[LiveRun]:
        with self._lock:
            local = [live for live in self.live.values() if live.task_id == task_id]
        return local

    def _start(
        self,
        task_id: str,
        spec: AnyTask,
        fires: list[tuple[datetime, str]],
        *,
        replacing: list[LiveRun],
        scheduled: bool = True,
    ) -> None:
        runs = []
        with self._lock:
            for instant, trigger in fires:
                live = LiveRun(task_id, instant, CancelToken())
                self.live[(task_id, instant)] = live
                runs.append((live, instant if scheduled else None, trigger))
        future = self.pool.submit(self._run_in_order, spec, runs, replacing)
        for live, _, _ in runs:
            live.future = future

    def _run_in_order(
        self,
        spec: AnyTask,
        runs: list[tuple[LiveRun, datetime | None, str]],
        replacing: list[LiveRun],
    ) -> RunOutcome | None:
        outcome = None
        for index, (live, instant, trigger) in enumerate(runs):
            if self.stopping.is_set() and index > 0:
                with self._lock:
                    self.live.pop((live.task_id, live.scheduled_for), None)
                continue
            outcome = self._run(live, spec, instant, trigger, replacing if index == 0 else [])
        return outcome

    def _resume(self, closed: RunRecord) -> None:
        entry = self.schedule.get(closed.task_id)
        if entry is None or closed.undo_of is not None:
            return
        when = closed.scheduled_for or self.clock.now()
        self._start(
            closed.task_id,
            entry.spec,
            [(when, "resume")],
            replacing=[],
            scheduled=closed.scheduled_for is not None,
        )

    def _run(
        self,
        live: LiveRun,
        spec: AnyTask,
        instant: datetime | None,
        trigger: str,
        replacing: list[LiveRun],
    ) -> RunOutcome | None:
        for old in replacing:  # already running in their own worker: waiting cannot deadlock
            if old.future is not None:
                old.future.result()
        config = self.workspace.config
        store = open_store(config)
        state = open_state_store(config)
        env = Environment(
            store=store,
            state=state,
            clock=self.clock,
            logs_dir=config.logs_dir,
            mappings_dir=config.mappings_dir,
            timezone=config.model.timezone,
            retention=config.model.retention,
            lease=self.options.lease,
            owner=self.id,
            notify=Notifier(config, self.clock),
        )
        request = RunRequest(
            live.task_id,
            spec,
            cast(Trigger, trigger),
            scheduled_for=instant,
            git_commit=self.git_commit,
        )

        def started(record: RunRecord) -> None:
            live.run_id = record.run_id
            if instant is not None:
                state.set_fire_run(live.task_id, instant, record.run_id)
            self.events.emit(
                "run_started",
                f"{live.task_id}: run {record.run_id} started ({record.trigger})",
                task=live.task_id,
                run=record.run_id,
            )

        try:
            outcome = execute(request, env, cancel=live.cancel, started=started)
        except RunRefused as exc:
            if instant is not None:
                self._skip(live.task_id, spec, instant, str(exc))
            return None
        except RunnerError as exc:
            self.events.emit(
                "run_error", f"{live.task_id}: {exc}", level="error", task=live.task_id
            )
            return None
        except Exception as exc:  # a bug in a run must not take the daemon down
            self.events.emit(
                "run_error",
                f"{live.task_id}: internal error: {exc!r}",
                level="error",
                task=live.task_id,
            )
            return None
        finally:
            store.close()
            state.close()
            with self._lock:
                self.live.pop((live.task_id, live.scheduled_for), None)
            self.wake.set()
        run = outcome.run
        self.events.emit(
            "run_finished",
            f"{live.task_id}: run {run.run_id} {run.status}"
            + (f" ({run.reason})" if run.reason else ""),
            level="info" if run.status == "success" else "error",
            task=live.task_id,
            run=run.run_id,
            status=run.status,
            reason=run.reason,
        )
        return outcome

    # heartbeats and sleep

    def _heartbeats(self, now: datetime) -> None:
        if self._last_heartbeat is not None and now - self._last_heartbeat < self.options.heartbeat:
            return
        self._last_heartbeat = now
        self.state.daemon_heartbeat(self.id, now)
        with self._lock:
            runs = [live.run_id for live in self.live.values() if live.run_id]
        for run_id in runs:
            self.state.heartbeat(run_id, self.id, now=now, expires=now + self.options.lease)

    def _seconds_to_next(self, now: datetime) -> float:
        heartbeat_due = (self._last_heartbeat or now) + self.options.heartbeat
        upcoming = [heartbeat_due]
        upcoming += [e.next_due for e in self.schedule.values() if e.next_due is not None]
        soonest = min(t.timestamp() for t in upcoming)
        return max(0.0, soonest - now.timestamp())

    def wait_for_runs(self) -> None:
        """Block until every started run has finished (tests and shutdown)."""
        while True:
            with self._lock:
                futures = [live.future for live in self.live.values() if live.future is not None]
            if not futures:
                return
            for future in futures:
                future.result()


def _context_stamp(workspace: Workspace) -> tuple[tuple[str, int, int], ...]:
    """What task files are checked against: a change here re-checks every task."""
    config = workspace.config
    paths = [config.path, config.datamodel_path]
    for directory in (config.mappings_dir, config.templates_dir):
        if directory.is_dir():
            paths += sorted(directory.iterdir())
    stamps = []
    for path in paths:
        if path is None:
            continue
        try:
            info = path.stat()
        except OSError:
            continue
        stamps.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(stamps)


def _aware_at(at: datetime, schedule: Any, default_timezone: str) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=task_zone(schedule, default_timezone))


def _with_evaluated(task: TaskState, now: datetime) -> TaskState:
    import dataclasses

    return dataclasses.replace(task, evaluated_until=now)


Callback = Callable[[], None]
