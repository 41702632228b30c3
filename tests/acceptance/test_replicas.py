"""Several daemon replicas on one PostgreSQL database (a real server, started by the tests).

Three replicas through a simulated hour run every fire exactly once; a replica killed while it
holds a run, or paused past its lease, is taken over by another, which closes the run and
resumes it, and no object is changed twice; a replica whose clock is off refuses to start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.schedule import fires_between
from runner.spec.task import validate_task
from runner.spec.yamlsafe import load
from runner.state.base import RunRecord
from runner.state.postgres import PostgresState
from tests.conftest import ROOT, run_cli
from tests.pg_server import url_of

LEASE = 3  # seconds: short, so that take-overs happen within a test


def make_repo(
    root: Path, dsn: str, tasks: dict[str, str], *, objects: int = 0, lease: int = LEASE
) -> Path:
    """A task repository whose state and store are the test database, migrated and seeded."""
    url = url_of(dsn)
    shutil.copy(ROOT / "datamodel.yaml", root / "datamodel.yaml")
    (root / "runner.yaml").write_text(
        f"version: 1\ntimezone: UTC\nstate: {url}\nstore:\n  type: postgres\n  dsn: {url}\n"
        f"lease: {lease}s\nmax_parallel_runs: 4\n"
    )
    (root / "tasks.d").mkdir()
    for name, text in tasks.items():
        (root / "tasks.d" / f"{name}.yaml").write_text(text)
    for command in (["state", "migrate"], ["store", "init"]):
        done = run_cli(*command, cwd=root)
        assert done.code == 0, done.err
    if objects:
        done = run_cli("store", "seed", "--objects", str(objects), "--files", "0", cwd=root)
        assert done.code == 0, done.err
    return root


def python_env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}


# three replicas, a simulated hour

BUSY = """version: 1
description: busy {index}
module: search
run_as: root
schedule:
  cron: "*/5 * * * *"
  concurrency: allow
search:
  objecttypes: [people]
"""


@pytest.mark.slow
def test_three_replicas_run_every_fire_of_a_simulated_hour_exactly_once(tmp_path, pg_dsn):
    tasks = {f"t{i:02}": BUSY.format(index=i) for i in range(50)}
    # the drivers renew leases only between ticks: a lease long enough for a loaded machine
    root = make_repo(tmp_path, pg_dsn, tasks, objects=50, lease=60)
    end = datetime.now(UTC) + timedelta(hours=1)
    replicas = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.replica_driver", str(root), name, end.isoformat()],
            cwd=ROOT,
            env=python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("r1", "r2", "r3")
    ]
    reports, events = [], []
    for replica in replicas:
        out, err = replica.communicate(timeout=600)
        assert replica.returncode == 0, err
        assert "Traceback" not in err, err
        reports.append(json.loads(out))
        events += [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [e for e in events if e["level"] == "error"] == []

    state = PostgresState(pg_dsn)
    try:
        fires, runs, known = state.fires(), state.runs(), state.tasks()
    finally:
        state.close()
    first_seen = {task.task_id: task.first_seen for task in known}
    expected = {
        (task_id, instant)
        for task_id in tasks
        for instant in scheduled(root, task_id, first_seen[task_id], end)
    }
    assert len(expected) >= 500
    claimed = [(fire.task_id, fire.scheduled_for) for fire in fires]
    assert sorted(claimed) == sorted(expected)  # none missing, none twice
    assert {fire.outcome for fire in fires} == {"run"}
    by_id = {run.run_id: run for run in runs}
    assert len({fire.run_id for fire in fires}) == len(fires)
    for fire in fires:
        run = by_id[fire.run_id]
        assert (run.task_id, run.scheduled_for) == (fire.task_id, fire.scheduled_for)
        assert run.status == "success", (run.reason, run.error)
    assert len(runs) == len(fires)
    assert sum(report["runs"] for report in reports) == len(fires)


def scheduled(root: Path, task_id: str, start: datetime, end: datetime) -> list[datetime]:
    data, _ = load((root / "tasks.d" / f"{task_id}.yaml").read_text())
    spec = validate_task(data, task_id)
    assert spec.schedule is not None
    return [t for t in fires_between(spec.schedule, task_id, start=start, end=end) if t <= end]


# take-over of a run whose replica stopped

TAG_ALL = """version: 1
description: Mark every image as a favourite
module: set_unset_tags
run_as: root
schedule:
  at: now
search:
  objecttypes: [images]
limits:
  batch_size: 200
params:
  tags:
    - {reference: favourite, set: true}
