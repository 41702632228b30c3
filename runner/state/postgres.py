"""The StateStore in PostgreSQL (`state: postgresql://...`), shared by several daemon replicas.

Tables are prefixed `state_`; they live beside the store's in one database (runner/pg.py: the
store fences its writes on `state_runs`). Each handle keeps a small connection pool.

Database time: replicas on several hosts do not share a clock, so everything that decides
who holds a lease or which daemon is alive is stamped with the database's `now()`, never
with the `now` passed in. `claim_run` and `heartbeat` keep only the lease's length from their
arguments (`expires - now`) and apply it to the database's clock; `claim_run`,
`close_expired` and `expired` judge expiry by it (and `close_expired` stamps the finish with
it); a run's heartbeat and a daemon's start, heartbeats and stop are the database's `now()`;
`server_time()` returns it, for liveness checks (`live_since(server_time())`) and for the
daemon's check of its own clock. Run starts, finishes and fires keep the caller's times.

Concurrency: a claim of a run holds a per-task advisory transaction lock while it looks for
live runs and inserts its own (so exclusive claims are race-free across processes and hosts)
and takes its epoch, 1 + the highest of the task's runs, under the same lock. A fire is
claimed by `INSERT ... ON CONFLICT DO NOTHING`: the loser of a race sees no row, never a
unique violation.

Schema: versioned in `state_migrations` and changed only by `runner state migrate` (several
replicas share the database, so none upgrades it behind the others' backs); opening a
database whose schema is absent, older or newer raises `SchemaOutdated`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.types.json import Json, Jsonb
from psycopg_pool import ConnectionPool

from runner.errors import RunnerError
from runner.pg import RUNS_TABLE, SchemaOutdated
from runner.spec.config import resolve_secret
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

MIGRATE_COMMAND = "runner state migrate"
VERSION_TABLE = "state_migrations"
# advisory lock spaces (the first key of the two-key form): one lock per task, one for migrations
LOCK_CLAIM = 0x5354_0001
LOCK_MIGRATE = 0x5354_0002
POOL_SIZE = 4
CONNECT_TIMEOUT = 10

# Ordered columns are COLLATE "C": ids sort by code point, as in SQLite, whatever the
# database's locale.
V1 = f"""
CREATE TABLE {RUNS_TABLE} (
    run_id text COLLATE "C" PRIMARY KEY,
    task_id text COLLATE "C" NOT NULL,
    trigger text NOT NULL,
    scheduled_for timestamptz,
    started timestamptz NOT NULL,
    finished timestamptz,
    status text NOT NULL CHECK (status IN ('running', 'success', 'failed', 'canceled')),
    reason text,
    error text,
    spec_hash text NOT NULL,
    run_as text NOT NULL,
    dry_run boolean NOT NULL,
    log_path text NOT NULL,
    counts jsonb NOT NULL DEFAULT '{{}}',
    checkpoint bigint NOT NULL DEFAULT 0,
    resumed_from text,
    undo_of text,
    lease_owner text,
    lease_host text,
    lease_pid integer,
    lease_expires timestamptz,
    heartbeat timestamptz,
    epoch bigint NOT NULL DEFAULT 0
);
CREATE INDEX state_runs_task ON {RUNS_TABLE} (task_id, run_id);
CREATE INDEX state_runs_epoch ON {RUNS_TABLE} (task_id, epoch);
CREATE INDEX state_runs_running ON {RUNS_TABLE} (task_id, run_id) WHERE status = 'running';
CREATE TABLE state_tasks (
    task_id text COLLATE "C" PRIMARY KEY,
    spec json,
    spec_hash text,
    path text NOT NULL,
    error text,
    enabled boolean NOT NULL,
    first_seen timestamptz NOT NULL,
    updated timestamptz NOT NULL,
    evaluated_until timestamptz,
    removed boolean NOT NULL DEFAULT false
);
CREATE TABLE state_fires (
    task_id text COLLATE "C" NOT NULL,
    scheduled_for timestamptz NOT NULL,
    claimed_at timestamptz NOT NULL,
    claimed_by text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('run', 'missed', 'skipped')),
    spec_hash text,
    run_id text,
    detail text,
    kind text NOT NULL DEFAULT 'schedule',
    PRIMARY KEY (task_id, scheduled_for)
);
CREATE INDEX state_fires_at ON state_fires (task_id, kind);
CREATE TABLE state_daemons (
    id text COLLATE "C" PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    started timestamptz NOT NULL,
    heartbeat timestamptz NOT NULL,
    git_commit text,
    stopped timestamptz
)
"""

MIGRATIONS: tuple[str, ...] = (V1,)
SCHEMA_VERSION = len(MIGRATIONS)

RUN_COLUMNS = """run_id, task_id, trigger, scheduled_for, started, status, spec_hash, run_as,
    dry_run, log_path, counts, checkpoint, resumed_from, undo_of, lease_owner, lease_host,
    lease_pid, lease_expires, heartbeat, epoch"""
INSERT_RUN = f"""INSERT INTO {RUNS_TABLE} ({RUN_COLUMNS})
    VALUES (%(run_id)s, %(task_id)s, %(trigger)s, %(scheduled_for)s, %(started)s, 'running',
        %(spec_hash)s, %(run_as)s, %(dry_run)s, %(log_path)s, %(counts)s, %(checkpoint)s,
        %(resumed_from)s, %(undo_of)s, %(owner)s, %(host)s, %(pid)s,
        now() + %(length)s::interval, now(),
        (SELECT coalesce(max(epoch), 0) + 1 FROM {RUNS_TABLE} WHERE task_id = %(task_id)s))
    RETURNING *"""
# a run's lease is live or lapsed by the database's clock; runs without a lease are neither
LAPSED = "coalesce(lease_owner IS NOT NULL AND lease_expires < now(), false)"


class PostgresState:
    """A StateStore in a PostgreSQL database whose schema `runner state migrate` made."""

    def __init__(self, dsn: str, *, label: str | None = None) -> None:
        self.label = label or masked(dsn)
        with _connect(dsn, self.label) as conn:
            found = schema_version(conn)
        if found != SCHEMA_VERSION:
            raise SchemaOutdated("state", found, SCHEMA_VERSION, MIGRATE_COMMAND)
        self.pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True},
            configure=_configure,
            check=ConnectionPool.check_connection,  # survive a server restart or failover
            name="runner-state",
            num_workers=1,
            open=True,
        )

    # plumbing: every method is one statement on a pooled connection, or one transaction

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            return conn.cursor(row_factory=dict_row).execute(sql, params).fetchall()

    def _row(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _write(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        with self.pool.connection() as conn:
            return conn.execute(sql, params).rowcount

    # runs

    def claim_run(self, run: RunRecord, *, now: datetime, exclusive: bool = True) -> Claim:
        with self.pool.connection() as conn, conn.transaction():
            cursor = conn.cursor(row_factory=dict_row)
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLAIM, run.task_id)
            )
            running = cursor.execute(
                f"""SELECT *, {LAPSED} AS lapsed FROM {RUNS_TABLE}
                    WHERE task_id = %s AND status = 'running' ORDER BY run_id""",
                (run.task_id,),
            ).fetchall()
            live = [_record(row) for row in running if not row["lapsed"]]
            expired = tuple(_record(row) for row in running if row["lapsed"])
            if exclusive and live:
                return Claim(None, blocked_by=live[0], expired=expired)
            inserted = cursor.execute(INSERT_RUN, _run_params(run, now)).fetchone()
        assert inserted is not None
        return Claim(_record(inserted), expired=expired)

    def heartbeat(self, run_id: str, owner: str, *, now: datetime, expires: datetime) -> bool:
        changed = self._write(
            f"""UPDATE {RUNS_TABLE} SET heartbeat = now(), lease_expires = now() + %s::interval
                WHERE run_id = %s AND lease_owner = %s AND status = 'running'""",
            (expires - now, run_id, owner),
        )
        return changed == 1

    def checkpoint(self, run_id: str, owner: str, *, last_id: int, counts: Counts) -> bool:
        changed = self._write(
            f"""UPDATE {RUNS_TABLE} SET checkpoint = %s, counts = %s
                WHERE run_id = %s AND lease_owner = %s AND status = 'running'""",
            (last_id, Jsonb(counts.as_dict()), run_id, owner),
        )
        return changed == 1

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
            f"""UPDATE {RUNS_TABLE} SET status = %s, reason = %s, counts = %s, finished = %s,
                    error = %s, lease_expires = NULL
                WHERE run_id = %s AND status = 'running'
                   AND (%s::text IS NULL OR lease_owner = %s)""",
            (status, reason, Jsonb(counts.as_dict()), finished, error, run_id, owner, owner),
        )
        return changed == 1

    def close_expired(self, run_id: str, *, now: datetime, dead: bool = False) -> RunRecord | None:
        row = self._row(
            f"""UPDATE {RUNS_TABLE} SET status = 'failed', reason = 'interrupted',
                    finished = now(), error = 'the process running it stopped',
                    lease_expires = NULL
                WHERE run_id = %s AND status = 'running' AND (%s OR lease_expires < now())
                RETURNING *""",
            (run_id, dead),
        )
        return _record(row) if row else None

    def get(self, run_id: str) -> RunRecord | None:
        row = self._row(f"SELECT * FROM {RUNS_TABLE} WHERE run_id = %s", (run_id,))
        return _record(row) if row else None

    def runs(self, task_id: str | None = None, *, limit: int | None = None) -> list[RunRecord]:
        rows = self._rows(
            f"""SELECT * FROM {RUNS_TABLE} WHERE %(task)s::text IS NULL OR task_id = %(task)s
                ORDER BY run_id DESC LIMIT %(limit)s""",
            {"task": task_id, "limit": limit or None},
        )
        return [_record(row) for row in rows]

    def running(self, task_id: str | None = None) -> list[RunRecord]:
        rows = self._rows(
            f"""SELECT * FROM {RUNS_TABLE} WHERE status = 'running'
                AND (%(task)s::text IS NULL OR task_id = %(task)s) ORDER BY run_id""",
            {"task": task_id},
        )
        return [_record(row) for row in rows]

    def expired(self, *, now: datetime) -> list[RunRecord]:
        rows = self._rows(
            f"SELECT * FROM {RUNS_TABLE} WHERE status = 'running' AND {LAPSED} ORDER BY run_id"
        )
        return [_record(row) for row in rows]

    def last_success(self, task_id: str) -> RunRecord | None:
        row = self._row(
            f"""SELECT * FROM {RUNS_TABLE} WHERE task_id = %s AND status = 'success'
                AND NOT dry_run AND undo_of IS NULL ORDER BY run_id DESC LIMIT 1""",
            (task_id,),
        )
        return _record(row) if row else None

    def run_ids(self, task_id: str) -> list[str]:
        rows = self._rows(f"SELECT run_id FROM {RUNS_TABLE} WHERE task_id = %s", (task_id,))
        return [row["run_id"] for row in rows]

    def resumable(self, task_id: str) -> RunRecord | None:
        latest = self._row(
            f"""SELECT * FROM {RUNS_TABLE} WHERE task_id = %s AND status != 'running'
                ORDER BY run_id DESC LIMIT 1""",
            (task_id,),
        )
        if latest is None or latest["reason"] != "interrupted":
            return None
        if latest["undo_of"] or latest["dry_run"]:  # a dry run's checkpoint covers no writes
            return None
        return _record(latest)

    def forget(self, run_ids: Sequence[str]) -> None:
        self._write(f"DELETE FROM {RUNS_TABLE} WHERE run_id = ANY(%s)", (list(run_ids),))

    # tasks

    def tasks(self, *, include_removed: bool = False) -> list[TaskState]:
        rows = self._rows(
            "SELECT * FROM state_tasks WHERE %s OR NOT removed ORDER BY task_id",
            (include_removed,),
        )
        return [_task(row) for row in rows]

    def put_task(self, task: TaskState) -> None:
        self.put_tasks([task])

    def put_tasks(self, tasks: Sequence[TaskState]) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.cursor().executemany(PUT_TASK, [_task_params(task) for task in tasks])

    def set_evaluated(self, task_id: str, until: datetime) -> None:
        self.set_evaluated_many([task_id], until)

    def set_evaluated_many(self, task_ids: Sequence[str], until: datetime) -> None:
        self._write(
            """UPDATE state_tasks SET evaluated_until = %(until)s WHERE task_id = ANY(%(ids)s)
               AND (evaluated_until IS NULL OR evaluated_until < %(until)s)""",
            {"until": until, "ids": list(task_ids)},
        )

    # fires

    def claim_fire(self, fire: FireRecord) -> bool:
        return self.claim_fires([fire])[0]

    def claim_fires(self, fires: Sequence[FireRecord]) -> list[bool]:
        with self.pool.connection() as conn, conn.transaction():
            return [
                conn.execute(CLAIM_FIRE, _fire_params(fire)).fetchone() is not None
                for fire in fires
            ]

    def set_fire_run(self, task_id: str, scheduled_for: datetime, run_id: str) -> None:
        self._write(
            "UPDATE state_fires SET run_id = %s WHERE task_id = %s AND scheduled_for = %s",
            (run_id, task_id, scheduled_for),
        )

    def set_fire_outcome(
        self, task_id: str, scheduled_for: datetime, outcome: str, detail: str | None
    ) -> None:
        self._write(
            """UPDATE state_fires SET outcome = %s, detail = %s
               WHERE task_id = %s AND scheduled_for = %s""",
            (outcome, detail, task_id, scheduled_for),
        )

    def fires(self, task_id: str | None = None) -> list[FireRecord]:
        rows = self._rows(
            """SELECT * FROM state_fires WHERE %(task)s::text IS NULL OR task_id = %(task)s
               ORDER BY task_id, scheduled_for""",
            {"task": task_id},
        )
        return [_fire(row) for row in rows]

    def has_at_fire(self, task_id: str) -> bool:
        row = self._row(
            "SELECT 1 AS found FROM state_fires WHERE task_id = %s AND kind = 'at' LIMIT 1",
            (task_id,),
        )
        return row is not None

    # daemons (times by the database's clock)

    def register_daemon(self, daemon: DaemonRecord) -> None:
        self._write(
            """INSERT INTO state_daemons (id, host, pid, started, heartbeat, git_commit)
               VALUES (%s, %s, %s, now(), now(), %s)""",
            (daemon.id, daemon.host, daemon.pid, daemon.git_commit),
        )

    def daemon_heartbeat(self, daemon_id: str, now: datetime) -> None:
        self._write("UPDATE state_daemons SET heartbeat = now() WHERE id = %s", (daemon_id,))

    def daemon_stopped(self, daemon_id: str, now: datetime) -> None:
        self._write("UPDATE state_daemons SET stopped = now() WHERE id = %s", (daemon_id,))

    def daemons(self, *, live_since: datetime | None = None) -> list[DaemonRecord]:
        rows = self._rows(
            """SELECT * FROM state_daemons WHERE %(since)s::timestamptz IS NULL
                   OR (stopped IS NULL AND heartbeat >= %(since)s)
               ORDER BY started, id""",
            {"since": live_since},
        )
        return [_daemon(row) for row in rows]

    def server_time(self) -> datetime:
        row = self._row("SELECT now() AS now")
        assert row is not None
        now: datetime = row["now"]
        return now

    def close(self) -> None:
        self.pool.close()


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TIME ZONE 'UTC'")  # instants come back in UTC, as from SQLite


def _run_params(run: RunRecord, now: datetime) -> dict[str, Any]:
    lease = run.lease
    return {
        "run_id": run.run_id,
        "task_id": run.task_id,
        "trigger": run.trigger,
        "scheduled_for": run.scheduled_for,
        "started": run.started,
        "spec_hash": run.spec_hash,
        "run_as": run.run_as,
        "dry_run": run.dry_run,
        "log_path": run.log_path,
        "counts": Jsonb(run.counts.as_dict()),
        "checkpoint": run.checkpoint,
        "resumed_from": run.resumed_from,
        "undo_of": run.undo_of,
        "owner": lease.owner if lease else None,
        "host": lease.host if lease else None,
        "pid": lease.pid if lease else None,
        "length": (lease.expires - now) if lease else None,
    }


def _record(row: dict[str, Any]) -> RunRecord:
    lease = None
    if row["lease_owner"] and row["lease_expires"]:
        lease = Lease(
            row["lease_owner"],
            row["lease_host"],
            row["lease_pid"],
            row["lease_expires"],
            row["epoch"],
        )
    return RunRecord(
        run_id=row["run_id"],
        task_id=row["task_id"],
        trigger=row["trigger"],
        started=row["started"],
        spec_hash=row["spec_hash"],
        run_as=row["run_as"],
        dry_run=row["dry_run"],
        log_path=row["log_path"],
        scheduled_for=row["scheduled_for"],
        status=row["status"],
        reason=row["reason"],
        finished=row["finished"],
        counts=Counts.from_dict(row["counts"]),
        checkpoint=row["checkpoint"],
        resumed_from=row["resumed_from"],
        undo_of=row["undo_of"],
        lease=lease,
        heartbeat=row["heartbeat"],
        error=row["error"],
    )


def _task(row: dict[str, Any]) -> TaskState:
    return TaskState(
        task_id=row["task_id"],
        spec=row["spec"],
        spec_hash=row["spec_hash"],
        path=row["path"],
        error=row["error"],
        enabled=row["enabled"],
        first_seen=row["first_seen"],
        updated=row["updated"],
        evaluated_until=row["evaluated_until"],
        removed=row["removed"],
    )


def _fire(row: dict[str, Any]) -> FireRecord:
    return FireRecord(
        task_id=row["task_id"],
        scheduled_for=row["scheduled_for"],
        claimed_at=row["claimed_at"],
        claimed_by=row["claimed_by"],
        outcome=row["outcome"],
        spec_hash=row["spec_hash"],
        run_id=row["run_id"],
        detail=row["detail"],
        kind=row["kind"],
    )


def _daemon(row: dict[str, Any]) -> DaemonRecord:
    return DaemonRecord(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        started=row["started"],
        heartbeat=row["heartbeat"],
        git_commit=row["git_commit"],
        stopped=row["stopped"],
    )


# connections, schema versions, migrations


CLAIM_FIRE = """INSERT INTO state_fires (task_id, scheduled_for, claimed_at, claimed_by, outcome,
        spec_hash, run_id, detail, kind) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (task_id, scheduled_for) DO NOTHING RETURNING 1 AS ours"""


def _fire_params(fire: FireRecord) -> tuple[Any, ...]:
    return (
        fire.task_id,
        fire.scheduled_for,
        fire.claimed_at,
        fire.claimed_by,
        fire.outcome,
        fire.spec_hash,
        fire.run_id,
        fire.detail,
        fire.kind,
    )


PUT_TASK = """INSERT INTO state_tasks (task_id, spec, spec_hash, path, error, enabled,
        first_seen, updated, evaluated_until, removed)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (task_id) DO UPDATE SET spec = excluded.spec,
        spec_hash = excluded.spec_hash, path = excluded.path, error = excluded.error,
        enabled = excluded.enabled, updated = excluded.updated,
        evaluated_until = excluded.evaluated_until, removed = excluded.removed"""


def _task_params(task: TaskState) -> tuple[Any, ...]:
    spec = None if task.spec is None else Json(task.spec, dumps=partial(json.dumps, sort_keys=True))
    return (
        task.task_id,
        spec,
        task.spec_hash,
        task.path,
        task.error,
        task.enabled,
        task.first_seen,
        task.updated,
        task.evaluated_until,
        task.removed,
    )


def _connect(dsn: str, label: str) -> psycopg.Connection[Any]:
    """A connection of its own (not pooled), with connection errors made readable."""
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        reason = scrubbed(str(exc).strip(), dsn)
        raise RunnerError(f"state database {label} cannot be used: {reason}") from None


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The state's schema version in the database; 0 when it has none."""
    table = conn.execute("SELECT to_regclass(%s)", (VERSION_TABLE,)).fetchone()
    if table is None or table[0] is None:
        return 0
    row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}").fetchone()
    return int(row[0]) if row else 0


