"""The StateStore contract: every implementation passes the same tests.

Each backend is a factory in BACKENDS that, given the test's request, returns an opener: a
picklable callable opening a fresh handle on one and the same storage (so "two processes" are
two handles, or really two processes). SQLite uses a file in tmp_path; PostgreSQL a fresh,
migrated database on the session's server (started only when a PostgreSQL test runs).

Where the backends' clocks differ, tests read the state's own: SQLite stamps leases and
heartbeats with the `now` passed in, PostgreSQL with the database's `now()` (checked as lying
between two readings of `server_time()` around the call). A lease that is already over is
claimed with a negative length, which expires on either clock without waiting. The tests at
the end are about each backend itself: the database's clock, schema versions, migrations.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from runner.errors import RunnerError
from runner.pg import SchemaOutdated
from runner.runs.ids import new_run_id
from runner.state.base import (
    Counts,
    DaemonRecord,
    FireRecord,
    Lease,
    RunRecord,
    StateStore,
    Status,
    TaskState,
    live_since,
)
from runner.state.postgres import SCHEMA_VERSION as PG_SCHEMA_VERSION
from runner.state.postgres import PostgresState, migrate
from runner.state.sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteState, StateTooNew

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
OVER = timedelta(seconds=-1)  # a lease that ended a second before it was claimed
OWNER = "host-a:100:1"

OpenState = Callable[[], StateStore]


def _sqlite(request: pytest.FixtureRequest) -> OpenState:
    path = request.getfixturevalue("tmp_path") / "state" / "state.db"
    return partial(SqliteState, path)


def _postgres(request: pytest.FixtureRequest) -> OpenState:
    dsn: str = request.getfixturevalue("pg_dsn")
    migrate(dsn)
    return partial(PostgresState, dsn)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], OpenState]] = {
    "sqlite": _sqlite,
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(BACKENDS))
def opener(request: pytest.FixtureRequest) -> OpenState:
    """A picklable function opening a handle on the test's storage."""
    return BACKENDS[request.param](request)


@pytest.fixture
def open_state(opener: OpenState) -> Iterator[OpenState]:
    """Opens handles on one storage; all are closed after the test."""
    factory = opener
    opened: list[StateStore] = []

    def open_one() -> StateStore:
        handle = factory()
        opened.append(handle)
        return handle

    yield open_one
    for handle in opened:
        handle.close()


@pytest.fixture
def state(open_state: OpenState) -> StateStore:
    return open_state()


def make_run(
    task: str = "review/tag",
    *,
    started: datetime = T0,
    owner: str = OWNER,
    lease: timedelta = LEASE,
    **changes: object,
) -> RunRecord:
    run = RunRecord(
        run_id=new_run_id(started),
        task_id=task,
        trigger="manual",
        started=started,
        spec_hash="a" * 64,
        run_as="editor",
        dry_run=False,
        log_path=f"/logs/{task}/run.jsonl",
        lease=Lease(owner, owner.split(":")[0], 100, started + lease),
    )
    return replace(run, **changes)  # type: ignore[arg-type]


def claimed(state: StateStore, run: RunRecord) -> RunRecord:
    """Claimed without regard to other runs (exclusivity has tests of its own)."""
    claim = state.claim_run(run, now=run.started, exclusive=False)
    assert claim.run is not None, claim
    return claim.run


def interrupted(state: StateStore, run: RunRecord) -> RunRecord:
    """Closed as its process died (on this host: no waiting for the lease)."""
    closed = state.close_expired(run.run_id, now=run.started, dead=True)
    assert closed is not None
    return closed


@dataclass
class Stamps:
    """What a backend stamps a call's writes with: the `now` passed in (no `server_time`), or
    the database's clock at the call, which lies between two readings of it around the call."""

    passed: datetime
    before: datetime | None
    after: datetime | None = None

    def at(self, value: datetime | None, plus: timedelta = timedelta(0)) -> bool:
        if self.before is None or self.after is None:
            return value == self.passed + plus
        return value is not None and self.before + plus <= value <= self.after + plus


@contextmanager
def stamping(state: StateStore, now: datetime) -> Iterator[Stamps]:
    stamps = Stamps(now, state.server_time())
    yield stamps
    stamps.after = state.server_time()


