"""The run engine: DESIGN section 7, step by step.

claim -> run_started -> search (as run_as) -> search_done -> guard -> batches (one store
transaction each, checkpointed) -> notify -> run_finished.

Notification is a hook (`Environment.notify`): it gets the run as it will finish and the run's
log, so its own events (mail_sent, mail_failed) land before `run_finished`, which stays last.

A run that finds runs of its task whose lease expired closes them first (failed,
interrupted), appending their `run_finished`; when the latest of them ran the same spec, the new
run resumes from its checkpoint (all four modules are idempotent). Cancellation and timeouts
are cooperative: they are checked between batches, so a batch always completes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runner.clock import Clock
from runner.errors import RunnerError
from runner.modules.base import BATCH_SIZE, BatchOutcome, Module, RunContext
from runner.modules.registry import MODULES
from runner.pg import LeaseLost
from runner.runs.ids import new_run_id
from runner.runs.log import RunLog, append_torn_guard, prune, run_log_path
from runner.spec.config import Retention
from runner.spec.task import AnyTask, zone_of
from runner.state.base import Counts, Lease, RunRecord, StateStore, Status, Trigger
from runner.store.base import RunChange, Since, Store

LEASE = timedelta(seconds=60)
# Sending mail may retry for minutes; a lease that expired meanwhile would look like a crash.
NOTIFY_LEASE = timedelta(minutes=10)
# A run writes only within this share of its lease since the last renewal; past it, it renews
# before the next batch or stops (a lease nobody renews may be taken over when it ends).
LEASE_SAFE_SHARE = 0.5
# A run of fewer than this many of its module's batches takes smaller ones (of BATCH_SIZE at
# least): it still reports progress, and can stop, along the way.
MIN_BATCHES = 4


class RunRefused(RunnerError):
    """The run could not start (its task is running already)."""


class CancelToken:
    """Set from a signal handler or another thread; the engine stops after the current batch."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "canceled"

    def cancel(self, reason: str = "canceled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def canceled(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class RunRequest:
    task_id: str
    spec: AnyTask
    trigger: Trigger = "manual"
    scheduled_for: datetime | None = None
    dry_run: bool = False
    git_commit: str | None = None


@dataclass(frozen=True)
class UndoRequest:
    """Revert what run `target` changed, as a new run of the same task (trigger `undo`).

    `spec` is the task's current file, if any: an undo mails as its task's `notify` says."""

    target: RunRecord
    dry_run: bool = False
    git_commit: str | None = None
    spec: AnyTask | None = None


def has_problems(run: RunRecord) -> bool:
    """Not a success, or some object denied or failed: what problems_only reports."""
    return run.status != "success" or run.counts.denied > 0 or run.counts.failed > 0


@dataclass(frozen=True)
class NotifyContext:
    """What a notifier gets just before `run_finished`: the run as it will finish (status,
    reason, counts, finished and error filled in), the task's spec, and the log to write to."""

    run: RunRecord
    spec: AnyTask | None
    extra: dict[str, Any]
    log: RunLog
    git_commit: str | None

    @property
    def problems(self) -> bool:
        return has_problems(self.run)


Notify = Callable[[NotifyContext], None]


@dataclass(frozen=True)
class Environment:
    """What runs run against; built by the CLI or the daemon."""

    store: Store
    state: StateStore
    clock: Clock
    logs_dir: Path
    mappings_dir: Path
    timezone: str = "UTC"
    retention: Retention = field(default_factory=Retention)
    batch_size: int | None = None  # objects per batch; None: the module's own
    lease: timedelta = LEASE
    owner: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{id(object())}"
    )
    notify: Notify | None = None


@dataclass(frozen=True)
class RunOutcome:
    run: RunRecord
    log_path: Path
    extra: dict[str, Any]
    closed: tuple[RunRecord, ...] = ()
    # the run stopped because its lease was taken over: another process closed it
    lease_lost: bool = False

    @property
    def problems(self) -> bool:
        return has_problems(self.run)


Progress = Callable[[int, int], None]


class _Stop(Exception):
    def __init__(self, status: Status, reason: str, error: str | None = None) -> None:
        super().__init__(error or reason)
        self.status = status
        self.reason = reason
        self.error = error


class _LeaseLost(Exception):
    """Another process closed this run (our lease had expired): write nothing more."""


