"""The scheduler under a fake clock: a simulated week across a DST change, downtime with each
missed-fire policy, and two daemons sharing one state file."""

from __future__ import annotations

import io
import json
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.daemon.events import EventSink
from runner.daemon.scheduler import Daemon, DaemonOptions
from runner.schedule import fires_between
from runner.spec.task import validate_task
from runner.state.sqlite import SqliteState
from runner.store.sqlite import SqliteStore
from tests.conftest import ROOT
from tests.fake_clock import FakeClock

SCHEDULES = [
    'cron: "0 */6 * * *"',
    'cron: "30 2 * * *"',  # fixed-time, inside the spring-forward gap in Berlin
    'cron: "H H * * *"',
    'cron: ["15 9 * * 1-5", "0 12 * * 6,0"]',
    'cron: "@daily"',
    "every:\n    - {weekdays: [monday, wednesday, friday], hours: [7, 19], minutes: [5]}",
    "every:\n    - {hours: [1, 2, 3], minutes: [0, 30]}",
]
ZONES = ["Europe/Berlin", "America/New_York", "UTC", "Australia/Lord_Howe"]


def task_text(index: int) -> str:
    schedule = SCHEDULES[index % len(SCHEDULES)]
    zone = ZONES[index % len(ZONES)]
    return (
        f"version: 1\ndescription: simulated task {index}\nmodule: search\nrun_as: root\n"
        f"schedule:\n  {schedule}\n  timezone: {zone}\n"
        "search:\n  objecttypes: [people]\n"
    )


def make_repo(root: Path, tasks: dict[str, str]) -> Path:
    shutil.copy(ROOT / "datamodel.yaml", root / "datamodel.yaml")
    (root / "runner.yaml").write_text("version: 1\ntimezone: UTC\nmax_parallel_runs: 4\n")
    (root / "tasks.d").mkdir()
    for name, text in tasks.items():
        (root / "tasks.d" / f"{name}.yaml").write_text(text)
    store = SqliteStore(root / ".runner/store.db", root / ".runner/assets")
    from runner.spec.files import load_datamodel_file

    model = load_datamodel_file(root / "datamodel.yaml").value
    assert model is not None
    store.init(model)
    store.close()
    return root


def daemon(root: Path, clock: FakeClock, name: str = "d1") -> Daemon:
    # heartbeats every 30 simulated minutes keep the number of idle ticks small
    options = DaemonOptions(None, root, daemon_id=name, heartbeat=timedelta(minutes=30))
    return Daemon(options, clock, EventSink(name, clock.now, io.StringIO()))


def drive(d: Daemon, clock: FakeClock, until: datetime) -> None:
    """What run_forever does, with the fake clock: tick, then jump to when the next thing is due."""
    while clock.now() < until:
        delay = d.tick()
        d.wait_for_runs()
        clock.advance(max(1.0, min(delay, (until - clock.now()).total_seconds())))
    d.tick()
    d.wait_for_runs()


def expected_fires(root: Path, task_id: str, start: datetime, end: datetime) -> list[datetime]:
    from runner.spec.yamlsafe import load

    data, _ = load((root / "tasks.d" / f"{task_id}.yaml").read_text())
    spec = validate_task(data, task_id)
    assert spec.schedule is not None
    return list(fires_between(spec.schedule, task_id, start=start, end=end))


def claimed(root: Path) -> dict[str, list[tuple[datetime, str, str | None]]]:
    state = SqliteState(root / ".runner/state.db")
    try:
        result: dict[str, list[tuple[datetime, str, str | None]]] = {}
        for fire in state.fires():
            result.setdefault(fire.task_id, []).append(
                (fire.scheduled_for, fire.outcome, fire.run_id)
            )
        runs = state.runs()
    finally:
        state.close()
    result["__runs__"] = [(r.scheduled_for, r.status, r.run_id) for r in runs]  # type: ignore[misc]
    return result


