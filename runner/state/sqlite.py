"""The StateStore on an SQLite file (the default, `state: sqlite:.runner/state.db`).

The file has one owner (the runner installation), so it is upgraded in place when opened: its
schema version is `PRAGMA user_version`, and each migration step runs in its own transaction.
Several processes share it safely: WAL mode, a busy timeout, and every claim is a single
`BEGIN IMMEDIATE` transaction, so two processes cannot both claim a task (nor take the same
epoch). The processes share one host and so one clock: leases and heartbeats keep the times
passed in, and `server_time()` is None.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.errors import RunnerError
from runner.state.base import (
    Claim,
    Counts,
    DaemonRecord,
    FireRecord,
    Lease,
    Migration,
    RunRecord,
    TaskState,
)

Step = Callable[[sqlite3.Connection], None]

V1 = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    trigger TEXT NOT NULL,
    scheduled_for TEXT,
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'success', 'failed', 'canceled')),
    reason TEXT,
    error TEXT,
    spec_hash TEXT NOT NULL,
    run_as TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    log_path TEXT NOT NULL,
    counts TEXT NOT NULL DEFAULT '{}',
    checkpoint INTEGER NOT NULL DEFAULT 0,
    resumed_from TEXT,
    undo_of TEXT,
    lease_owner TEXT,
    lease_host TEXT,
    lease_pid INTEGER,
    lease_expires TEXT,
    heartbeat TEXT
);
CREATE INDEX runs_task ON runs (task_id, started);
CREATE INDEX runs_running ON runs (status, task_id) WHERE status = 'running';
"""


def _statements(script: str) -> list[str]:
    return [statement for statement in script.split(";") if statement.strip()]


def _v1(db: sqlite3.Connection) -> None:
    # statement by statement: executescript() would commit the migration's transaction
    for statement in _statements(V1):
        db.execute(statement)


V2 = """
CREATE TABLE tasks (
    task_id TEXT PRIMARY KEY,
    spec TEXT,
    spec_hash TEXT,
    path TEXT NOT NULL,
    error TEXT,
    enabled INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    updated TEXT NOT NULL,
    evaluated_until TEXT,
    removed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE fires (
    task_id TEXT NOT NULL,
    scheduled_for TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    claimed_by TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('run', 'missed', 'skipped')),
    spec_hash TEXT,
    run_id TEXT,
    detail TEXT,
    kind TEXT NOT NULL DEFAULT 'schedule',
    PRIMARY KEY (task_id, scheduled_for)
);
CREATE INDEX fires_at ON fires (task_id, kind);
CREATE TABLE daemons (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started TEXT NOT NULL,
    heartbeat TEXT NOT NULL,
    git_commit TEXT,
    stopped TEXT
);
"""


def _v2(db: sqlite3.Connection) -> None:
    for statement in _statements(V2):
        db.execute(statement)


def _v3(db: sqlite3.Connection) -> None:
    # runs claimed before epochs existed keep 0: the next claim of their task gets 1
    db.execute("ALTER TABLE runs ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX runs_epoch ON runs (task_id, epoch)")


MIGRATIONS: tuple[Step, ...] = (_v1, _v2, _v3)
SCHEMA_VERSION = len(MIGRATIONS)


class StateTooNew(RunnerError):
    def __init__(self, path: Path, found: int) -> None:
        super().__init__(
            f"state file {path} has schema version {found}, newer than this runner supports "
            f"({SCHEMA_VERSION}); upgrade runner"
        )