def close_expired(state: StateStore, clock: Clock, task_id: str | None = None) -> list[RunRecord]:
    """Close runs whose process died: failed, interrupted.

    A lease that expired means its owner stopped renewing it; a lease held by a process of
    this host that no longer exists is dead at once, without waiting for the expiry."""
    closed = []
    now = clock.now()
    # expiry is the state's to judge: on PostgreSQL by the database's clock, not ours
    expired = {run.run_id for run in state.expired(now=now)}
    for run in state.running(task_id):
        dead = _owner_gone(run.lease)
        if not dead and run.run_id not in expired:
            continue
        done = state.close_expired(run.run_id, now=now, dead=dead)
        if done is not None:
            _append_finished(clock, done)
            closed.append(done)
    return closed


def _owner_gone(lease: Lease | None) -> bool:
    if lease is None or lease.host != socket.gethostname():
        return False
    try:
        os.kill(lease.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, under another user
        return False
    return False


def _append_finished(clock: Clock, run: RunRecord) -> None:
    path = Path(run.log_path)
    append_torn_guard(path)
    log = RunLog(path, run.run_id, run.task_id, clock.now)
    log.error(
        "run_finished",
        "run interrupted: the process running it stopped",
        status="failed",
        reason="interrupted",
        counts=run.counts.as_dict(),
        duration_s=_seconds((run.finished or clock.now()) - run.started),
        error=run.error,
    )
    log.close()


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 3)


def execute(
    request: RunRequest,
    env: Environment,
    *,
    cancel: CancelToken | None = None,
    progress: Progress | None = None,
    started: Callable[[RunRecord], None] | None = None,
) -> RunOutcome:
    """Run a task once; raises RunRefused when it cannot start, never for a failed run.

    `started` is told the run's record as soon as it is claimed (the daemon heartbeats it)."""
    closed = tuple(close_expired(env.state, env.clock, request.task_id))
    job = TaskJob(request, env)
    record = _claim(job, env, resume=True)
    if started is not None:
        started(record)
    outcome = _Run(job, env, record, cancel or CancelToken(), progress).go()
    return replace(outcome, closed=closed)


def execute_undo(
    request: UndoRequest,
    env: Environment,
    *,
    cancel: CancelToken | None = None,
    progress: Progress | None = None,
) -> RunOutcome:
    """Undo a run: its objects go back to their version before it, if unchanged since."""
    closed = tuple(close_expired(env.state, env.clock, request.target.task_id))
    job = UndoJob(request, env.store.changes_by_run(request.target.run_id))
    record = _claim(job, env, resume=False)
    outcome = _Run(job, env, record, cancel or CancelToken(), progress).go()
    return replace(outcome, closed=closed)


class TaskJob:
    """A run of a task file's spec: its module over what its search selects."""

    def __init__(self, request: RunRequest, env: Environment) -> None:
        self.request = request
        spec = request.spec
        self.spec: AnyTask | None = spec
        self.task_id = request.task_id
        self.run_as = spec.run_as
        self.spec_hash = spec.spec_hash()
        self.trigger: Trigger = request.trigger
        self.dry_run = request.dry_run or spec.dry_run
        self.timeout = spec.timeout
        self.timezone = str(zone_of(spec, env.timezone))
        self.exclusive = (spec.schedule.concurrency if spec.schedule else "forbid") != "allow"
        self.purges = spec.module == "delete_objects" and spec.params.mode == "purge"
        self.label = spec.module
        self.undo_of: str | None = None
        self.notify_spec: AnyTask | None = spec

    def module(self) -> Module:
        return MODULES[self.request.spec.module]()

    def select(self, run: _Run) -> tuple[int, Iterator[list[int]]]:
        return run.search_and_guard(self.request.spec)


class UndoJob:
    """An undo: reverts each object a run changed, in id order, in batches."""

    def __init__(self, request: UndoRequest, changes: list[RunChange]) -> None:
        target = request.target
        self.changes = {change.object_id: change for change in changes}
        self.spec: AnyTask | None = None
        self.task_id = target.task_id
        self.run_as = target.run_as
        self.spec_hash = target.spec_hash
        self.trigger: Trigger = "undo"
        self.dry_run = request.dry_run
        self.timeout: timedelta | None = None
        self.timezone = "UTC"
        self.exclusive = True
        self.purges = False
        self.label = f"undo of run {target.run_id}"
        self.undo_of: str | None = target.run_id
        self.notify_spec = request.spec
        self.request = request

    def module(self) -> Module:
        return Undo(self.changes)

    def select(self, run: _Run) -> tuple[int, Iterator[list[int]]]:
        ids = sorted(self.changes)
        run.log.info(
            "search_done", f"run {self.undo_of} changed {len(ids)} objects", count=len(ids)
        )
        size = run.batch_size(len(ids))
        return len(ids), (ids[i : i + size] for i in range(0, len(ids), size))


