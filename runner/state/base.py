"""The runner's own bookkeeping: runs, their leases, heartbeats and checkpoints.

A run is claimed by inserting its row while no other run of the task holds a live lease
(`concurrency: forbid`); the claimant renews the lease with heartbeats. A run whose lease
expired belongs to a process that died: whoever finds it closes it as failed (interrupted), and
the next run of the task resumes from its checkpoint. Times are passed in (`now`), never read.

Whose clock: a backend shared by several hosts (PostgreSQL) stamps leases and heartbeats with
the database's `now()`, so that replicas whose clocks drift still agree on when a lease
expires: there `claim_run`, `heartbeat`, `close_expired`, `expired`, `register_daemon`,
`daemon_heartbeat` and `daemon_stopped` use the passed `now` only for the length of a lease
(`expires - now`, applied to the database's clock), and `server_time()` is that clock (callers
compare heartbeats against it). A backend with one host (SQLite) has no clock of its own: it
keeps the times passed in, and `server_time()` is None.

Each claim also hands out an epoch, a fencing token that grows per task (1 + the highest epoch
of any run of the task), so a writer can tell a newer claim of the task from its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

Status = Literal["running", "success", "failed", "canceled"]
Trigger = Literal["schedule", "manual", "catchup", "resume", "undo"]
FINISHED: tuple[Status, ...] = ("success", "failed", "canceled")


@dataclass(frozen=True)
class Lease:
    """Who runs a run: the owner is unique per process (host, pid and a random part).

    `epoch` is set by the state when the run is claimed (see `StateStore.claim_run`)."""

    owner: str
    host: str
    pid: int
    expires: datetime
    epoch: int = 0


@dataclass(frozen=True)
class Counts:
    matched: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    denied: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "matched": self.matched,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "denied": self.denied,
            "failed": self.failed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Counts:
        return cls(**{k: int(v) for k, v in (data or {}).items() if k in cls.__dataclass_fields__})

    def __add__(self, other: Counts) -> Counts:
        mine, theirs = self.as_dict(), other.as_dict()
        return Counts(**{key: mine[key] + theirs[key] for key in mine})


@dataclass(frozen=True)
class RunRecord:
    """One run as the state keeps it."""

    run_id: str
    task_id: str
    trigger: Trigger
    started: datetime
    spec_hash: str
    run_as: str
    dry_run: bool
    log_path: str
    scheduled_for: datetime | None = None
    status: Status = "running"
    reason: str | None = None
    finished: datetime | None = None
    counts: Counts = field(default_factory=Counts)
    checkpoint: int = 0
    resumed_from: str | None = None
    undo_of: str | None = None
    lease: Lease | None = None
    heartbeat: datetime | None = None
    error: str | None = None

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True)
class Claim:
    """The outcome of `claim_run`: the new run, or the live run that blocks it."""

    run: RunRecord | None
    blocked_by: RunRecord | None = None
    expired: tuple[RunRecord, ...] = ()


@dataclass(frozen=True)
class TaskState:
    """What the daemon keeps per task: the last-known-good spec and the file's current error.

    `spec` is the canonical JSON of the last valid version of the file (None when the file has
    never been valid); `error` is the first problem of the current file, or None when it is
    valid; `evaluated_until` is the instant up to which fires have been considered."""

    task_id: str
    spec: dict[str, Any] | None
    spec_hash: str | None
    path: str
    error: str | None
    enabled: bool
    first_seen: datetime
    updated: datetime
    evaluated_until: datetime | None = None
    removed: bool = False


FireOutcome = Literal["run", "missed", "skipped"]


@dataclass(frozen=True)
class FireRecord:
    """One fire `(task id, scheduled_for)` and what became of it."""

    task_id: str
    scheduled_for: datetime
    claimed_at: datetime
    claimed_by: str
    outcome: FireOutcome
    spec_hash: str | None = None
    run_id: str | None = None
    detail: str | None = None
    kind: Literal["schedule", "at"] = "schedule"


# A daemon renews its record's heartbeat this often; one that has not for three intervals
# (and did not record a stop) is taken for dead by `runner status`.
DAEMON_HEARTBEAT = timedelta(seconds=10)
DAEMON_LIVE_WINDOW = 3 * DAEMON_HEARTBEAT


def live_since(now: datetime) -> datetime:
    """The oldest heartbeat of a daemon still counted as live at `now`."""
    return now - DAEMON_LIVE_WINDOW


@dataclass(frozen=True)
class DaemonRecord:
    id: str
    host: str
    pid: int
    started: datetime
    heartbeat: datetime
    git_commit: str | None = None
    stopped: datetime | None = None


@dataclass(frozen=True)
class Migration:
    """What `runner state migrate` did: where, the schema version found and the one now."""

    backend: Literal["sqlite", "postgres"]
    location: str  # a file, or a URL with its password masked
    found: int
    version: int

    @property
    def changed(self) -> bool:
        return self.found != self.version


class StateStore(Protocol):
    def claim_run(self, run: RunRecord, *, now: datetime, exclusive: bool = True) -> Claim:
        """Insert `run` (status running, with its lease). With `exclusive`, refuse while
        another run of the task holds a live lease; runs of the task whose lease expired are
        returned in `expired` for the caller to close (they are not touched here). Race-free
        across processes and hosts sharing the state.

        The claimed run (`Claim.run`) is the stored one: its lease carries the epoch, 1 + the
        highest epoch of any run of the task. On PostgreSQL its heartbeat is the database's
        `now()` and its lease expires `run.lease.expires - now` after it; "live" and "expired"
        are judged by the database's clock too."""
        ...

    def heartbeat(self, run_id: str, owner: str, *, now: datetime, expires: datetime) -> bool:
        """Renew the lease; False when the run is no longer this owner's (taken over). On
        PostgreSQL the lease then expires `expires - now` after the database's `now()`."""
        ...

    def checkpoint(self, run_id: str, owner: str, *, last_id: int, counts: Counts) -> bool:
        """Record progress; False when the run is no longer this owner's."""
        ...

    def finish(
        self,
        run_id: str,
        *,
        status: Status,
        reason: str | None,
        counts: Counts,
        finished: datetime,
        error: str | None = None,
        owner: str | None = None,
    ) -> bool:
        """Close a running run with its outcome; with `owner`, only while that owner holds it.
        False when the run was closed already (taken over as interrupted) or is not the
        owner's: the caller must then write nothing more about it."""
        ...

    def close_expired(self, run_id: str, *, now: datetime, dead: bool = False) -> RunRecord | None:
        """Mark a run whose lease expired as failed (interrupted); None if it was not expired
        any more (its owner renewed it) or already finished. With `dead`, the caller knows
        the owner process is gone (same host, no such pid), so expiry is not waited for.
        On PostgreSQL, expiry and the finish time are the database's `now()`."""
        ...

    def get(self, run_id: str) -> RunRecord | None: ...

    def runs(self, task_id: str | None = None, *, limit: int | None = None) -> list[RunRecord]:
        """Newest first."""
        ...

    def running(self, task_id: str | None = None) -> list[RunRecord]: ...

    def expired(self, *, now: datetime) -> list[RunRecord]:
        """Runs still marked running whose lease has expired (on PostgreSQL: by the
        database's `now()`, whatever `now` says)."""
        ...

    def last_success(self, task_id: str) -> RunRecord | None: ...

    def run_ids(self, task_id: str) -> list[str]: ...

    def resumable(self, task_id: str) -> RunRecord | None:
        """The latest interrupted run of the task that no later run resumed or followed;
        never an undo run, nor a dry run (it wrote nothing, so a real run must not skip the
        objects before its checkpoint)."""
        ...

    def forget(self, run_ids: Sequence[str]) -> None:
        """Drop runs from the state (retention)."""
        ...

    # tasks (last-known-good specs), for the daemon, `runner status` and `runner plan`

    def tasks(self, *, include_removed: bool = False) -> list[TaskState]: ...

    def put_task(self, task: TaskState) -> None:
        """Insert or replace the task's row."""
        ...

    def put_tasks(self, tasks: Sequence[TaskState]) -> None:
        """`put_task` for many, in one transaction (a reconcile of thousands of files)."""
        ...

    def set_evaluated(self, task_id: str, until: datetime) -> None: ...

    def set_evaluated_many(self, task_ids: Sequence[str], until: datetime) -> None: ...

    # fires

    def claim_fire(self, fire: FireRecord) -> bool:
        """`INSERT ... ON CONFLICT DO NOTHING` on (task id, scheduled_for): True if ours."""
        ...

    def claim_fires(self, fires: Sequence[FireRecord]) -> list[bool]:
        """`claim_fire` for many, committed together in one transaction (fires due at
        one instant); for each fire, whether it is ours."""
        ...

    def set_fire_run(self, task_id: str, scheduled_for: datetime, run_id: str) -> None: ...

    def set_fire_outcome(
        self, task_id: str, scheduled_for: datetime, outcome: FireOutcome, detail: str | None
    ) -> None: ...

    def fires(self, task_id: str | None = None) -> list[FireRecord]: ...

    def has_at_fire(self, task_id: str) -> bool:
        """Whether the task's `at` schedule has fired (or was claimed) ever."""
        ...

    # daemons

    def register_daemon(self, daemon: DaemonRecord) -> None:
        """On PostgreSQL, `started` and `heartbeat` are the database's `now()`."""
        ...

    def daemon_heartbeat(self, daemon_id: str, now: datetime) -> None:
        """On PostgreSQL the heartbeat is the database's `now()`, not `now`."""
        ...

    def daemon_stopped(self, daemon_id: str, now: datetime) -> None:
        """On PostgreSQL the stop is the database's `now()`, not `now`."""
        ...

    def daemons(self, *, live_since: datetime | None = None) -> list[DaemonRecord]:
        """By start. With `live_since`, only daemons that did not stop and heartbeat at or
        after it; compute it from `server_time()` where there is one (`live_since(...)`)."""
        ...

    def server_time(self) -> datetime | None:
        """The state's own clock: the database's `now()` on PostgreSQL; None on SQLite,
        which has no clock but the callers' (a daemon refuses to start on a clock that
        differs too much from this one)."""
        ...

    def close(self) -> None: ...