def test_a_simulated_week_across_a_dst_change_runs_every_fire_once(tmp_path):
    tasks = {f"t{i:02d}": task_text(i) for i in range(50)}
    root = make_repo(tmp_path, tasks)
    start = datetime(2026, 3, 26, 0, 0, 30, tzinfo=UTC)  # Berlin springs forward on the 29th
    end = start + timedelta(days=7)
    clock = FakeClock(start)
    d = daemon(root, clock)
    d.start()
    drive(d, clock, end)
    d.close()
    found = claimed(root)
    runs = found.pop("__runs__")
    total = 0
    for task_id in tasks:
        want = expected_fires(root, task_id, start, end)
        got = sorted(found.get(task_id, []), key=lambda f: f[0])
        assert [g[0] for g in got] == [
            w.astimezone(UTC) for w in sorted(want, key=lambda w: w.timestamp())
        ], task_id
        assert all(outcome == "run" and run_id for _, outcome, run_id in got), task_id
        total += len(want)
    assert total > 300
    assert len(runs) == total, "one run per fire, none twice"
    assert all(status == "success" for _, status, _ in runs)
    assert len({scheduled for scheduled, _, _ in runs}) <= total


@pytest.mark.parametrize("policy,expected_runs", [("skip", 0), ("once", 1), ("all", 3)])
def test_downtime_of_three_hours_follows_the_missed_policy(tmp_path, policy, expected_runs):
    text = (
        "version: 1\ndescription: hourly\nmodule: search\nrun_as: root\n"
        f'schedule:\n  cron: "0 * * * *"\n  missed: {policy}\n'
        "search:\n  objecttypes: [people]\n"
    )
    root = make_repo(tmp_path, {"hourly": text})
    clock = FakeClock(datetime(2026, 6, 1, 9, 30, tzinfo=UTC))
    first = daemon(root, clock)
    first.start()
    drive(first, clock, datetime(2026, 6, 1, 9, 45, tzinfo=UTC))
    first.close()
    clock.set(datetime(2026, 6, 1, 12, 45, tzinfo=UTC))  # down over 10:00, 11:00 and 12:00
    second = daemon(root, clock, "d2")
    second.start()
    second.tick()
    second.wait_for_runs()
    second.close()
    found = claimed(root)
    runs = found.pop("__runs__")
    assert len(runs) == expected_runs
    assert all(status == "success" for _, status, _ in runs)
    outcomes = {fire.astimezone(UTC).hour: outcome for fire, outcome, _ in found["hourly"]}
    assert sorted(outcomes) == [10, 11, 12], "every missed fire is recorded"
    fires_log = root / ".runner/logs/hourly/fires.jsonl"
    missed = (
        [json.loads(line) for line in fires_log.read_text().splitlines()]
        if fires_log.exists()
        else []
    )
    assert len(missed) == 3 - expected_runs
    assert all(line["event"] == "fire_missed" and line["run"] is None for line in missed)
    assert all(line["policy"] == policy for line in missed)
    if policy == "once":
        assert outcomes[12] == "run" and outcomes[10] == outcomes[11] == "missed"


def test_max_lateness_drops_old_missed_fires(tmp_path):
    text = (
        "version: 1\ndescription: hourly\nmodule: search\nrun_as: root\n"
        'schedule:\n  cron: "0 * * * *"\n  missed: all\n  max_lateness: 90m\n'
        "search:\n  objecttypes: [people]\n"
    )
    root = make_repo(tmp_path, {"hourly": text})
    clock = FakeClock(datetime(2026, 6, 1, 9, 30, tzinfo=UTC))
    first = daemon(root, clock)
    first.start()
    first.tick()
    first.close()
    clock.set(datetime(2026, 6, 1, 12, 45, tzinfo=UTC))
    second = daemon(root, clock, "d2")
    second.start()
    second.tick()
    second.wait_for_runs()
    second.close()
    found = claimed(root)
    found.pop("__runs__")
    outcomes = {fire.astimezone(UTC).hour: outcome for fire, outcome, _ in found["hourly"]}
    assert outcomes == {10: "missed", 11: "missed", 12: "run"}


