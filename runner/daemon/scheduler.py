"""The scheduler loop: reconcile, find due fires, claim them, run them on a bounded pool.

Time comes only from the injected Clock. `tick()` does one pass and returns when the next
thing is due; `run_forever()` sleeps on an Event until then or until a file event or signal
wakes it, so an idle daemon does no work at all between fires (no busy polling).

Work follows what changed. The daemon keeps the state's task rows in memory (`known`, read
once at start and on SIGHUP, then updated as it writes them) and each task's next fire in a
heap (`due`): a file edit re-reads that file, writes that task's row and computes that task's
next fire; a tick evaluates only the tasks that are due. All next fires are computed at
start, before the `ready` event.

Each fire is claimed with `INSERT ... ON CONFLICT DO NOTHING` on (task id, scheduled_for):
when several daemons share a state, exactly one of them runs it; losing a claim is normal and
silent. A tick claims all its due fires before it starts any run, so that runs starting do
not delay the claims of other tasks. Fires that are not run (missed by the policy, or skipped
because the task is still running) are claimed the same way and logged once in
`<logs_dir>/<task>/fires.jsonl`.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import uuid
from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

from runner.clock import Clock
from runner.commands.config import Workspace, load_workspace, open_state_store, open_store
from runner.commands.gitinfo import git_commit
from runner.daemon.due import DueQueue
from runner.daemon.events import EventSink
from runner.daemon.reconcile import (
    MAX_NAMED_PATHS,
    FileTask,
    Plan,
    Scanner,
    apply,
    live_spec,
    plan,
)
from runner.errors import RunnerError
from runner.runs.engine import (
    CancelToken,
    Environment,
    RunOutcome,
    RunRefused,
    RunRequest,
    close_expired,
    execute,
)
from runner.runs.ids import iso_ms
from runner.runs.log import log_fire
from runner.runs.notify import Notifier
from runner.schedule import Timetable, task_zone, timetable
from runner.schedule.missed import Due, due_fires
from runner.spec.task import AnyTask
from runner.state.base import (
    DAEMON_HEARTBEAT,
    FireRecord,
    RunRecord,
    StateStore,
    TaskState,
    Trigger,
)

HEARTBEAT = DAEMON_HEARTBEAT
FireKind = Literal["schedule", "at"]
MAX_SLEEP = 60.0
MAX_CLOCK_SKEW = 2.0  # seconds between a replica's clock and the database's


class ClockSkew(RunnerError):
    """This host's clock is too far from the database's to run beside other replicas."""


@dataclass
class LiveRun:
    task_id: str
    scheduled_for: datetime
    cancel: CancelToken
    future: Future[RunOutcome | None] | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class Scheduled:
    """A task in the live schedule: the spec it runs with (its last-known-good one), that
    spec's hash and its timetable. Its state row is in `Daemon.known`, its next fire in
    `Daemon.due`."""

    spec: AnyTask
    spec_hash: str
    table: Timetable | None


@dataclass(frozen=True)
class Decided:
    """What a tick decided for one task's due fires, before claiming them."""

    task_id: str
    entry: Scheduled
    kind: FireKind
    due: Due

    def records(self, daemon_id: str, stamp: datetime) -> list[FireRecord]:
        """The claims: dropped fires as missed, then those to run (the order of `_claim`)."""
        spec_hash, kind = self.entry.spec_hash, self.kind
        missed = [
            FireRecord(
                self.task_id, instant, stamp, daemon_id, "missed", spec_hash, None, why, kind
            )
            for instant, why in self.due.dropped
        ]
        run = [
            FireRecord(self.task_id, instant, stamp, daemon_id, "run", spec_hash, kind=kind)
            for instant, _ in self.due.run
        ]
        return missed + run


Claimed = tuple[str, AnyTask, list[tuple[datetime, str]]]  # task, spec, (instant, trigger)


