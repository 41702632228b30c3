"""The StateStore contract: every implementation passes the same tests.

Each backend is a factory in BACKENDS that, given a test's tmp_path, returns a function opening
a fresh handle on one and the same storage (so "two processes" are two handles). Only SQLite
exists so far; a PostgreSQL backend adds its factory (a fresh database per test) and passes
this file unchanged. The schema tests at the end are about the SQLite file itself.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from runner.errors import RunnerError
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
from runner.state.sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteState, StateTooNew

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
OWNER = "host-a:100:1"

OpenState = Callable[[], StateStore]


def _sqlite(tmp_path: Path) -> OpenState:
    path = tmp_path / "state" / "state.db"
    return lambda: SqliteState(path)


BACKENDS: dict[str, Callable[[Path], OpenState]] = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(BACKENDS))
def open_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenState]:
    """Opens handles on one storage; all are closed after the test."""
    factory = BACKENDS[request.param](tmp_path)
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
    claim = state.claim_run(run, now=T0)
    assert claim.run == run and claim.blocked_by is None and claim.expired == ()
    stored = state.get(run.run_id)
    assert stored.status == "running" and not stored.is_finished
    assert stored.started == T0 and stored.scheduled_for == T0
    assert stored.lease == run.lease
    assert stored.heartbeat == T0
    assert state.get("20261128T060000000Z-000000") is None


def test_an_exclusive_claim_is_blocked_while_a_live_lease_holds(state):
    first = claimed(state, make_run())
    second = make_run(started=T0 + timedelta(seconds=30), owner="host-b:200:1")
    claim = state.claim_run(second, now=second.started)
    assert claim.run is None
    assert claim.blocked_by is not None and claim.blocked_by.run_id == first.run_id
    assert state.get(second.run_id) is None
    other_task = make_run("other/task", started=second.started)
    assert state.claim_run(other_task, now=second.started).run == other_task


def test_a_claim_that_is_not_exclusive_runs_beside_a_live_one(state):
    first = claimed(state, make_run())
    second = make_run(started=T0 + timedelta(seconds=1), owner="host-b:200:1")
    claim = state.claim_run(second, now=second.started, exclusive=False)
    assert claim.run == second
    assert [r.run_id for r in state.running("review/tag")] == [first.run_id, second.run_id]


def test_runs_whose_lease_expired_are_reported_to_the_claimant_not_closed(state):
    dead = claimed(state, make_run())
    later = T0 + LEASE + timedelta(seconds=1)
    claim = state.claim_run(make_run(started=later, owner="host-b:200:1"), now=later)
    assert claim.run is not None
    assert [r.run_id for r in claim.expired] == [dead.run_id]
    assert state.get(dead.run_id).status == "running"
    assert [r.run_id for r in state.expired(now=later)] == [dead.run_id]
    assert state.expired(now=T0 + timedelta(seconds=1)) == []


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


def test_only_the_owner_renews_the_lease(state):
    run = claimed(state, make_run())
    later = T0 + timedelta(seconds=10)
    assert state.heartbeat(run.run_id, OWNER, now=later, expires=later + LEASE)
    stored = state.get(run.run_id)
    assert stored.heartbeat == later and stored.lease.expires == later + LEASE
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


def test_close_expired_waits_for_the_expiry_unless_the_owner_is_dead(state):
    run = claimed(state, make_run())
    assert state.close_expired(run.run_id, now=T0 + timedelta(seconds=30)) is None
    assert state.get(run.run_id).status == "running"
    later = T0 + LEASE + timedelta(seconds=1)
    closed = state.close_expired(run.run_id, now=later)
    assert closed is not None
    assert (closed.status, closed.reason, closed.finished) == ("failed", "interrupted", later)
    assert state.close_expired(run.run_id, now=later) is None

    other = claimed(state, make_run("other/task"))
    closed = state.close_expired(other.run_id, now=T0 + timedelta(seconds=1), dead=True)
    assert closed is not None and closed.reason == "interrupted"


def test_close_expired_leaves_a_renewed_run_alone(state):
    run = claimed(state, make_run())
    renewed = T0 + timedelta(seconds=50)
    assert state.heartbeat(run.run_id, OWNER, now=renewed, expires=renewed + LEASE)
    assert state.close_expired(run.run_id, now=T0 + LEASE + timedelta(seconds=1)) is None


def test_resumable_is_the_latest_finished_run_when_it_was_interrupted(state):
    assert state.resumable("review/tag") is None
    first = claimed(state, make_run())
    state.close_expired(first.run_id, now=T0 + LEASE * 2)
    assert state.resumable("review/tag").run_id == first.run_id
    assert state.resumable("other/task") is None

    running = claimed(state, make_run(started=T0 + LEASE * 3))
    assert state.resumable("review/tag").run_id == first.run_id, "running runs do not count"
    finished(state, running)
    assert state.resumable("review/tag") is None


def test_an_interrupted_undo_run_is_not_resumable(state):
    undo = claimed(state, make_run(trigger="undo", undo_of="20261127T060000000Z-abcdef"))
    state.close_expired(undo.run_id, now=T0 + LEASE * 2)
    assert state.resumable("review/tag") is None


def test_an_interrupted_dry_run_is_not_resumable(state):
    dry = claimed(state, make_run(dry_run=True))
    assert state.checkpoint(dry.run_id, OWNER, last_id=500, counts=Counts(matched=900))
    state.close_expired(dry.run_id, now=T0 + LEASE * 2)
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
    state.register_daemon(make_daemon("d-1"))
    state.register_daemon(make_daemon("d-2", T0 + timedelta(seconds=1)))
    assert state.daemons() == [make_daemon("d-1"), make_daemon("d-2", T0 + timedelta(seconds=1))]
    state.daemon_heartbeat("d-1", T0 + timedelta(minutes=5))
    state.daemon_stopped("d-2", T0 + timedelta(minutes=1))
    one, two = state.daemons()
    assert one.heartbeat == T0 + timedelta(minutes=5) and one.stopped is None
    assert two.stopped == T0 + timedelta(minutes=1)


def test_only_live_daemons_are_listed_when_asked(state):
    now = T0 + timedelta(hours=1)
    state.register_daemon(make_daemon("fresh", now - timedelta(seconds=5)))
    state.register_daemon(make_daemon("stale", T0))
    state.register_daemon(make_daemon("stopped", now - timedelta(seconds=5)))
    state.daemon_stopped("stopped", now)
    assert [d.id for d in state.daemons(live_since=live_since(now))] == ["fresh"]
    assert [d.id for d in state.daemons()] == ["stale", "fresh", "stopped"]
    assert live_since(now) == now - timedelta(seconds=30)


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