def test_two_daemons_on_one_state_file_run_each_fire_exactly_once(tmp_path):
    tasks = {
        f"t{i}": (
            f"version: 1\ndescription: busy {i}\nmodule: search\nrun_as: root\n"
            'schedule:\n  cron: "*/5 * * * *"\n  concurrency: allow\n'
            "search:\n  objecttypes: [people]\n"
        )
        for i in range(10)
    }
    root = make_repo(tmp_path, tasks)
    start = datetime(2026, 6, 1, 0, 0, 30, tzinfo=UTC)
    end = start + timedelta(minutes=100)  # 20 fires x 10 tasks = 200 fires
    clock = FakeClock(start)
    first, second = daemon(root, clock, "a"), daemon(root, clock, "b")
    first.start()
    second.start()
    while clock.now() <= end:
        threads = [threading.Thread(target=d.tick) for d in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        first.wait_for_runs()
        second.wait_for_runs()
        clock.advance(60)
    first.close()
    second.close()
    found = claimed(root)
    runs = found.pop("__runs__")
    fires = [f for task in found.values() for f in task]
    assert len(fires) == 200
    assert len(runs) == 200
    assert len({(r[0]) for r in runs}) == 20
    claimers = {}
    state = SqliteState(root / ".runner/state.db")
    for fire in state.fires():
        claimers[fire.claimed_by] = claimers.get(fire.claimed_by, 0) + 1
    state.close()
    assert sum(claimers.values()) == 200


def test_an_invalid_edit_keeps_the_last_known_good_spec_firing(tmp_path):
    text = (
        "version: 1\ndescription: hourly\nmodule: search\nrun_as: root\n"
        'schedule:\n  cron: "0 * * * *"\nsearch:\n  objecttypes: [people]\n'
    )
    root = make_repo(tmp_path, {"hourly": text})
    clock = FakeClock(datetime(2026, 6, 1, 9, 30, tzinfo=UTC))
    d = daemon(root, clock)
    d.start()
    (root / "tasks.d/hourly.yaml").write_text(text.replace("module: search", "module: serch"))
    d.request_full_reconcile()
    drive(d, clock, datetime(2026, 6, 1, 11, 30, tzinfo=UTC))
    state = SqliteState(root / ".runner/state.db")
    task = state.tasks()[0]
    assert task.error and "unknown module 'serch'" in task.error
    assert task.spec is not None
    assert [r.status for r in state.runs("hourly")] == ["success", "success"]
    (root / "tasks.d/hourly.yaml").unlink()
    d.request_full_reconcile()
    drive(d, clock, datetime(2026, 6, 1, 13, 30, tzinfo=UTC))
    # a deleted file prunes nothing while tasks.d has no valid task (allow_empty: false)
    assert len(state.runs("hourly")) == 4
    (root / "runner.yaml").write_text("version: 1\ntimezone: UTC\nallow_empty: true\n")
    d.request_full_reconcile()
    drive(d, clock, datetime(2026, 6, 1, 15, 30, tzinfo=UTC))
    assert len(state.runs("hourly")) == 4
    assert state.tasks() == []
    state.close()
    d.close()


def test_at_now_fires_once_ever_even_after_edits(tmp_path):
    text = (
        "version: 1\ndescription: once\nmodule: search\nrun_as: root\n"
        "schedule:\n  at: now\nsearch:\n  objecttypes: [people]\n"
    )
    root = make_repo(tmp_path, {"once": text})
    clock = FakeClock(datetime(2026, 6, 1, 9, 30, tzinfo=UTC))
    d = daemon(root, clock)
    d.start()
    drive(d, clock, datetime(2026, 6, 1, 9, 35, tzinfo=UTC))
    (root / "tasks.d/once.yaml").write_text(
        text.replace("description: once", "description: edited")
    )
    d.request_full_reconcile()
    drive(d, clock, datetime(2026, 6, 1, 10, 35, tzinfo=UTC))
    d.close()
    found = claimed(root)
    assert len(found.pop("__runs__")) == 1