"""
OBJECTS = 15_000  # a third of them images


class Replica:
    """`runner daemon` in its own process; its stderr (JSON lines) goes to a file."""

    def __init__(self, root: Path, name: str) -> None:
        self.errors = root / f"{name}.stderr"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runner", "daemon"],
            cwd=root,
            env=python_env(),
            stdout=subprocess.DEVNULL,
            stderr=self.errors.open("w"),
        )

    def events(self) -> list[dict[str, Any]]:
        lines = self.errors.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{") and line.endswith("}")]

    def saw(self, event: str) -> bool:
        return any(line["event"] == event for line in self.events())

    def stop(self) -> None:
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=60)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextmanager
def replicas(root: Path, count: int) -> Iterator[list[Replica]]:
    started = [Replica(root, f"r{i}") for i in range(1, count + 1)]
    try:
        yield started
    finally:
        for replica in started:
            replica.stop()
        for replica in started:
            assert "Traceback" not in replica.errors.read_text(), replica.errors.read_text()


def wait_for(condition: Callable[[], Any], what: str, limit: float = 120.0) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def runs_of(dsn: str) -> list[RunRecord]:
    state = PostgresState(dsn)
    try:
        return state.runs("tag-all")
    finally:
        state.close()


def holding_a_run(dsn: str, root: Path) -> RunRecord | None:
    """The running run of tag-all once its first batch is done (so it is mid-way)."""
    for run in runs_of(dsn):
        if run.status == "running" and run.lease is not None:
            log = Path(run.log_path)
            log = log if log.is_absolute() else root / log
            if log.exists() and '"batch_done"' in log.read_text():
                return run
    return None


def resumed_and_finished(dsn: str, stopped: RunRecord) -> RunRecord | None:
    for run in runs_of(dsn):
        if run.resumed_from == stopped.run_id and run.status == "success":
            return run
    return None


FAVOURITE = 20  # the tag's id in datamodel.yaml


def images(root: Path) -> dict[int, tuple[int, bool]]:
    """Per image: its version and whether it has the favourite tag."""
    done = run_cli("store", "export", cwd=root)
    assert done.code == 0, done.err
    records = [json.loads(line) for line in done.out.splitlines()]
    return {
        r["_system_object_id"]: (
            r["images"]["_version"],
            any(tag["_id"] == FAVOURITE for tag in r["_tags"]),
        )
        for r in records
        if "images" in r
    }


def assert_every_image_changed_once(before: dict[int, tuple[int, bool]], root: Path) -> None:
    """Tagged by the run and its resumption together, each object once: one version more
    where the tag was missing, none where it was there."""
    after = images(root)
    assert after.keys() == before.keys() and len(after) > 1000
    assert sum(not had for _, had in before.values()) > 1000
    for object_id, (version, had) in before.items():
        assert after[object_id] == (version + (0 if had else 1), True), object_id


def owner_process(run: RunRecord, group: list[Replica]) -> Replica:
    assert run.lease is not None
    return next(r for r in group if r.process.pid == run.lease.pid)


@pytest.mark.slow
def test_a_killed_replica_s_run_is_taken_over_closed_and_resumed(tmp_path, pg_dsn):
    root = make_repo(tmp_path, pg_dsn, {}, objects=OBJECTS)
    before = images(root)
    (root / "tasks.d" / "tag-all.yaml").write_text(TAG_ALL)
    with replicas(root, 2) as group:
        run = wait_for(lambda: holding_a_run(pg_dsn, root), "a run mid-way")
        holder = owner_process(run, group)
        os.kill(holder.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        other = next(r for r in group if r is not holder)
        wait_for(lambda: other.saw("run_closed"), "the other replica to close the run")
        taken_after = time.monotonic() - killed_at
        resumed = wait_for(lambda: resumed_and_finished(pg_dsn, run), "the resumed run")
    closed = next(r for r in runs_of(pg_dsn) if r.run_id == run.run_id)
    assert (closed.status, closed.reason) == ("failed", "interrupted")
    assert resumed.checkpoint >= run.checkpoint
    # lease, plus one heartbeat interval, plus process start-up slack on a loaded machine
    assert taken_after < LEASE + 1 + 30
    assert_every_image_changed_once(before, root)


@pytest.mark.slow
def test_a_paused_replica_is_fenced_off_and_steps_back(tmp_path, pg_dsn):
    root = make_repo(tmp_path, pg_dsn, {}, objects=OBJECTS)
    before = images(root)
    (root / "tasks.d" / "tag-all.yaml").write_text(TAG_ALL)
    with replicas(root, 2) as group:
        run = wait_for(lambda: holding_a_run(pg_dsn, root), "a run mid-way")
        paused = owner_process(run, group)
        os.kill(paused.process.pid, signal.SIGSTOP)
        wait_for(lambda: resumed_and_finished(pg_dsn, run), "the other replica to resume the run")
        os.kill(paused.process.pid, signal.SIGCONT)
        wait_for(lambda: paused.saw("run_lease_lost"), "the paused replica to step back")
        assert paused.process.poll() is None  # it stepped back, it did not crash
    closed = next(r for r in runs_of(pg_dsn) if r.run_id == run.run_id)
    assert (closed.status, closed.reason) == ("failed", "interrupted")
    log = Path(closed.log_path)
    lines = [
        json.loads(x) for x in (log if log.is_absolute() else root / log).read_text().splitlines()
    ]
    assert lines[-1]["event"] == "run_finished" and lines[-1]["reason"] == "interrupted"
    assert_every_image_changed_once(before, root)


def test_a_replica_whose_clock_is_off_refuses_to_start(tmp_path, pg_dsn):
    root = make_repo(tmp_path, pg_dsn, {"t00": BUSY.format(index=0)})
    end = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    done = subprocess.run(
        [sys.executable, "-m", "tests.replica_driver", str(root), "off", end, "--offset", "300"],
        cwd=ROOT,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    # the fake clock stands still while the process starts: a little under 300 s by then
    found = re.search(r"clock is (\d+) s ahead of the database's", done.stderr)
    assert found is not None and 240 <= int(found[1]) <= 300, done.stderr
