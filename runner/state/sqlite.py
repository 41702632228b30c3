"""The StateStore on an SQLite file (the default, `state: sqlite:.runner/state.db`).

The file has one owner (the runner installation), so it is upgraded in place when opened: its
schema version is `PRAGMA user_version`, and each migration step runs in its own transaction.
Several processes share it safely: WAL mode, a busy timeout, and every claim is a single
`BEGIN IMMEDIATE` transaction, so two processes cannot both claim a task.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.errors import RunnerError
from runner.state.base import Claim, Counts, Lease, RunRecord

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


MIGRATIONS: tuple[Step, ...] = (_v1,)
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
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class SqliteState:
    """A StateStore on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA busy_timeout = 30000")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        found = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise StateTooNew(self.path, found)
        for version in range(found + 1, SCHEMA_VERSION + 1):
            self.db.execute("BEGIN IMMEDIATE")
            try:
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
            self._insert(run)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return Claim(run, expired=expired)

    def _insert(self, run: RunRecord) -> None:
        lease = run.lease
        self._write(
            """INSERT INTO runs (run_id, task_id, trigger, scheduled_for, started, status,
                   spec_hash, run_as, dry_run, log_path, counts, checkpoint, resumed_from,
                   undo_of, lease_owner, lease_host, lease_pid, lease_expires, heartbeat)
               VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
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
            ),
        )

    def heartbeat(self, run_id: str, owner: str, *, now: datetime, expires: datetime) -> bool:
        return self._write(
            """UPDATE runs SET heartbeat = ?, lease_expires = ?
               WHERE run_id = ? AND lease_owner = ? AND status = 'running'""",
            (_ts(now), _ts(expires), run_id, owner),
        ) == 1

    def checkpoint(self, run_id: str, owner: str, *, last_id: int, counts: Counts) -> bool:
        return self._write(
            """UPDATE runs SET checkpoint = ?, counts = ?
               WHERE run_id = ? AND lease_owner = ? AND status = 'running'""",
            (last_id, json.dumps(counts.as_dict()), run_id, owner),
        ) == 1

    def finish(
        self,
        run_id: str,
        *,
        status: str,
        reason: str | None,
        counts: Counts,
        finished: datetime,
        error: str | None = None,
    ) -> None:
        self._write(
            """UPDATE runs SET status = ?, reason = ?, counts = ?, finished = ?, error = ?,
                   lease_expires = NULL
               WHERE run_id = ?""",
            (status, reason, json.dumps(counts.as_dict()), _ts(finished), error, run_id),
        )

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
        if latest is None or latest["reason"] != "interrupted" or latest["undo_of"]:
            return None
        return _record(latest)

    def forget(self, run_ids: Sequence[str]) -> None:
        self.db.executemany("DELETE FROM runs WHERE run_id = ?", [(r,) for r in run_ids])

    def close(self) -> None:
        self.db.close()


def _expired(run: RunRecord, now: datetime) -> bool:
    return run.lease is not None and run.lease.expires < now


def _record(row: sqlite3.Row) -> RunRecord:
    lease = None
    if row["lease_owner"] and row["lease_expires"]:
        expires = _dt(row["lease_expires"])
        assert expires is not None
        lease = Lease(row["lease_owner"], row["lease_host"], row["lease_pid"], expires)
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


def open_state(spec: str, base: Path) -> SqliteState:
    """The state named by runner.yaml's `state:` (`sqlite:PATH`)."""
    if not spec.startswith("sqlite:"):
        raise RunnerError(f"state {spec.split(':', 1)[0]}: only sqlite: is supported so far")
    path = Path(spec.removeprefix("sqlite:")).expanduser()
    return SqliteState(path if path.is_absolute() else base / path)
