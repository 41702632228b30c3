"""The run engine: DESIGN section 7, step by step.

claim -> run_started -> search (as run_as) -> search_done -> guard -> batches (one store
transaction each, checkpointed) -> notify -> run_finished.

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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runner.clock import Clock
from runner.errors import RunnerError
from runner.modules.base import BatchOutcome, RunContext
from runner.modules.registry import MODULES
from runner.runs.ids import new_run_id
from runner.runs.log import RunLog, append_torn_guard, prune, run_log_path
from runner.spec.config import Retention
from runner.spec.task import AnyTask, zone_of
from runner.state.base import Counts, Lease, RunRecord, StateStore, Status, Trigger
from runner.store.base import Since, Store

BATCH_SIZE = 1000
LEASE = timedelta(seconds=60)


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
class Environment:
    """What runs run against; built by the CLI or the daemon."""

    store: Store
    state: StateStore
    clock: Clock
    logs_dir: Path
    mappings_dir: Path
    timezone: str = "UTC"
    retention: Retention = field(default_factory=Retention)
    batch_size: int = BATCH_SIZE
    lease: timedelta = LEASE
    owner: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{id(object())}"
    )


@dataclass(frozen=True)
class RunOutcome:
    run: RunRecord
    log_path: Path
    extra: dict[str, Any]
    closed: tuple[RunRecord, ...] = ()

    @property
    def problems(self) -> bool:
        """Not a success, or some object denied or failed: what problems_only reports."""
        counts = self.run.counts
        return self.run.status != "success" or counts.denied > 0 or counts.failed > 0


Progress = Callable[[int, int], None]


class _Stop(Exception):
    def __init__(self, status: Status, reason: str, error: str | None = None) -> None:
        super().__init__(error or reason)
        self.status = status
        self.reason = reason
        self.error = error


class _LeaseLost(Exception):
    """Another process closed this run (our lease had expired): write nothing more."""


def close_expired(env: Environment, task_id: str | None = None) -> list[RunRecord]:
    """Close runs whose lease expired (their process died): failed, interrupted."""
    closed = []
    for run in env.state.expired(now=env.clock.now()):
        if task_id is not None and run.task_id != task_id:
            continue
        done = env.state.close_expired(run.run_id, now=env.clock.now())
        if done is not None:
            _append_finished(env, done)
            closed.append(done)
    return closed


def _append_finished(env: Environment, run: RunRecord) -> None:
    path = Path(run.log_path)
    append_torn_guard(path)
    log = RunLog(path, run.run_id, run.task_id, env.clock.now)
    log.error(
        "run_finished",
        "run interrupted: the process running it stopped",
        status="failed",
        reason="interrupted",
        counts=run.counts.as_dict(),
        duration_s=_seconds((run.finished or env.clock.now()) - run.started),
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
) -> RunOutcome:
    """Run a task once; raises RunRefused when it cannot start, never for a failed run."""
    closed = tuple(close_expired(env, request.task_id))
    record = _claim(request, env)
    run = _Run(request, env, record, cancel or CancelToken(), progress)
    outcome = run.go()
    return replace(outcome, closed=closed)


def _claim(request: RunRequest, env: Environment) -> RunRecord:
    spec = request.spec
    started = env.clock.now()
    run_id = new_run_id(started)
    spec_hash = spec.spec_hash()
    resumable = env.state.resumable(request.task_id)
    resume = resumable is not None and resumable.spec_hash == spec_hash
    record = RunRecord(
        run_id=run_id,
        task_id=request.task_id,
        trigger="resume" if resume else request.trigger,
        started=started,
        spec_hash=spec_hash,
        run_as=spec.run_as,
        dry_run=request.dry_run or spec.dry_run,
        log_path=str(run_log_path(env.logs_dir, request.task_id, run_id)),
        scheduled_for=request.scheduled_for,
        checkpoint=resumable.checkpoint if resume and resumable else 0,
        resumed_from=resumable.run_id if resume and resumable else None,
        lease=Lease(env.owner, socket.gethostname(), os.getpid(), started + env.lease),
    )
    concurrency = spec.schedule.concurrency if spec.schedule else "forbid"
    claim = env.state.claim_run(record, now=started, exclusive=concurrency != "allow")
    if claim.run is None:
        blocked = claim.blocked_by
        assert blocked is not None
        raise RunRefused(
            f"task '{request.task_id}' is already running (run {blocked.run_id}); "
            "wait for it or see 'runner logs'"
        )
    return claim.run


class _Run:
    """One run in progress: its log, counts and checkpoint."""

    def __init__(
        self,
        request: RunRequest,
        env: Environment,
        record: RunRecord,
        cancel: CancelToken,
        progress: Progress | None,
    ) -> None:
        self.request = request
        self.env = env
        self.record = record
        self.cancel = cancel
        self.progress = progress
        self.counts = Counts()
        self.log = RunLog(Path(record.log_path), record.run_id, record.task_id, env.clock.now)
        self.module = MODULES[request.spec.module]()
        self.extra: dict[str, Any] = {}
        self.timezone = str(zone_of(request.spec, env.timezone))
        self.ctx = RunContext(
            task_id=request.task_id,
            spec=request.spec,
            store=env.store,
            run_id=record.run_id,
            started=record.started,
            now=env.clock.now,
            dry_run=record.dry_run,
            log=self.log,
            run_dir=Path(record.log_path).parent,
            mappings_dir=env.mappings_dir,
            timezone=self.timezone,
        )

    def go(self) -> RunOutcome:
        self._started()
        status: Status = "success"
        reason: str | None = None
        error: str | None = None
        try:
            self._check_rights()
            self.module.start(self.ctx)
            self._batches(self._search())
            self.extra = self.module.finish(self.ctx)
        except _LeaseLost:
            self._finish_module_quietly()
            self.log.close()
            final = self.env.state.get(self.record.run_id) or self.record
            return RunOutcome(final, Path(self.record.log_path), self.extra)
        except _Stop as stop:
            status, reason, error = stop.status, stop.reason, stop.error
            self._finish_module_quietly()
        except RunnerError as exc:
            status, reason, error = "failed", "error", str(exc)
            self._finish_module_quietly()
        except Exception as exc:
            status, reason, error = (
                "failed",
                "error",
                f"internal error: {type(exc).__name__}: {exc}",
            )
            self._finish_module_quietly()
            self._finished(status, reason, error)
            raise
        return self._finished(status, reason, error)

    def _started(self) -> None:
        spec, record = self.request.spec, self.record
        resumed = f", resuming run {record.resumed_from} after object {record.checkpoint}"
        self.log.info(
            "run_started",
            f"{spec.module} run of {record.task_id} as {spec.run_as}"
            + (" (dry run)" if record.dry_run else "")
            + (resumed if record.resumed_from else ""),
            scheduled_for=record.scheduled_for.isoformat() if record.scheduled_for else None,
            trigger=record.trigger,
            run_as=spec.run_as,
            dry_run=record.dry_run,
            spec_hash=record.spec_hash,
            git_commit=self.request.git_commit,
            resumed_from=record.resumed_from,
            checkpoint=record.checkpoint,
        )

    def _check_rights(self) -> None:
        spec = self.request.spec
        model = self.env.store.model
        if spec.run_as not in model.user_names:
            raise _Stop(
                "failed", "rights", f"run_as user '{spec.run_as}' does not exist in the store"
            )
        rights = model.system_rights(spec.run_as)
        if not rights & {"system.task", "system.root"}:
            raise _Stop(
                "failed",
                "rights",
                f"user '{spec.run_as}' holds neither system.task nor system.root",
            )
        purge = spec.module == "delete_objects" and spec.params.mode == "purge"
        if purge and not rights & {"system.purge", "system.root"}:
            raise _Stop(
                "failed", "rights", f"purge needs system.purge, which '{spec.run_as}' lacks"
            )

    def _since(self) -> Since | None:
        if not self.request.spec.search.incremental:
            return None
        last = self.env.state.last_success(self.request.task_id)
        if last is None:
            return None
        return Since(last.started, frozenset(self.env.state.run_ids(self.request.task_id)))

    def _search(self) -> tuple[int, Since | None]:
        spec = self.request.spec
        since = self._since()
        count = self.env.store.count(
            spec.search,
            user=spec.run_as,
            now=self.record.started,
            timezone=self.timezone,
            since=since,
        )
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
        return count, since

    def _batches(self, found: tuple[int, Since | None]) -> None:
        total, since = found
        spec = self.request.spec
        done = 0
        batches = self.env.store.iter_ids(
            spec.search,
            user=spec.run_as,
            now=self.record.started,
            timezone=self.timezone,
            batch_size=self.env.batch_size,
            after_id=self.record.checkpoint,
            since=since,
        )
        remaining = total
        for ids in batches:
            self._between_batches()
            outcome = self.module.apply(self.ctx, ids)
            done += len(ids)
            self._account(ids, outcome)
            self._checkpoint(ids[-1])
            remaining = max(total, done)
            percent = round(100 * done / remaining, 1) if remaining else 100.0
            self.log.info(
                "batch_done",
                f"{done} of {remaining} objects done",
                done=done,
                total=remaining,
                status_percent=percent,
            )
            if self.progress:
                self.progress(done, remaining)

    def _between_batches(self) -> None:
        if self.cancel.canceled:
            raise _Stop(
                "canceled", self.cancel.reason, f"stopped on request ({self.cancel.reason})"
            )
        timeout = self.request.spec.timeout
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
        now = self.env.clock.now()
        kept = state.checkpoint(record.run_id, self.env.owner, last_id=last_id, counts=self.counts)
        renewed = kept and state.heartbeat(
            record.run_id, self.env.owner, now=now, expires=now + self.env.lease
        )
        if not renewed:
            raise _LeaseLost()

    def _finish_module_quietly(self) -> None:
        # the run is failing already: its own error is the one to report
        with contextlib.suppress(Exception):
            self.module.finish(self.ctx)

    def _finished(self, status: Status, reason: str | None, error: str | None) -> RunOutcome:
        now = self.env.clock.now()
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
        self.env.state.finish(
            self.record.run_id,
            status=status,
            reason=reason,
            counts=self.counts,
            finished=now,
            error=error,
        )
        self._retention(now)
        final = self.env.state.get(self.record.run_id) or self.record
        return RunOutcome(final, Path(self.record.log_path), self.extra)

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