def finished(
    state: StateStore, run: RunRecord, status: Status = "success", reason: str | None = None
) -> None:
    state.finish(
        run.run_id,
        status=status,
        reason=reason,
        counts=Counts(matched=3, changed=2, unchanged=1),
        finished=run.started + timedelta(seconds=5),
    )


# runs: claims and leases


def test_a_claimed_run_is_running_with_its_lease(state):
    berlin = T0.astimezone(ZoneInfo("Europe/Berlin"))
    run = make_run(started=berlin, scheduled_for=berlin)
    with stamping(state, T0) as at:
        claim = state.claim_run(run, now=T0)
    assert claim.blocked_by is None and claim.expired == ()
    stored = state.get(run.run_id)
    assert claim.run == stored
    assert replace(stored, lease=None, heartbeat=None) == replace(run, lease=None)
    assert stored.status == "running" and not stored.is_finished
    assert stored.started == T0 and stored.scheduled_for == T0
    lease = stored.lease
    assert (lease.owner, lease.host, lease.pid, lease.epoch) == (OWNER, "host-a", 100, 1)
    assert at.at(lease.expires, LEASE) and at.at(stored.heartbeat)
    assert state.get("20261128T060000000Z-000000") is None


def test_an_exclusive_claim_is_blocked_while_a_live_lease_holds(state):
    first = claimed(state, make_run())
    second = make_run(started=T0 + timedelta(seconds=30), owner="host-b:200:1")
    claim = state.claim_run(second, now=second.started)
    assert claim.run is None
    assert claim.blocked_by is not None and claim.blocked_by.run_id == first.run_id
    assert state.get(second.run_id) is None
    other_task = make_run("other/task", started=second.started)
    assert state.claim_run(other_task, now=second.started).run.run_id == other_task.run_id


def test_a_claim_that_is_not_exclusive_runs_beside_a_live_one(state):
    first = claimed(state, make_run())
    second = make_run(started=T0 + timedelta(seconds=1), owner="host-b:200:1")
    claim = state.claim_run(second, now=second.started, exclusive=False)
    assert claim.run.run_id == second.run_id
    assert [r.run_id for r in state.running("review/tag")] == [first.run_id, second.run_id]


def test_runs_whose_lease_expired_are_reported_to_the_claimant_not_closed(state):
    dead = claimed(state, make_run(lease=OVER))
    later = T0 + timedelta(seconds=1)
    claim = state.claim_run(make_run(started=later, owner="host-b:200:1"), now=later)
    assert claim.run is not None
    assert [r.run_id for r in claim.expired] == [dead.run_id]
    assert state.get(dead.run_id).status == "running"
    assert [r.run_id for r in state.expired(now=later)] == [dead.run_id], "the new run is live"