@dataclass
class DaemonOptions:
    config: str | None
    cwd: Path
    # None: every third of the lease, at most every HEARTBEAT
    heartbeat: timedelta | None = None
    # the quiet time that ends a burst of file events (an editor's save, a git checkout) ...
    debounce: float = 0.05
    # ... and the longer one when the burst removed a file or changed directories or links
    settle: float = 0.15
    lease: timedelta | None = None  # None: runner.yaml's `lease`
    daemon_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )


class Daemon:
    def __init__(
        self, options: DaemonOptions, clock: Clock, events: EventSink | None = None
    ) -> None:
        self.clock = clock
        self.id = options.daemon_id
        self.events = events or EventSink(self.id, clock.now)
        self.workspace = load_workspace(options.config, options.cwd)
        self._require_valid_config()
        lease = options.lease or self.workspace.config.model.lease
        heartbeat = options.heartbeat or min(HEARTBEAT, lease / 3)
        self.options = replace(options, lease=lease, heartbeat=heartbeat)
        self.lease, self.heartbeat = lease, heartbeat
        self.state = open_state_store(self.workspace.config)
        self.scanner = Scanner()
        self.known: dict[str, TaskState] = {}  # the state's task rows, as last written
        self.schedule: dict[str, Scheduled] = {}
        self.due = DueQueue()
        self.live: dict[str, dict[datetime, LiveRun]] = {}  # by task, then scheduled time
        self.pool = ThreadPoolExecutor(max_workers=self.workspace.config.model.max_parallel_runs)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.dirty = True
        self.force_rescan = False
        self._changed: set[str] | None = None  # files the watcher named; None: rescan all
        self._changes_lock = threading.Lock()
        self._last_event = 0.0
        self._last_heartbeat: datetime | None = None
        self._context: tuple[tuple[str, int, int], ...] = ()
        self._zone = self.workspace.config.model.timezone
        self._loaded = False
        self._lock = threading.Lock()
        self.git_commit = git_commit(self.workspace.config.tasks_dir)

    def _require_valid_config(self) -> None:
        from runner.commands.config import require_valid

        require_valid(self.workspace)

    # lifecycle

    def start(self) -> None:
        """Register, reconcile every file, close runs whose process died, and compute every
        task's next fire; then report `ready`."""
        from runner.state.base import DaemonRecord

        self._check_clock()
        now = self.clock.now()  # rows written by the reconcile below are evaluated up to it
        record = DaemonRecord(self.id, socket.gethostname(), os.getpid(), now, now, self.git_commit)
        self.state.register_daemon(record)
        self.events.emit("daemon_started", f"daemon {self.id} started", git_commit=self.git_commit)
        self.reconcile()
        self._take_over()
        self._idle_evaluated(now)
        self._ready()

    def _check_clock(self) -> None:
        """Replicas judge fires by their own clocks and leases by the database's: a host whose
        clock is off would run fires early or late, or misjudge its leases."""
        server = self.state.server_time()
        if server is None:  # the state has no clock of its own (SQLite: one host)
            return
        skew = (self.clock.now() - server).total_seconds()
        if abs(skew) > MAX_CLOCK_SKEW:
            where = "ahead of" if skew > 0 else "behind"
            raise ClockSkew(
                f"this host's clock is {abs(skew):.0f} s {where} the database's (at most"
                f" {MAX_CLOCK_SKEW:.0f} s allowed): set its time (NTP) before starting a daemon"
            )

    def _take_over(self) -> None:
        """Close the runs whose lease ended (their process died, was paused or cut off), as
        interrupted, and resume their tasks from the checkpoint; another replica may have
        been faster, which close_expired tells by returning nothing for that run."""
        for run in close_expired(self.state, self.clock):
            self.events.emit(
                "run_closed",
                f"run {run.run_id} of {run.task_id} closed as interrupted",
                run=run.run_id,
            )
            self._resume(run)

    def _idle_evaluated(self, now: datetime) -> None:
        """Tasks with nothing due are evaluated up to now: recorded once, at start."""
        idle = [
            task_id
            for task_id, entry in self.schedule.items()
            if entry.spec.schedule is not None
            and _since(self.known[task_id]) < now
            and not self._is_due(task_id, now)
        ]
        if idle:
            self.state.set_evaluated_many(idle, now)
        for task_id in idle:
            self.known[task_id] = _evaluated(self.known[task_id], now)

    def _ready(self) -> None:
        first = self.due.first()
        when = iso_ms(datetime.fromtimestamp(first[0], UTC)) if first else None
        self.events.emit(
            "ready",
            f"{len(self.schedule)} tasks scheduled, "
            + (f"next fire at {when} ({first[1]})" if first else "no fire ahead"),
            tasks=len(self.schedule),
            next_fire=when,
        )

    def stop(self, reason: str = "shutdown") -> None:
        """Stop claiming; running runs finish their current batch and stop."""
        self.stopping.set()
        with self._lock:
            for runs in self.live.values():
                for live in runs.values():
                    live.cancel.cancel(reason)
        self.wake.set()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.state.daemon_stopped(self.id, self.clock.now())
        self.events.emit("daemon_stopped", f"daemon {self.id} stopped")
        self.state.close()

    def notice_change(self, monotonic: float, paths: Collection[str] | None = None) -> None:
        """Called by the watcher: these files changed (None: something only a rescan of
        everything can tell, such as a directory, a link or the configuration)."""
        with self._changes_lock:
            if paths is None or self._changed is None:
                self._changed = None
            else:
                self._changed.update(paths)
        self._last_event = monotonic
        self.dirty = True
        self.wake.set()

    def request_full_reconcile(self) -> None:
        """SIGHUP: re-read every file and the state's task rows."""
        with self._changes_lock:
            self._changed = None
        self.force_rescan = True
        self.dirty = True
        self.wake.set()

    def run_forever(self) -> None:
        while not self.stopping.is_set():
            delay = self.tick()
            self.wake.wait(timeout=max(0.0, min(delay, MAX_SLEEP)))
            self.wake.clear()
            if self.dirty:
                self._debounce()

    def _debounce(self) -> None:
        """A burst of file events (an editor's save, a git checkout) settles before the
        reconcile: `debounce` of quiet after its last event, or `settle` when the burst
        removed a file or needs a rescan of everything. A reconcile in the middle of those
        would unschedule tasks that come back a moment later (git replaces a file by
        removing and re-creating it; a checkout creates and removes directories)."""
        while not self.stopping.is_set():
            quiet = self.clock.monotonic() - self._last_event
            needed = self._quiet_needed()
            if quiet >= needed:
                return
            self.wake.wait(timeout=needed - quiet)
            self.wake.clear()

    def _quiet_needed(self) -> float:
        with self._changes_lock:
            changed = None if self._changed is None else list(self._changed)
        if changed is None or len(changed) > MAX_NAMED_PATHS:
            return self.options.settle
        if all(os.path.exists(path) for path in changed):
            return self.options.debounce
        return self.options.settle

    # one pass

    def tick(self) -> float:
        """Reconcile if needed, claim and start due fires; seconds until the next thing is due."""
        if self.dirty:
            self.reconcile()
        now = self.clock.now()
        if not self.stopping.is_set():
            self._evaluate_due(now)
        self._heartbeats(now)
        return self._seconds_to_next(now)

    def reconcile(self) -> None:
        self.dirty = False
        with self._changes_lock:
            changed, self._changed = self._changed, set()
        now = self.clock.now()
        task_ids = None
        if changed is not None and self._loaded and not self.force_rescan:
            task_ids = self.scanner.rescan(changed, self.workspace, now)
        if task_ids is None:
            result = self._plan_everything(now)
        else:
            files = self.scanner.files(task_ids, self.workspace)
            known = [self.known[task_id] for task_id in task_ids if task_id in self.known]
            allow_empty = self.workspace.config.model.allow_empty
            result = plan(files, known, allow_empty=allow_empty, any_valid=self.scanner.any_valid())
        self._apply(self._from_now_when_idle(result, now), now)
        if task_ids is None:
            self._schedule_kept()
        self._report(result)

    def _plan_everything(self, now: datetime) -> Plan:
        """A walk of the tasks directory against every known task (at start, on SIGHUP, and
        for changes a named rescan cannot handle)."""
        self._reload_workspace()
        context = _context_stamp(self.workspace)
        force = self.force_rescan or context != self._context
        files = self.scanner.scan(self.workspace, now, force=force)
        if self.force_rescan or not self._loaded:
            self.known = {task.task_id: task for task in self.state.tasks()}
            self.schedule, self.due = {}, DueQueue()
        self.force_rescan, self._context, self._loaded = False, context, True
        if self.workspace.config.model.timezone != self._zone:
            self._zone = self.workspace.config.model.timezone
            self.schedule, self.due = {}, DueQueue()  # every timetable changes
        allow_empty = self.workspace.config.model.allow_empty
        return plan(files, self.known.values(), allow_empty=allow_empty)

    def _reload_workspace(self) -> None:
        workspace = load_workspace(self.options.config, self.options.cwd)
        broken = [
            f
            for f in (workspace.config_file, workspace.datamodel_file)
            if f is not None and f.errors
        ]
        if not broken:
            self.workspace = workspace
            return
        first = broken[0]
        self.events.emit(
            "config_error",
            f"{first.path}:{first.errors[0]}; keeping the previous configuration",
            level="error",
        )

    def _from_now_when_idle(self, result: Plan, now: datetime) -> Plan:
        """A scheduled task with no fire due has been evaluated up to now, so a new spec
        applies from its next fire after now (DESIGN section 8), not from the last time it
        ran. (At start nothing is scheduled yet: what changed meanwhile is evaluated from
        where the state says, as before.)"""

        def current(task: TaskState) -> TaskState:
            if task.task_id not in self.schedule or self._is_due(task.task_id, now):
                return task
            return _evaluated(task, now)

        return dataclasses.replace(
            result,
            changed=[(file, current(before), d) for file, before, d in result.changed],
            invalid=[(file, before and current(before)) for file, before in result.invalid],
        )

    def _apply(self, result: Plan, now: datetime) -> None:
        """Write the plan, then bring the in-memory rows and the schedule up to date."""
        for row in apply(result, self.state, now):
            self.known[row.task_id] = row
        for file in [*result.added, *(file for file, _, _ in result.changed)]:
            self._schedule_file(file)
        for file, _ in result.unchanged:
            entry = self.schedule.get(file.task_id)
            if entry is None or entry.spec is not file.spec:  # loaded, or the file re-read
                # the same spec: keep one copy of it, the file's
                task = self.known[file.task_id]
                self.known[file.task_id] = dataclasses.replace(task, spec=file.canonical)
                self._schedule_file(file)
        for file, before in result.invalid:
            if before is not None and file.task_id not in self.schedule:
                self._schedule_stored(before)  # its last-known-good spec keeps running
        for task in result.removed:
            self.known.pop(task.task_id, None)
            self.schedule.pop(task.task_id, None)
            self.due.set(task.task_id, None)

    def _schedule_kept(self) -> None:
        """Tasks whose files are gone while removals are blocked keep running."""
        for task_id, task in self.known.items():
            if task_id not in self.schedule and task.spec is not None:
                self._schedule_stored(task)

    def _report(self, result: Plan) -> None:
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

    # the schedule

    def _schedule_file(self, file: FileTask) -> None:
        assert file.spec is not None and file.spec_hash is not None
        self._schedule(file.task_id, file.spec, file.spec_hash)

    def _schedule_stored(self, task: TaskState) -> None:
        try:
            spec = live_spec(task)
        except ValueError as exc:  # a last-known-good spec the code no longer accepts
            self.events.emit(
                "file_error", f"{task.task_id}: stored spec invalid: {exc}", level="error"
            )
            return
        if spec is not None:
            self._schedule(task.task_id, spec, task.spec_hash or spec.spec_hash())

    def _schedule(self, task_id: str, spec: AnyTask, spec_hash: str) -> None:
        table = timetable(spec.schedule, task_id, self._zone) if spec.schedule else None
        self.schedule[task_id] = Scheduled(spec, spec_hash, table)
        self.due.set(task_id, self._next_due(task_id))

    def _next_due(self, task_id: str) -> datetime | None:
        """When the task is next to be evaluated: its first fire after the instant it was
        evaluated up to (at or before now after a downtime: then it catches up)."""
        entry, task = self.schedule[task_id], self.known[task_id]
        schedule = entry.spec.schedule
        if schedule is None or entry.table is None or not entry.spec.enabled:
            return None
        since = _since(task)
        if schedule.at is None:
            return entry.table.next_after(since)
        if self.state.has_at_fire(task_id):
            return None
        if schedule.at == "now":
            return max(task.first_seen, since)
        at = _aware_at(schedule.at, schedule, self._zone)
        return at if at > task.first_seen and at > since else None

    def _is_due(self, task_id: str, now: datetime) -> bool:
        when = self.due.when(task_id)
        return when is not None and when <= now.timestamp()

    # fires

    def _evaluate_due(self, now: datetime) -> None:
        """Decide the fires of every due task, claim them all in one transaction, then do
        the bookkeeping and start the runs: nothing but deciding delays the claims."""
        decided: list[Decided] = []
        shared: dict[tuple[Timetable, datetime], list[datetime]] = {}
        evaluated = [
            task_id
            for task_id in sorted(self.due.pop_due(now))
            if self._decide(task_id, now, decided, shared)
        ]
        claimed = self._claim(decided) if decided else []
        for task_id in evaluated:
            self.known[task_id] = _evaluated(self.known[task_id], now)
            self.due.set(task_id, self._next_due(task_id))
        if evaluated:
            self.state.set_evaluated_many(evaluated, now)
        for task_id, spec, fires in claimed:
            self._dispatch(task_id, spec, fires)

    def _decide(
        self,
        task_id: str,
        now: datetime,
        decided: list[Decided],
        shared: dict[tuple[Timetable, datetime], list[datetime]],
    ) -> bool:
        """Decide the task's due fires (adding them to `decided`); True when it is to be
        evaluated up to `now`. Tasks with the same timetable evaluated from the same instant
        share the computation of their fires (`shared`, for this tick)."""
        entry, task = self.schedule.get(task_id), self.known.get(task_id)
        if entry is None or task is None or entry.spec.schedule is None:
            return False
        since = _since(task)
        if now < since:  # the clock went back: wait for it
            self.due.set(task_id, since)
            return False
        schedule = entry.spec.schedule
        if entry.spec.enabled:
            fires, kind = self._fires(task, entry, since, now, shared)
            due = due_fires(
                fires,
                now=now,
                missed=schedule.missed,
                max_lateness=schedule.max_lateness,
                max_catchup=schedule.max_catchup,
            )
            if due.run or due.dropped:
                decided.append(Decided(task_id, entry, kind, due))
        return True

    def _fires(
        self,
        task: TaskState,
        entry: Scheduled,
        since: datetime,
        now: datetime,
        shared: dict[tuple[Timetable, datetime], list[datetime]],
    ) -> tuple[list[datetime], FireKind]:
        schedule = entry.spec.schedule
        assert schedule is not None and entry.table is not None
        if schedule.at is None:
            key = (entry.table, since)
            if key not in shared:
                shared[key] = list(entry.table.between(since, now))
            return shared[key], "schedule"
        if self.state.has_at_fire(task.task_id):
            return [], "at"
        if schedule.at == "now":
            return [task.first_seen], "at"
        at = _aware_at(schedule.at, schedule, self._zone)
        # an `at` already past when the task was first seen never fires (runner check warns)
        return ([at] if task.first_seen < at <= now and at > since else []), "at"

    def _claim(self, decided: list[Decided]) -> list[Claimed]:
        """Claim every decided fire in one transaction: the dropped ones as missed, the
        others to run. Returns, per task, the fires that are ours to run."""
        stamp = self.clock.now()
        fires = [fire for decision in decided for fire in decision.records(self.id, stamp)]
        ours = iter(self.state.claim_fires(fires))
        committed = self.clock.now().isoformat()
        claimed: list[Claimed] = []
        for decision in decided:
            for instant, reason in decision.due.dropped:
                if next(ours):
                    self._dropped(decision, instant, reason)
            mine = [(instant, trigger) for instant, trigger in decision.due.run if next(ours)]
            for instant, trigger in mine:
                self._claimed(decision.task_id, instant, trigger, committed)
            if mine:
                claimed.append((decision.task_id, decision.entry.spec, mine))
        return claimed

    def _dropped(self, decision: Decided, instant: datetime, reason: str) -> None:
        task_id, spec = decision.task_id, decision.entry.spec
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

    def _claimed(self, task_id: str, instant: datetime, trigger: str, committed: str) -> None:
        self.events.emit(
            "fire_claimed",
            f"{task_id}: fire at {instant.isoformat()} claimed",
            task=task_id,
            scheduled_for=instant.isoformat(),
            trigger=trigger,
            committed=committed,
        )

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

    def _skip(
        self,
        task_id: str,
        spec: AnyTask,
        instant: datetime,
        why: str,
        state: StateStore | None = None,
    ) -> None:
        """Record a fire as skipped, through `state` from a run's worker thread (the daemon's
        own connection belongs to its loop, whose transactions it must not interleave with)."""
        (state or self.state).set_fire_outcome(task_id, instant, "skipped", why)
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
            return list(self.live.get(task_id, {}).values())

    def _all_running(self) -> list[LiveRun]:
        with self._lock:
            return [live for runs in self.live.values() for live in runs.values()]

    def _forget(self, live: LiveRun) -> None:
        with self._lock:
            runs = self.live.get(live.task_id, {})
            runs.pop(live.scheduled_for, None)
            if not runs:
                self.live.pop(live.task_id, None)

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
                self.live.setdefault(task_id, {})[instant] = live
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
                self._forget(live)
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
            lease=self.lease,
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
                self._skip(live.task_id, spec, instant, str(exc), state)
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
            self._forget(live)
            self.wake.set()
        run = outcome.run
        if outcome.lease_lost:
            self.events.emit(
                "run_lease_lost",
                f"{live.task_id}: run {run.run_id} was taken over by another process (its lease"
                " ended); it stopped without writing more",
                level="warning",
                task=live.task_id,
                run=run.run_id,
            )
            return outcome
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
        if self._last_heartbeat is not None and now - self._last_heartbeat < self.heartbeat:
            return
        self._last_heartbeat = now
        try:
            self.state.daemon_heartbeat(self.id, now)
            for live in self._all_running():
                if live.run_id is None:
                    continue
                expires = now + self.lease
                if not self.state.heartbeat(live.run_id, self.id, now=now, expires=expires):
                    live.cancel.cancel("lease_lost")  # taken over: it stops before writing
            if not self.stopping.is_set():
                self._take_over()
        except Exception as exc:  # the state is unreachable: runs stop when their lease ends
            self.events.emit("heartbeat_failed", f"heartbeat failed: {exc}", level="warning")

    def _seconds_to_next(self, now: datetime) -> float:
        soonest = ((self._last_heartbeat or now) + self.heartbeat).timestamp()
        first = self.due.first()
        if first is not None:
            soonest = min(soonest, first[0])
        return max(0.0, soonest - now.timestamp())

    def wait_for_runs(self) -> None:
        """Block until every started run has finished (tests and shutdown)."""
        while True:
            futures = [live.future for live in self._all_running() if live.future is not None]
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


def _since(task: TaskState) -> datetime:
    """The instant up to which the task's fires have been considered."""
    return task.evaluated_until or task.first_seen


def _evaluated(task: TaskState, now: datetime) -> TaskState:
    """The row with fires considered up to `now` (never moved back)."""
    if task.evaluated_until is not None and task.evaluated_until >= now:
        return task
    return dataclasses.replace(task, evaluated_until=now)