def _ts(value: datetime | None) -> str | None:
    """Instants as sortable UTC text with microseconds."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dt(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value)  # 3.11 reads the trailing Z; strptime is 10x slower


class SqliteState:
    """A StateStore on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        try:
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA busy_timeout = 30000")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise RunnerError(f"state file {path} cannot be used: {exc}") from None
        except BaseException:
            self.db.close()
            raise

    def _migrate(self) -> None:
        found = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise StateTooNew(self.path, found)
        for version in range(found + 1, SCHEMA_VERSION + 1):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                # another process opening the file at once may have applied it meanwhile
                current = int(self.db.execute("PRAGMA user_version").fetchone()[0])
                if current >= version:
                    self.db.execute("COMMIT")
                    continue
                MIGRATIONS[version - 1](self.db)
                self.db.execute(f"PRAGMA user_version = {version}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.db.execute(sql, params).rowcount

    def claim_run(self, run: RunRecord, *, now: datetime, exclusive: bool = True) -> Claim:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            live = [r for r in self.running(run.task_id) if not _expired(r, now)]
            expired = tuple(r for r in self.running(run.task_id) if _expired(r, now))
            if exclusive and live:
                self.db.execute("ROLLBACK")
                return Claim(None, blocked_by=live[0], expired=expired)
            epoch = self._next_epoch(run.task_id)
            self._insert(run, epoch)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        lease = replace(run.lease, epoch=epoch) if run.lease else None
        return Claim(replace(run, lease=lease, heartbeat=run.started), expired=expired)

    def _next_epoch(self, task_id: str) -> int:
        row = self.db.execute(
            "SELECT coalesce(max(epoch), 0) + 1 FROM runs WHERE task_id = ?", (task_id,)
        ).fetchone()
        return int(row[0])

    def _insert(self, run: RunRecord, epoch: int) -> None:
        lease = run.lease
        self._write(
            """INSERT INTO runs (run_id, task_id, trigger, scheduled_for, started, status,
                   spec_hash, run_as, dry_run, log_path, counts, checkpoint, resumed_from,
                   undo_of, lease_owner, lease_host, lease_pid, lease_expires, heartbeat, epoch)
               VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                run.run_id,
                run.task_id,
                run.trigger,
                _ts(run.scheduled_for),
                _ts(run.started),
                run.spec_hash,
                run.run_as,
                int(run.dry_run),
                run.log_path,
                json.dumps(run.counts.as_dict()),
                run.checkpoint,
                run.resumed_from,
                run.undo_of,
                lease.owner if lease else None,
                lease.host if lease else None,
                lease.pid if lease else None,
                _ts(lease.expires) if lease else None,
                _ts(run.started),
                epoch,
            ),
        )

    def heartbeat(self, run_id: str, owner: str, *, now: datetime, expires: datetime) -> bool:
        return (
            self._write(
                """UPDATE runs SET heartbeat = ?, lease_expires = ?
               WHERE run_id = ? AND lease_owner = ? AND status = 'running'""",
                (_ts(now), _ts(expires), run_id, owner),
            )
            == 1
        )

    def checkpoint(self, run_id: str, owner: str, *, last_id: int, counts: Counts) -> bool:
        return (
            self._write(
                """UPDATE runs SET checkpoint = ?, counts = ?
               WHERE run_id = ? AND lease_owner = ? AND status = 'running'""",
                (last_id, json.dumps(counts.as_dict()), run_id, owner),
            )
            == 1
        )

    def finish(
        self,
        run_id: str,
        *,
        status: str,
        reason: str | None,
        counts: Counts,
        finished: datetime,
        error: str | None = None,
        owner: str | None = None,
    ) -> bool:
        changed = self._write(
            """UPDATE runs SET status = ?, reason = ?, counts = ?, finished = ?, error = ?,
                   lease_expires = NULL
               WHERE run_id = ? AND status = 'running' AND (? IS NULL OR lease_owner = ?)""",
            (
                status,
                reason,
                json.dumps(counts.as_dict()),
                _ts(finished),
                error,
                run_id,
                owner,
                owner,
            ),
        )
        return changed == 1

    def close_expired(self, run_id: str, *, now: datetime, dead: bool = False) -> RunRecord | None:
        changed = self._write(
            """UPDATE runs SET status = 'failed', reason = 'interrupted', finished = ?,
                   error = 'the process running it stopped',
                   lease_expires = NULL
               WHERE run_id = ? AND status = 'running' AND (? OR lease_expires < ?)""",
            (_ts(now), run_id, int(dead), _ts(now)),
        )
        return self.get(run_id) if changed else None

    def get(self, run_id: str) -> RunRecord | None:
        row = self.db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return _record(row) if row else None

    def runs(self, task_id: str | None = None, *, limit: int | None = None) -> list[RunRecord]:
        where, params = ("WHERE task_id = ?", [task_id]) if task_id else ("", [])
        cap = f"LIMIT {int(limit)}" if limit else ""
        rows = self.db.execute(f"SELECT * FROM runs {where} ORDER BY run_id DESC {cap}", params)
        return [_record(row) for row in rows]

    def running(self, task_id: str | None = None) -> list[RunRecord]:
        where, params = ("AND task_id = ?", [task_id]) if task_id else ("", [])
        rows = self.db.execute(
            f"SELECT * FROM runs WHERE status = 'running' {where} ORDER BY run_id", params
        )
        return [_record(row) for row in rows]

    def expired(self, *, now: datetime) -> list[RunRecord]:
        return [r for r in self.running() if _expired(r, now)]

    def last_success(self, task_id: str) -> RunRecord | None:
        row = self.db.execute(
            """SELECT * FROM runs WHERE task_id = ? AND status = 'success' AND dry_run = 0
               AND undo_of IS NULL ORDER BY run_id DESC LIMIT 1""",
            (task_id,),
        ).fetchone()
        return _record(row) if row else None

    def run_ids(self, task_id: str) -> list[str]:
        rows = self.db.execute("SELECT run_id FROM runs WHERE task_id = ?", (task_id,))
        return [row[0] for row in rows]

    def resumable(self, task_id: str) -> RunRecord | None:
        latest = self.db.execute(
            """SELECT * FROM runs WHERE task_id = ? AND status != 'running'
               ORDER BY run_id DESC LIMIT 1""",
            (task_id,),
        ).fetchone()
        if latest is None or latest["reason"] != "interrupted":
            return None
        if latest["undo_of"] or latest["dry_run"]:  # a dry run's checkpoint covers no writes
            return None
        return _record(latest)

    def forget(self, run_ids: Sequence[str]) -> None:
        self.db.executemany("DELETE FROM runs WHERE run_id = ?", [(r,) for r in run_ids])

    def tasks(self, *, include_removed: bool = False) -> list[TaskState]:
        where = "" if include_removed else "WHERE removed = 0"
        rows = self.db.execute(f"SELECT * FROM tasks {where} ORDER BY task_id")
        return [_task(row) for row in rows]

    def put_task(self, task: TaskState) -> None:
        self._write(
            """INSERT INTO tasks (task_id, spec, spec_hash, path, error, enabled, first_seen,
                   updated, evaluated_until, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (task_id) DO UPDATE SET spec = excluded.spec,
                   spec_hash = excluded.spec_hash, path = excluded.path, error = excluded.error,
                   enabled = excluded.enabled, updated = excluded.updated,
                   evaluated_until = excluded.evaluated_until, removed = excluded.removed""",
            (
                task.task_id,
                json.dumps(task.spec, sort_keys=True) if task.spec is not None else None,
                task.spec_hash,
                task.path,
                task.error,
                int(task.enabled),
                _ts(task.first_seen),
                _ts(task.updated),
                _ts(task.evaluated_until),
                int(task.removed),
            ),
        )

    def put_tasks(self, tasks: Sequence[TaskState]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for task in tasks:
                self.put_task(task)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def set_evaluated_many(self, task_ids: Sequence[str], until: datetime) -> None:
        """One transaction for a tick's tasks (a write per task would cost a commit each)."""
        stamp = _ts(until)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                "UPDATE tasks SET evaluated_until = ? WHERE task_id = ? "
                "AND (evaluated_until IS NULL OR evaluated_until < ?)",
                [(stamp, task_id, stamp) for task_id in task_ids],
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def set_evaluated(self, task_id: str, until: datetime) -> None:
        self._write(
            "UPDATE tasks SET evaluated_until = ? WHERE task_id = ? "
            "AND (evaluated_until IS NULL OR evaluated_until < ?)",
            (_ts(until), task_id, _ts(until)),
        )

    def claim_fire(self, fire: FireRecord) -> bool:
        return (
            self._write(
                """INSERT INTO fires (task_id, scheduled_for, claimed_at, claimed_by, outcome,
                   spec_hash, run_id, detail, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (task_id, scheduled_for) DO NOTHING""",
                (
                    fire.task_id,
                    _ts(fire.scheduled_for),
                    _ts(fire.claimed_at),
                    fire.claimed_by,
                    fire.outcome,
                    fire.spec_hash,
                    fire.run_id,
                    fire.detail,
                    fire.kind,
                ),
            )
            == 1
        )

    def claim_fires(self, fires: Sequence[FireRecord]) -> list[bool]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            ours = [self.claim_fire(fire) for fire in fires]
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return ours

    def set_fire_run(self, task_id: str, scheduled_for: datetime, run_id: str) -> None:
        self._write(
            "UPDATE fires SET run_id = ? WHERE task_id = ? AND scheduled_for = ?",
            (run_id, task_id, _ts(scheduled_for)),
        )

    def set_fire_outcome(
        self, task_id: str, scheduled_for: datetime, outcome: str, detail: str | None
    ) -> None:
        self._write(
            "UPDATE fires SET outcome = ?, detail = ? WHERE task_id = ? AND scheduled_for = ?",
            (outcome, detail, task_id, _ts(scheduled_for)),
        )

    def fires(self, task_id: str | None = None) -> list[FireRecord]:
        where, params = ("WHERE task_id = ?", [task_id]) if task_id else ("", [])
        rows = self.db.execute(
            f"SELECT * FROM fires {where} ORDER BY task_id, scheduled_for", params
        )
        return [_fire(row) for row in rows]

    def has_at_fire(self, task_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM fires WHERE task_id = ? AND kind = 'at' LIMIT 1", (task_id,)
        ).fetchone()
        return row is not None

    def register_daemon(self, daemon: DaemonRecord) -> None:
        self._write(
            """INSERT INTO daemons (id, host, pid, started, heartbeat, git_commit)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (
                daemon.id,
                daemon.host,
                daemon.pid,
                _ts(daemon.started),
                _ts(daemon.heartbeat),
                daemon.git_commit,
            ),
        )

    def daemon_heartbeat(self, daemon_id: str, now: datetime) -> None:
        self._write("UPDATE daemons SET heartbeat = ? WHERE id = ?", (_ts(now), daemon_id))

    def daemon_stopped(self, daemon_id: str, now: datetime) -> None:
        self._write("UPDATE daemons SET stopped = ? WHERE id = ?", (_ts(now), daemon_id))

    def daemons(self, *, live_since: datetime | None = None) -> list[DaemonRecord]:
        if live_since is None:
            rows = self.db.execute("SELECT * FROM daemons ORDER BY started")
        else:
            rows = self.db.execute(
                "SELECT * FROM daemons WHERE stopped IS NULL AND heartbeat >= ? ORDER BY started",
                (_ts(live_since),),
            )
        return [_daemon(row) for row in rows]

    def server_time(self) -> datetime | None:
        return None  # one host: the callers' clock is the only one

    def close(self) -> None:
        self.db.close()


def _expired(run: RunRecord, now: datetime) -> bool:
    return run.lease is not None and run.lease.expires < now


def _task(row: sqlite3.Row) -> TaskState:
    return TaskState(
        task_id=row["task_id"],
        spec=json.loads(row["spec"]) if row["spec"] else None,
        spec_hash=row["spec_hash"],
        path=row["path"],
        error=row["error"],
        enabled=bool(row["enabled"]),
        first_seen=_dt(row["first_seen"]) or datetime.min.replace(tzinfo=UTC),
        updated=_dt(row["updated"]) or datetime.min.replace(tzinfo=UTC),
        evaluated_until=_dt(row["evaluated_until"]),
        removed=bool(row["removed"]),
    )


def _fire(row: sqlite3.Row) -> FireRecord:
    return FireRecord(
        task_id=row["task_id"],
        scheduled_for=_dt(row["scheduled_for"]) or datetime.min.replace(tzinfo=UTC),
        claimed_at=_dt(row["claimed_at"]) or datetime.min.replace(tzinfo=UTC),
        claimed_by=row["claimed_by"],
        outcome=row["outcome"],
        spec_hash=row["spec_hash"],
        run_id=row["run_id"],
        detail=row["detail"],
        kind=row["kind"],
    )


def _daemon(row: sqlite3.Row) -> DaemonRecord:
    return DaemonRecord(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        started=_dt(row["started"]) or datetime.min.replace(tzinfo=UTC),
        heartbeat=_dt(row["heartbeat"]) or datetime.min.replace(tzinfo=UTC),
        git_commit=row["git_commit"],
        stopped=_dt(row["stopped"]),
    )


def _record(row: sqlite3.Row) -> RunRecord:
    lease = None
    if row["lease_owner"] and row["lease_expires"]:
        expires = _dt(row["lease_expires"])
        assert expires is not None
        lease = Lease(
            row["lease_owner"], row["lease_host"], row["lease_pid"], expires, row["epoch"]
        )
    return RunRecord(
        run_id=row["run_id"],
        task_id=row["task_id"],
        trigger=row["trigger"],
        started=_dt(row["started"]) or datetime.min.replace(tzinfo=UTC),
        spec_hash=row["spec_hash"],
        run_as=row["run_as"],
        dry_run=bool(row["dry_run"]),
        log_path=row["log_path"],
        scheduled_for=_dt(row["scheduled_for"]),
        status=row["status"],
        reason=row["reason"],
        finished=_dt(row["finished"]),
        counts=Counts.from_dict(json.loads(row["counts"])),
        checkpoint=row["checkpoint"],
        resumed_from=row["resumed_from"],
        undo_of=row["undo_of"],
        lease=lease,
        heartbeat=_dt(row["heartbeat"]),
        error=row["error"],
    )


def state_path(spec: str, base: Path) -> Path:
    """The file named by runner.yaml's `state:` (`sqlite:PATH`, relative to `base`)."""
    if not spec.startswith("sqlite:"):
        raise RunnerError(f"state {spec.split(':', 1)[0]}: only sqlite: is supported so far")
    path = Path(spec.removeprefix("sqlite:")).expanduser()
    return path if path.is_absolute() else base / path


def open_state(spec: str, base: Path) -> SqliteState:
    """The state named by runner.yaml's `state:`, created when missing."""
    return SqliteState(state_path(spec, base))


def open_existing_state(spec: str, base: Path) -> SqliteState | None:
    """For readers (`runner status`, `runner plan`): None when no state file exists yet, so
    looking does not create one."""
    path = state_path(spec, base)
    return SqliteState(path) if path.exists() else None


def migrate_state(spec: str, base: Path) -> Migration:
    """`runner state migrate` on a file: the upgrade that opening it does anyway, reported."""
    path = state_path(spec, base)
    found = _file_version(path)
    SqliteState(path).close()
    return Migration("sqlite", str(path), found, SCHEMA_VERSION)


def _file_version(path: Path) -> int:
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError:
        return 0  # not a database: opening it reports that
    finally:
        db.close()