class Undo:
    """The module of an undo run."""

    batch_size = BATCH_SIZE  # a revert reads and re-indexes each object

    def __init__(self, changes: dict[int, RunChange]) -> None:
        self.changes = changes

    def start(self, ctx: RunContext) -> None:
        return None

    def apply(self, ctx: RunContext, ids: list[int]) -> BatchOutcome:
        result = ctx.store.revert(
            [self.changes[i] for i in ids],
            user=ctx.user,
            now=ctx.now(),
            run_id=ctx.run_id,
            comment=f"undo of run {ctx.log.run_id}",
            dry_run=ctx.dry_run,
        )
        return BatchOutcome.of(result)

    def finish(self, ctx: RunContext) -> dict[str, Any]:
        return {}


Job = TaskJob | UndoJob


def _claim(job: Job, env: Environment, *, resume: bool) -> RunRecord:
    started = env.clock.now()
    run_id = new_run_id(started)
    resumable = env.state.resumable(job.task_id) if resume else None
    resuming = resumable is not None and resumable.spec_hash == job.spec_hash
    scheduled_for = job.request.scheduled_for if isinstance(job, TaskJob) else None
    record = RunRecord(
        run_id=run_id,
        task_id=job.task_id,
        trigger="resume" if resuming else job.trigger,
        started=started,
        spec_hash=job.spec_hash,
        run_as=job.run_as,
        dry_run=job.dry_run,
        log_path=str(run_log_path(env.logs_dir, job.task_id, run_id)),
        scheduled_for=scheduled_for,
        checkpoint=resumable.checkpoint if resuming and resumable else 0,
        resumed_from=resumable.run_id if resuming and resumable else None,
        undo_of=job.undo_of,
        lease=Lease(env.owner, socket.gethostname(), os.getpid(), started + env.lease),
    )
    claim = env.state.claim_run(record, now=started, exclusive=job.exclusive)
    if claim.run is None:
        blocked = claim.blocked_by
        assert blocked is not None
        raise RunRefused(
            f"task '{job.task_id}' is already running (run {blocked.run_id}); "
            "wait for it or see 'runner logs'"
        )
    return claim.run