def migrate(dsn: str, *, label: str | None = None) -> tuple[int, int]:
    """Bring the state's schema up to date in one transaction; (version found, version now).

    Replicas running it at once take turns (an advisory lock): the second finds nothing to do.
    """
    label = label or masked(dsn)
    with _connect(dsn, label) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_MIGRATE,))
        conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
                    version integer PRIMARY KEY,
                    applied timestamptz NOT NULL DEFAULT now())"""
        )
        found = schema_version(conn)
        if found > SCHEMA_VERSION:
            raise SchemaOutdated("state", found, SCHEMA_VERSION, MIGRATE_COMMAND)
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in _statements(MIGRATIONS[version - 1]):
                conn.execute(statement)
            conn.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s)", (version,))
    return found, SCHEMA_VERSION


def _statements(script: str) -> list[str]:
    return [statement for statement in script.split(";") if statement.strip()]


# passwords: resolved from secret references, never shown


def masked(url: str) -> str:
    """The URL with its password (in the authority or a `password=` parameter) as `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{url.split(':', 1)[0]}://***"
    userinfo, at, hosts = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hosts}"
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def scrubbed(text: str, dsn: str) -> str:
    """`text` (an error from the driver) with the DSN's password, if any, replaced."""
    password = _password(dsn)
    return text.replace(password, "***") if password else text


def _password(dsn: str) -> str | None:
    try:
        value = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        try:
            value = urlsplit(dsn).password
        except ValueError:
            return None
    return str(value) if value else None


# runner.yaml's `state: postgresql://...`


def dsn_of(spec: str, base: Path) -> str:
    """The URL with its `${env:NAME}` / `${file:PATH}` secrets resolved (never printed)."""
    return resolve_secret(spec, base)


def open_state(spec: str, base: Path) -> PostgresState:
    return PostgresState(dsn_of(spec, base), label=masked(spec))


def migrate_state(spec: str, base: Path) -> Migration:
    label = masked(spec)
    found, version = migrate(dsn_of(spec, base), label=label)
    return Migration("postgres", label, found, version)
