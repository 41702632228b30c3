"""The daemon's fires of a task that is already running (`concurrency: forbid`, the default):
each such fire is recorded as skipped, with the reason, and no second run starts."""

from __future__ import annotations

import io
import os
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runner.daemon.events import EventSink
from runner.daemon.scheduler import Daemon, DaemonOptions
from runner.runs.log import fires_log_path
from runner.state.base import Lease, RunRecord
from runner.state.sqlite import SqliteState
from tests.fake_clock import FakeClock
from tests.unit.test_daemon_sim import drive, make_repo
from tests.unit.test_state_contract import make_run

T0 = datetime(2026, 3, 2, 8, 0, 30, tzinfo=UTC)
TASK = (
    "version: 1\ndescription: every five minutes\nmodule: search\nrun_as: root\n"
    'schedule:\n  cron: "*/5 * * * *"\n'
    "search:\n  objecttypes: [people]\n"
)


def manual_run(task_id: str, started: datetime) -> RunRecord:
    """A run in progress in another live process on this host, as `runner run` holds it."""
    host, pid = socket.gethostname(), os.getpid()
    run = make_run(task_id, started=started, run_as="root")
    return replace(
        run, lease=Lease(f"{host}:{pid}:manual", host, pid, started + timedelta(hours=1))
    )


def test_fires_while_another_process_runs_the_task_are_skipped(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"tick": TASK})
    clock = FakeClock(T0)
    state = SqliteState(root / ".runner/state.db")
    held = state.claim_run(manual_run("tick", T0), now=T0)
    assert held.run is not None
    state.close()

    events = io.StringIO()
    options = DaemonOptions(None, root, daemon_id="d1", heartbeat=timedelta(minutes=30))
    daemon = Daemon(options, clock, EventSink("d1", clock.now, events))
    daemon.start()
    try:
        drive(daemon, clock, T0 + timedelta(minutes=11))
    finally:
        daemon.stop()
        daemon.close()

    state = SqliteState(root / ".runner/state.db")
    try:
        fires = [(f.scheduled_for, f.outcome, f.detail) for f in state.fires()]
        runs = state.runs()
    finally:
        state.close()
    reason = f"task 'tick' is already running (run {held.run.run_id})"
    assert [(when, outcome) for when, outcome, _ in fires] == [
        (datetime(2026, 3, 2, 8, 5, tzinfo=UTC), "skipped"),
        (datetime(2026, 3, 2, 8, 10, tzinfo=UTC), "skipped"),
    ]
    assert all(detail is not None and reason in detail for _, _, detail in fires)
    assert [r.run_id for r in runs] == [held.run.run_id]  # no second run started
    assert events.getvalue().count('"fire_skipped"') == 2
    log = fires_log_path(daemon.workspace.config.logs_dir, "tick")
    assert log.read_text().count("fire_skipped") == 2