class _Run:
    """One run in progress: its log, counts and checkpoint."""

    def __init__(
        self,
        job: Job,
        env: Environment,
        record: RunRecord,
        cancel: CancelToken,
        progress: Progress | None,
    ) -> None:
        self.job = job
        self.env = env
        self.record = record
        self.cancel = cancel
        self.progress = progress
        self.counts = Counts()
        self.log = RunLog(Path(record.log_path), record.run_id, record.task_id, env.clock.now)
        self.module = job.module()
        self.extra: dict[str, Any] = {}
        self.safe_until = env.clock.monotonic() + env.lease.total_seconds() * LEASE_SAFE_SHARE
        # Every line goes out only while the lease is safely held: a process paused past its
        # lease (SIGSTOP, a frozen VM) between a batch's commit and its log lines finds out at
        # its next line, after the process that took the run over wrote run_finished.
        self.log.guard = self._hold_lease
        self.ctx = RunContext(
            task_id=job.task_id,
            spec=job.spec,
            user=job.run_as,
            store=env.store,
            run_id=record.run_id,
            started=record.started,
            now=env.clock.now,
            dry_run=record.dry_run,
            log=self.log,
            run_dir=Path(record.log_path).parent,
            mappings_dir=env.mappings_dir,
            timezone=job.timezone,
        )

    def go(self) -> RunOutcome:
        try:
            self._started()
        except _LeaseLost:
            return self._taken_over()
        status: Status = "success"
        reason: str | None = None
        error: str | None = None
        try:
            self._check_rights()
            self.module.start(self.ctx)
            self._batches(*self.job.select(self))
            self.extra = self.module.finish(self.ctx)
        except (_LeaseLost, LeaseLost):
            self._finish_module_quietly()
            return self._taken_over()
        except _Stop as stop:
            status, reason, error = stop.status, stop.reason, stop.error
            self._finish_module_quietly()
        except RunnerError as exc:
            status, reason, error = "failed", "error", str(exc)
            self._finish_module_quietly()
        except Exception as exc:
            error = f"internal error: {type(exc).__name__}: {exc}"
            self._finish_module_quietly()
            outcome = self._finished("failed", "error", error)
            if outcome.lease_lost:  # taken over meanwhile: the failure is not ours to report
                return outcome
            raise
        return self._finished(status, reason, error)

    def _started(self) -> None:
        job, record = self.job, self.record
        resumed = f", resuming run {record.resumed_from} after object {record.checkpoint}"
        self.log.info(
            "run_started",
            f"{job.label} run of {record.task_id} as {job.run_as}"
            + (" (dry run)" if record.dry_run else "")
            + (resumed if record.resumed_from else ""),
            scheduled_for=record.scheduled_for.isoformat() if record.scheduled_for else None,
            trigger=record.trigger,
            run_as=job.run_as,
            dry_run=record.dry_run,
            spec_hash=record.spec_hash,
            git_commit=job.request.git_commit,
            resumed_from=record.resumed_from,
            undo_of=record.undo_of,
        )

    def _check_rights(self) -> None:
        user = self.job.run_as
        model = self.env.store.model
        if user not in model.user_names:
            raise _Stop("failed", "rights", f"run_as user '{user}' does not exist in the store")
        rights = model.system_rights(user)
        if not rights & {"system.task", "system.root"}:
            message = f"user '{user}' holds neither system.task nor system.root"
            raise _Stop("failed", "rights", message)
        if self.job.purges and not rights & {"system.purge", "system.root"}:
            raise _Stop("failed", "rights", f"purge needs system.purge, which '{user}' lacks")

    def batch_size(self, total: int) -> int:
        """Objects per batch of a run of `total`: the environment's, the task's
        (`limits.batch_size`), else the module's, up to a MIN_BATCHES-th of the run."""
        spec = self.job.spec
        wanted = spec.limits.batch_size if spec is not None else None
        own = min(self.module.batch_size, max(BATCH_SIZE, total // MIN_BATCHES))
        return self.env.batch_size or wanted or own

    def _since(self, spec: AnyTask) -> Since | None:
        if not spec.search.incremental:
            return None
        last = self.env.state.last_success(self.job.task_id)
        if last is None:
            return None
        return Since(last.started, frozenset(self.env.state.run_ids(self.job.task_id)))

    def search_and_guard(self, spec: AnyTask) -> tuple[int, Iterator[list[int]]]:
        """The task's search as its user, the max_objects guard, and the batches of ids."""
        since = self._since(spec)
        common: dict[str, Any] = {
            "user": spec.run_as,
            "now": self.record.started,
            "timezone": self.job.timezone,
            "since": since,
        }
        count = self.env.store.count(spec.search, **common)
        note = f" (changed since {since.instant.isoformat()})" if since else ""
        self.log.info("search_done", f"search matched {count} objects{note}", count=count)
        limit = spec.limits.max_objects
        if limit is not None and count > limit:
            self.log.error(
                "guard_refused",
                f"search matched {count} objects, more than limits.max_objects ({limit}); "
                "nothing changed",
                count=count,
                max_objects=limit,
            )
            raise _Stop("failed", "max_objects", f"{count} objects matched, limit is {limit}")
        size, after_id = self.batch_size(count), self.record.checkpoint
        batches = self.env.store.iter_ids(spec.search, batch_size=size, after_id=after_id, **common)
        return count, batches

    def _batches(self, total: int, batches: Iterator[list[int]]) -> None:
        done = 0
        for ids in batches:
            self._between_batches()
            outcome = self.module.apply(self.ctx, ids)
            done += len(ids)
            self._account(ids, outcome)
            self._checkpoint(ids[-1])
            expected = max(total, done)
            percent = round(100 * done / expected, 1) if expected else 100.0
            self.log.info(
                "batch_done",
                f"{done} of {expected} objects done",
                done=done,
                total=expected,
                status_percent=percent,
            )
            if self.progress:
                self.progress(done, expected)

    def _between_batches(self) -> None:
        self._hold_lease()
        if self.cancel.canceled:
            raise _Stop(
                "canceled", self.cancel.reason, f"stopped on request ({self.cancel.reason})"
            )
        timeout = self.job.timeout
        if timeout is not None and self.env.clock.now() - self.record.started > timeout:
            raise _Stop("canceled", "timeout", f"the run took longer than its timeout ({timeout})")

    def _account(self, ids: list[int], outcome: BatchOutcome) -> None:
        for object_id in outcome.denied:
            self.log.warning(
                "object_denied",
                f"object {object_id}: no right to change it",
                object=object_id,
                reason="rights",
            )
        for skip in outcome.skipped:
            self.log.info(
                "object_skipped",
                f"object {skip.id} skipped: {skip.reason}",
                object=skip.id,
                reason=skip.reason,
            )
        for failure in outcome.failed:
            self.log.error(
                "object_failed",
                f"object {failure.id} failed: {failure.error}",
                object=failure.id,
                reason=failure.reason,
            )
        self.counts = self.counts + Counts(
            matched=len(ids),
            changed=len(outcome.changed),
            unchanged=len(outcome.unchanged),
            skipped=len(outcome.skipped),
            denied=len(outcome.denied),
            failed=len(outcome.failed),
        )

    def _checkpoint(self, last_id: int) -> None:
        state, record = self.env.state, self.record
        kept = state.checkpoint(record.run_id, self.env.owner, last_id=last_id, counts=self.counts)
        if not (kept and self._renew()):
            raise _LeaseLost()

    def _renew(self) -> bool:
        """Renew the lease; remember until when (by our own clock) writing stays safe."""
        now, renewed_at = self.env.clock.now(), self.env.clock.monotonic()
        renewed = self.env.state.heartbeat(
            self.record.run_id, self.env.owner, now=now, expires=now + self.env.lease
        )
        if renewed:
            self.safe_until = renewed_at + self.env.lease.total_seconds() * LEASE_SAFE_SHARE
        return renewed

    def _hold_lease(self) -> None:
        """Before a batch: a run whose lease may be about to end renews it first, and one that
        cannot (taken over, or the state is unreachable) stops before writing anything more:
        after the lease ends another process may take the run over."""
        if self.env.clock.monotonic() < self.safe_until:
            return
        try:
            renewed = self._renew()
        except Exception:
            renewed = False
        if not renewed:
            raise _LeaseLost()

    def _finish_module_quietly(self) -> None:
        # the run is failing already: its own error is the one to report
        with contextlib.suppress(Exception):
            self.module.finish(self.ctx)

    def _finished(self, status: Status, reason: str | None, error: str | None) -> RunOutcome:
        now = self.env.clock.now()
        try:
            if not self._notify(now, status, reason, error):
                return self._taken_over()
        except _LeaseLost:
            return self._taken_over()
        closed = self.env.state.finish(
            self.record.run_id,
            status=status,
            reason=reason,
            counts=self.counts,
            finished=now,
            error=error,
            owner=self.env.owner,
        )
        if not closed:
            return self._taken_over()
        self.log.guard = None  # closed by us: the lease is gone, run_finished is ours to write
        duration = _seconds(now - self.record.started)
        message = f"run {status}" + (f" ({reason})" if reason else "") + f" in {duration} s"
        level = "info" if status == "success" else "error"
        self.log.write(
            level,
            "run_finished",
            message,
            status=status,
            reason=reason,
            counts=self.counts.as_dict(),
            duration_s=duration,
            error=error,
        )
        self.log.close()
        self._retention(now)
        final = self.env.state.get(self.record.run_id) or self.record
        return RunOutcome(final, Path(self.record.log_path), self.extra)

    def _taken_over(self) -> RunOutcome:
        """Another process closed this run (our lease had expired) and wrote its run_finished:
        write nothing more, to the store, the state or the log."""
        self.log.close()
        final = self.env.state.get(self.record.run_id) or self.record
        return RunOutcome(final, Path(self.record.log_path), self.extra, lease_lost=True)

    def _notify(self, now: datetime, status: Status, reason: str | None, error: str | None) -> bool:
        """Send the run's notification; False (nothing sent) when the run was taken over."""
        notify = self.env.notify
        if notify is None:
            return True
        state, run_id = self.env.state, self.record.run_id
        if not state.heartbeat(run_id, self.env.owner, now=now, expires=now + NOTIFY_LEASE):
            return False
        final = replace(
            self.record, status=status, reason=reason, counts=self.counts, finished=now, error=error
        )
        spec, commit = self.job.notify_spec, self.job.request.git_commit
        try:
            notify(NotifyContext(final, spec, self.extra, self.log, commit))
        except Exception as exc:  # a notifier must not raise; if one does, the run still ends
            self.log.error("notify_failed", f"notification failed: {type(exc).__name__}: {exc}")
        return True

    def _retention(self, now: datetime) -> None:
        task_dir = Path(self.record.log_path).parent
        running = {r.run_id for r in self.env.state.running(self.record.task_id)}
        retention = self.env.retention
        pruned = prune(
            task_dir,
            keep_runs=retention.keep_runs,
            keep_days=retention.keep_days,
            now=now,
            protect=running,
        )
        if pruned.run_ids:
            self.env.state.forget(pruned.run_ids)