def test_two_handles_claiming_at_once_get_one_run(open_state):
    handles = [open_state() for _ in range(4)]
    barrier = threading.Barrier(len(handles))
    claims: list[RunRecord | None] = []

    def claim(handle: StateStore, n: int) -> None:
        run = make_run(owner=f"host-{n}:{n}:1")
        barrier.wait()
        claims.append(handle.claim_run(run, now=T0).run)

    threads = [threading.Thread(target=claim, args=(h, n)) for n, h in enumerate(handles)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([c for c in claims if c is not None]) == 1
    assert len(handles[0].running("review/tag")) == 1


def _claim_in_process(
    opener: OpenState, name: str, tasks: int, shared: int, barrier: Any, results: Any
) -> None:
    """One replica: an exclusive claim of each task, then `shared` claims beside each other."""
    state = opener()
    try:
        barrier.wait()
        won = []
        for n in range(tasks):
            claim = state.claim_run(make_run(f"task/{n}", owner=f"{name}:1:1"), now=T0)
            won += [claim.run.task_id] if claim.run else []
        epochs = [
            claimed(state, make_run("shared/task", owner=f"{name}:1:1")).lease.epoch
            for _ in range(shared)
        ]
        results.put((name, won, epochs))
    finally:
        state.close()


def test_processes_racing_for_claims_get_one_run_per_task_and_distinct_epochs(opener):
    context = multiprocessing.get_context("spawn")
    replicas, tasks, shared = 4, 10, 5
    barrier, results = context.Barrier(replicas), context.Queue()
    processes = [
        context.Process(
            target=_claim_in_process,
            args=(opener, f"replica-{n}", tasks, shared, barrier, results),
        )
        for n in range(replicas)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    won = sorted(task for _, tasks_won, _ in outcomes for task in tasks_won)
    assert won == sorted(f"task/{n}" for n in range(tasks)), "each task claimed exactly once"
    epochs = sorted(epoch for _, _, some in outcomes for epoch in some)
    assert epochs == list(range(1, replicas * shared + 1))
    state = opener()
    try:
        assert len(state.running()) == tasks + replicas * shared
    finally:
        state.close()


def test_only_the_owner_renews_the_lease(state):
    run = claimed(state, make_run())
    later = T0 + timedelta(seconds=10)
    with stamping(state, later) as at:
        assert state.heartbeat(run.run_id, OWNER, now=later, expires=later + LEASE)
    stored = state.get(run.run_id)
    assert at.at(stored.heartbeat) and at.at(stored.lease.expires, LEASE)
    assert stored.lease.epoch == run.lease.epoch
    assert not state.heartbeat(run.run_id, "host-b:200:1", now=later, expires=later + LEASE)
    assert not state.heartbeat("20261128T060000000Z-000000", OWNER, now=later, expires=later)
    finished(state, run)
    assert not state.heartbeat(run.run_id, OWNER, now=later, expires=later + LEASE)


def test_only_the_owner_checkpoints(state):
    run = claimed(state, make_run())
    assert state.checkpoint(run.run_id, OWNER, last_id=42, counts=Counts(matched=9, changed=4))
    stored = state.get(run.run_id)
    assert stored.checkpoint == 42 and stored.counts == Counts(matched=9, changed=4)
    assert not state.checkpoint(run.run_id, "host-b:200:1", last_id=50, counts=Counts())
    assert state.get(run.run_id).checkpoint == 42
    finished(state, run)
    assert not state.checkpoint(run.run_id, OWNER, last_id=60, counts=Counts())


def test_finish_records_the_outcome_and_drops_the_lease(state):
    run = claimed(state, make_run())
    end = T0 + timedelta(minutes=2)
    state.finish(
        run.run_id,
        status="failed",
        reason="error",
        counts=Counts(matched=5, failed=5),
        finished=end,
        error="boom",
    )
    stored = state.get(run.run_id)
    assert (stored.status, stored.reason, stored.error) == ("failed", "error", "boom")
    assert stored.finished == end and stored.counts == Counts(matched=5, failed=5)
    assert stored.lease is None and stored.is_finished
    assert state.running() == []
    assert state.claim_run(make_run(started=end), now=end).run is not None


def test_finish_by_the_owner_only_while_the_run_is_still_running(state):
    run = claimed(state, make_run())
    end = T0 + timedelta(minutes=2)
    outcome = {"status": "success", "reason": None, "counts": Counts(matched=1), "finished": end}
    assert not state.finish(run.run_id, **outcome, owner="host-b:200:2")
    assert state.get(run.run_id).status == "running"
    interrupted(state, run)
    # taken over and closed meanwhile: the former owner's outcome must not overwrite that
    assert not state.finish(run.run_id, **outcome, owner=OWNER)
    stored = state.get(run.run_id)
    assert (stored.status, stored.reason) == ("failed", "interrupted")
    other = claimed(state, make_run())
    assert state.finish(other.run_id, **outcome, owner=OWNER)
    assert state.get(other.run_id).status == "success"


def test_close_expired_waits_for_the_expiry_unless_the_owner_is_dead(state):
    run = claimed(state, make_run())
    assert state.close_expired(run.run_id, now=T0 + timedelta(seconds=30)) is None
    assert state.get(run.run_id).status == "running"
    lapsed = claimed(state, make_run("lapsed/task", lease=OVER))
    later = T0 + timedelta(seconds=1)
    with stamping(state, later) as at:
        closed = state.close_expired(lapsed.run_id, now=later)
    assert closed is not None
    assert (closed.status, closed.reason) == ("failed", "interrupted") and at.at(closed.finished)
    assert closed.lease is None and state.get(lapsed.run_id) == closed
    assert state.close_expired(lapsed.run_id, now=later) is None

    closed = state.close_expired(run.run_id, now=T0 + timedelta(seconds=1), dead=True)
    assert closed is not None and closed.reason == "interrupted"


def test_close_expired_leaves_a_renewed_run_alone(state):
    run = claimed(state, make_run(lease=OVER))
    renewed = T0 + timedelta(seconds=50)
    assert state.heartbeat(run.run_id, OWNER, now=renewed, expires=renewed + LEASE)
    assert state.close_expired(run.run_id, now=renewed + timedelta(seconds=1)) is None
    assert state.expired(now=renewed + timedelta(seconds=1)) == []


def test_resumable_is_the_latest_finished_run_when_it_was_interrupted(state):
    assert state.resumable("review/tag") is None
    first = interrupted(state, claimed(state, make_run()))
    assert state.resumable("review/tag").run_id == first.run_id
    assert state.resumable("other/task") is None

    running = claimed(state, make_run(started=T0 + LEASE * 3))
    assert state.resumable("review/tag").run_id == first.run_id, "running runs do not count"
    finished(state, running)
    assert state.resumable("review/tag") is None


def test_an_interrupted_undo_run_is_not_resumable(state):
    interrupted(
        state, claimed(state, make_run(trigger="undo", undo_of="20261127T060000000Z-abcdef"))
    )
    assert state.resumable("review/tag") is None


def test_an_interrupted_dry_run_is_not_resumable(state):
    dry = claimed(state, make_run(dry_run=True))
    assert state.checkpoint(dry.run_id, OWNER, last_id=500, counts=Counts(matched=900))
    interrupted(state, dry)
    assert state.resumable("review/tag") is None, "a real run must not skip objects 1-500"


def test_last_success_ignores_dry_runs_undo_runs_and_failures(state):
    assert state.last_success("review/tag") is None
    real = claimed(state, make_run())
    finished(state, real)
    later = [T0 + timedelta(minutes=n) for n in (1, 2, 3)]
    finished(state, claimed(state, make_run(started=later[0], dry_run=True)))
    finished(state, claimed(state, make_run(started=later[1], trigger="undo", undo_of=real.run_id)))
    finished(state, claimed(state, make_run(started=later[2])), "failed", reason="error")
    assert state.last_success("review/tag").run_id == real.run_id
    assert state.last_success("other/task") is None


def test_runs_are_listed_newest_first(state):
    made = [
        claimed(state, make_run(task, started=T0 + timedelta(minutes=n)))
        for n, task in enumerate(["a/one", "b/two", "a/one", "a/one"])
    ]
    for run in made[:2]:
        finished(state, run)
    newest_first = [r.run_id for r in reversed(made)]
    assert [r.run_id for r in state.runs()] == newest_first
    assert [r.run_id for r in state.runs("a/one")] == [
        made[3].run_id,
        made[2].run_id,
        made[0].run_id,
    ]
    assert [r.run_id for r in state.runs("a/one", limit=2)] == [made[3].run_id, made[2].run_id]
    assert sorted(state.run_ids("a/one")) == sorted(r.run_id for r in made if r.task_id == "a/one")
    assert [r.run_id for r in state.running()] == [made[2].run_id, made[3].run_id]


def test_forget_drops_runs(state):
    keep, drop = (claimed(state, make_run(started=T0 + timedelta(minutes=n))) for n in (0, 1))
    finished(state, keep)
    finished(state, drop)
    state.forget([drop.run_id])
    assert state.get(drop.run_id) is None
    assert [r.run_id for r in state.runs()] == [keep.run_id]
    state.forget([])
    assert len(state.runs()) == 1


# tasks: last-known-good specs


def make_task(task_id: str = "review/tag", **changes: object) -> TaskState:
    task = TaskState(
        task_id=task_id,
        spec={"module": "search", "description": task_id, "params": {"max_rows": 5}},
        spec_hash="b" * 64,
        path=f"/repo/tasks.d/{task_id}.yaml",
        error=None,
        enabled=True,
        first_seen=T0,
        updated=T0,
        evaluated_until=T0,
    )
    return replace(task, **changes)  # type: ignore[arg-type]


def test_tasks_are_stored_and_listed_by_id(state):
    second, first = make_task("z/last"), make_task("a/first", error="a.yaml:1:1: bad", spec=None)
    state.put_task(second)
    state.put_task(first)
    assert state.tasks() == [first, second]


def test_put_task_replaces_the_row_but_keeps_first_seen(state):
    state.put_task(make_task())
    later = T0 + timedelta(hours=1)
    newer = make_task(
        spec={"module": "search", "description": "new"},
        spec_hash="c" * 64,
        error="tag.yaml:3:1: unknown key",
        enabled=False,
        first_seen=later,
        updated=later,
        path="/repo/tasks.d/review/tag.yml",
    )
    state.put_task(newer)
    assert state.tasks() == [replace(newer, first_seen=T0)]


def test_put_tasks_writes_every_row_and_replaces_existing_ones(state):
    state.put_task(make_task("a/first", first_seen=T0 - timedelta(days=1)))
    later = T0 + timedelta(hours=1)
    rows = [make_task(f"b/{i:03d}") for i in range(200)]
    replaced = make_task("a/first", error="first.yaml:1:1: bad", updated=later)
    state.put_tasks([*rows, replaced])
    assert state.tasks() == [replace(replaced, first_seen=T0 - timedelta(days=1)), *rows]
    state.put_tasks([])
    assert len(state.tasks()) == 201


def test_removed_tasks_are_listed_only_on_request(state):
    state.put_task(make_task("a/kept"))
    state.put_task(make_task("b/gone", removed=True))
    assert [t.task_id for t in state.tasks()] == ["a/kept"]
    assert [(t.task_id, t.removed) for t in state.tasks(include_removed=True)] == [
        ("a/kept", False),
        ("b/gone", True),
    ]


def test_evaluated_until_only_moves_forward(state):
    state.put_task(make_task(evaluated_until=None))
    state.set_evaluated("review/tag", T0 + timedelta(hours=2))
    state.set_evaluated("review/tag", T0 + timedelta(hours=1))
    assert state.tasks()[0].evaluated_until == T0 + timedelta(hours=2)
    state.set_evaluated("review/tag", T0 + timedelta(hours=3))
    assert state.tasks()[0].evaluated_until == T0 + timedelta(hours=3)


# fires


def make_fire(
    task: str = "review/tag", at: datetime = T0, by: str = "daemon-a", **changes: object
) -> FireRecord:
    fire = FireRecord(task, at, claimed_at=at + timedelta(seconds=1), claimed_by=by, outcome="run")
    return replace(fire, **changes)  # type: ignore[arg-type]


def test_a_fire_is_claimed_once(state):
    assert state.claim_fire(make_fire(spec_hash="d" * 64))
    assert not state.claim_fire(make_fire(by="daemon-b", outcome="skipped"))
    berlin = T0.astimezone(ZoneInfo("Europe/Berlin"))
    assert not state.claim_fire(make_fire(at=berlin, by="daemon-b")), "keys are instants"
    assert state.claim_fire(make_fire(at=T0 + timedelta(hours=1), by="daemon-b"))
    assert state.claim_fire(make_fire("other/task", by="daemon-b"))
    fires = state.fires("review/tag")
    assert [(f.scheduled_for, f.claimed_by) for f in fires] == [
        (T0, "daemon-a"),
        (T0 + timedelta(hours=1), "daemon-b"),
    ]
    assert fires[0] == make_fire(spec_hash="d" * 64)
    assert len(state.fires()) == 3


def test_fires_claimed_together_are_each_claimed_once(open_state):
    first, second = open_state(), open_state()
    assert first.claim_fire(make_fire("t/002", by="daemon-b"))
    batch = [make_fire(f"t/{i:03d}") for i in range(5)]
    assert first.claim_fires(batch) == [True, True, False, True, True]
    assert second.claim_fires([*batch[:2], make_fire("t/009", by="daemon-b")]) == [
        False,
        False,
        True,
    ]
    assert first.claim_fires([]) == []
    owners = {fire.task_id: fire.claimed_by for fire in second.fires()}
    assert owners == {f"t/00{i}": "daemon-a" for i in (0, 1, 3, 4)} | {
        "t/002": "daemon-b",
        "t/009": "daemon-b",
    }


def test_a_fire_claimed_through_one_handle_is_taken_for_another(open_state):
    first, second = open_state(), open_state()
    assert first.claim_fire(make_fire(by="daemon-a"))
    assert not second.claim_fire(make_fire(by="daemon-b"))
    assert [f.claimed_by for f in second.fires()] == ["daemon-a"]


def test_two_handles_racing_for_the_same_fires_each_win_some_and_none_twice(open_state):
    handles = [open_state(), open_state()]
    instants = [T0 + timedelta(minutes=n) for n in range(40)]
    barrier = threading.Barrier(len(handles))
    won: dict[str, list[datetime]] = {}

    def claim_all(handle: StateStore, name: str) -> None:
        barrier.wait()
        won[name] = [at for at in instants if handle.claim_fire(make_fire(at=at, by=name))]

    threads = [
        threading.Thread(target=claim_all, args=(h, f"daemon-{n}")) for n, h in enumerate(handles)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won["daemon-0"] + won["daemon-1"]) == instants
    assert [f.scheduled_for for f in handles[0].fires()] == instants


def test_a_fire_records_its_run_and_its_outcome(state):
    state.claim_fire(make_fire())
    state.set_fire_run("review/tag", T0, "20261128T060001000Z-abcdef")
    assert state.fires()[0].run_id == "20261128T060001000Z-abcdef"
    state.set_fire_outcome("review/tag", T0, "skipped", "concurrency forbid: run x is running")
    fire = state.fires()[0]
    assert (fire.outcome, fire.detail) == ("skipped", "concurrency forbid: run x is running")


def test_has_at_fire_only_for_at_fires_of_the_task(state):
    assert not state.has_at_fire("review/tag")
    state.claim_fire(make_fire())
    assert not state.has_at_fire("review/tag")
    state.claim_fire(make_fire("once/task", kind="at", outcome="missed"))
    assert state.has_at_fire("once/task")
    assert not state.has_at_fire("review/tag")


# daemons


def make_daemon(name: str, started: datetime = T0) -> DaemonRecord:
    return DaemonRecord(name, "host-a", 100, started, started, git_commit="e" * 40)


def test_daemons_register_heartbeat_and_stop(state):
    second = T0 + timedelta(seconds=1)
    with stamping(state, T0) as first_at:
        state.register_daemon(make_daemon("d-1"))
    with stamping(state, second) as second_at:
        state.register_daemon(make_daemon("d-2", second))
    one, two = state.daemons()
    assert replace(one, started=T0, heartbeat=T0) == make_daemon("d-1")
    assert replace(two, started=second, heartbeat=second) == make_daemon("d-2", second)
    assert first_at.at(one.started) and first_at.at(one.heartbeat)
    assert second_at.at(two.started) and second_at.at(two.heartbeat)
    with stamping(state, T0 + timedelta(minutes=5)) as beat:
        state.daemon_heartbeat("d-1", T0 + timedelta(minutes=5))
    with stamping(state, T0 + timedelta(minutes=1)) as stop:
        state.daemon_stopped("d-2", T0 + timedelta(minutes=1))
    one, two = state.daemons()
    assert beat.at(one.heartbeat) and one.stopped is None
    assert stop.at(two.stopped)


def test_only_live_daemons_are_listed_when_asked(state):
    now = T0 + timedelta(hours=1)
    state.register_daemon(make_daemon("stale", T0))
    state.register_daemon(make_daemon("fresh", now - timedelta(seconds=5)))
    state.register_daemon(make_daemon("stopped", now - timedelta(seconds=5)))
    state.daemon_stopped("stopped", now)
    beats = {daemon.id: daemon.heartbeat for daemon in state.daemons()}
    assert beats["stale"] < beats["fresh"] <= beats["stopped"]
    assert [d.id for d in state.daemons(live_since=beats["fresh"])] == ["fresh"]
    assert [d.id for d in state.daemons()] == ["stale", "fresh", "stopped"]
    assert live_since(now) == now - timedelta(seconds=30)


# epochs: a fencing token per task


def test_each_claim_of_a_task_gets_the_next_epoch(state):
    first = claimed(state, make_run())
    finished(state, first)
    second = claimed(state, make_run(started=T0 + timedelta(minutes=1)))
    beside = claimed(state, make_run(started=T0 + timedelta(minutes=2), owner="host-b:200:1"))
    other = claimed(state, make_run("other/task"))
    assert [r.lease.epoch for r in (first, second, beside, other)] == [1, 2, 3, 1]
    assert state.get(beside.run_id).lease.epoch == 3
    blocked = state.claim_run(make_run(started=T0 + timedelta(minutes=3)), now=T0)
    assert blocked.run is None
    interrupted(state, second)
    assert claimed(state, make_run(started=T0 + timedelta(minutes=4))).lease.epoch == 4


def test_an_epoch_does_not_let_a_former_owner_write(state):
    run = claimed(state, make_run(lease=OVER))
    interrupted(state, run)
    successor = state.claim_run(make_run(owner="host-b:200:1"), now=T0).run
    assert successor is not None and successor.lease.epoch == run.lease.epoch + 1
    assert not state.heartbeat(run.run_id, OWNER, now=T0, expires=T0 + LEASE)
    assert not state.checkpoint(run.run_id, OWNER, last_id=7, counts=Counts())
    assert not state.heartbeat(successor.run_id, OWNER, now=T0, expires=T0 + LEASE)
    assert state.checkpoint(successor.run_id, "host-b:200:1", last_id=7, counts=Counts())


# the state's clock


def test_server_time_is_the_databases_clock_or_none_for_a_file(state):
    first, second = state.server_time(), state.server_time()
    if isinstance(state, SqliteState):
        assert first is None and second is None
        return
    assert first is not None and second is not None and first <= second
    assert first.utcoffset() == timedelta(0)
    assert abs(first - datetime.now(UTC)) < timedelta(seconds=5), "the test server is local"


@pytest.fixture
def pg_state(pg_dsn: str) -> Iterator[PostgresState]:
    migrate(pg_dsn)
    state = PostgresState(pg_dsn)
    yield state
    state.close()


def test_postgres_leases_run_on_the_database_clock_not_the_callers(pg_state):
    db = pg_state.server_time()
    behind, ahead = db - timedelta(hours=1), db + timedelta(hours=1)
    run = claimed(pg_state, make_run(started=behind))
    assert db + LEASE <= run.lease.expires <= pg_state.server_time() + LEASE
    assert db <= run.heartbeat and run.started == behind, "the start is the caller's"
    assert pg_state.expired(now=ahead) == [], "by the caller's clock it ran out long ago"
    assert pg_state.close_expired(run.run_id, now=ahead) is None
    blocked = pg_state.claim_run(make_run(started=ahead, owner="host-b:200:1"), now=ahead)
    assert blocked.run is None and blocked.blocked_by.run_id == run.run_id

    short = claimed(pg_state, make_run("short/task", started=ahead, lease=timedelta(seconds=0.3)))
    assert short.lease.expires < db + timedelta(seconds=5), "an hour ahead stretches nothing"
    while pg_state.server_time() <= short.lease.expires:  # the subject is the database's clock
        time.sleep(0.05)
    assert [r.run_id for r in pg_state.expired(now=behind)] == [short.run_id]
    closed = pg_state.close_expired(short.run_id, now=behind)
    assert closed is not None and closed.finished > short.lease.expires


def test_postgres_heartbeats_apply_the_lease_length_to_the_database_clock(pg_state):
    run = claimed(pg_state, make_run())
    caller = pg_state.server_time() - timedelta(hours=1)
    before = pg_state.server_time()
    assert pg_state.heartbeat(run.run_id, OWNER, now=caller, expires=caller + LEASE)
    stored = pg_state.get(run.run_id)
    assert before <= stored.heartbeat <= pg_state.server_time()
    assert stored.lease.expires == stored.heartbeat + LEASE


def test_postgres_daemons_are_live_by_the_database_clock(pg_state):
    an_hour_ago = pg_state.server_time() - timedelta(hours=1)
    pg_state.register_daemon(make_daemon("d-1", an_hour_ago))
    pg_state.daemon_heartbeat("d-1", an_hour_ago)
    live = pg_state.daemons(live_since=live_since(pg_state.server_time()))
    assert [d.id for d in live] == ["d-1"] and live[0].started > an_hour_ago


def test_postgres_ids_sort_by_code_point_whatever_the_locale(pg_state):
    for task_id in ("b/x", "a-b/x", "a/x", "B/x", "a_b/x"):
        pg_state.put_task(make_task(task_id))
    assert [t.task_id for t in pg_state.tasks()] == sorted(["b/x", "a-b/x", "a/x", "B/x", "a_b/x"])


# PostgreSQL: versioned, migrated only by `runner state migrate`, refused otherwise


def _recorded_version(dsn: str, version: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM state_migrations")
        conn.execute("INSERT INTO state_migrations (version) VALUES (%s)", (version,))


def test_a_database_without_the_schema_is_refused_until_migrated(pg_dsn):
    with pytest.raises(SchemaOutdated, match=r"version 0, .* needs 1: run `runner state migrate`"):
        PostgresState(pg_dsn)
    assert migrate(pg_dsn) == (0, PG_SCHEMA_VERSION)
    assert migrate(pg_dsn) == (PG_SCHEMA_VERSION, PG_SCHEMA_VERSION)
    PostgresState(pg_dsn).close()


def test_an_older_or_newer_schema_is_refused(pg_dsn):
    migrate(pg_dsn)
    _recorded_version(pg_dsn, PG_SCHEMA_VERSION - 1)
    with pytest.raises(SchemaOutdated, match="run `runner state migrate`") as older:
        PostgresState(pg_dsn)
    assert (older.value.found, older.value.wanted) == (PG_SCHEMA_VERSION - 1, PG_SCHEMA_VERSION)
    _recorded_version(pg_dsn, PG_SCHEMA_VERSION + 1)
    with pytest.raises(SchemaOutdated, match="newer than this runner knows"):
        PostgresState(pg_dsn)
    with pytest.raises(SchemaOutdated, match="newer than this runner knows"):
        migrate(pg_dsn)


def test_replicas_migrating_at_once_migrate_once(pg_dsn):
    barrier = threading.Barrier(3)
    outcomes: list[tuple[int, int]] = []

    def run() -> None:
        barrier.wait()
        outcomes.append(migrate(pg_dsn))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    now = PG_SCHEMA_VERSION
    assert sorted(outcomes) == [(0, now), (now, now), (now, now)]


def test_a_database_that_cannot_be_reached_is_a_clear_error_without_the_password(tmp_path):
    dsn = f"postgresql://runner:hunter2@/runner?host={tmp_path}&connect_timeout=2"
    with pytest.raises(RunnerError, match=r"state database postgresql://runner:\*\*\*@") as error:
        PostgresState(dsn)
    assert "hunter2" not in str(error.value)


# the SQLite file: versioned, migrated in place, refused when newer


def _v1_file(path: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](db)
    db.execute(
        """INSERT INTO runs (run_id, task_id, trigger, started, finished, status, spec_hash,
               run_as, dry_run, log_path, counts)
           VALUES ('20261101T060000000Z-abcdef', 'review/tag', 'manual',
               '2026-11-01T06:00:00.000000Z', '2026-11-01T06:00:05.000000Z', 'success',
               'hash', 'editor', 0, '/logs/x.jsonl', '{"matched": 4, "changed": 4}')"""
    )
    db.execute("PRAGMA user_version = 1")
    db.close()


def _version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def test_a_v1_file_is_migrated_in_place_keeping_its_runs(tmp_path):
    path = tmp_path / "state.db"
    _v1_file(path)
    state = SqliteState(path)
    try:
        assert _version(path) == SCHEMA_VERSION
        run = state.get("20261101T060000000Z-abcdef")
        assert run is not None and run.status == "success"
        assert run.counts == Counts(matched=4, changed=4)
        assert state.last_success("review/tag") == run
        assert state.tasks() == [] and state.daemons() == []
        assert state.claim_fire(make_fire())
        assert claimed(state, make_run()).lease.epoch == 1, "runs before epochs had none"
    finally:
        state.close()
    again = SqliteState(path)
    assert again.get("20261101T060000000Z-abcdef") is not None
    again.close()


def test_a_newer_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "state.db"
    SqliteState(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateTooNew, match="newer than this runner supports"):
        SqliteState(path)
    assert _version(path) == SCHEMA_VERSION + 1


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path):
    path = tmp_path / "state.db"
    path.write_text("not a database, just text that is long enough to have a header " * 4)
    with pytest.raises(RunnerError, match=r"state file .*state\.db cannot be used"):
        SqliteState(path)
