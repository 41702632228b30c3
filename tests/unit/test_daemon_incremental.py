"""The daemon's work follows what changed: a file the watcher names is re-read alone and only
its task's row is written; the schedule is computed at start (the `ready` event) and an idle
tick writes nothing; a new spec applies from its next fire on."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runner.daemon.scheduler import Daemon
from runner.state.sqlite import SqliteState
from tests.unit.test_daemon_sim import FakeClock, daemon, make_repo

START = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)


def task(description: str, schedule: str = 'cron: "0 3 1 1 *"') -> str:
    return (
        f"version: 1\ndescription: {description}\nmodule: search\nrun_as: root\n"
        f"schedule:\n  {schedule}\nsearch:\n  objecttypes: [people]\n"
    )


def rows(root: Path) -> dict[str, tuple[datetime, datetime | None, str | None]]:
    """Each task's (updated, evaluated_until, description) as stored."""
    state = SqliteState(root / ".runner/state.db")
    try:
        return {
            t.task_id: (t.updated, t.evaluated_until, (t.spec or {}).get("description"))
            for t in state.tasks()
        }
    finally:
        state.close()


def events(d: Daemon, name: str) -> list[dict[str, object]]:
    return [e for e in d.events.seen if e["event"] == name]


def started(root: Path, clock: FakeClock, count: int = 20) -> Daemon:
    for i in range(count):
        path = root / "tasks.d" / ("nested" if i % 2 else "") / f"t{i:02d}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(task(f"task {i}"))
    d = daemon(root, clock)
    d.start()
    return d


def watched(root: Path, *names: str) -> list[str]:
    """The paths as the watcher reports them: below the tasks directory with links resolved."""
    return [os.path.join(os.path.realpath(root / "tasks.d"), name) for name in names]


def test_ready_comes_once_every_next_fire_is_computed(tmp_path):
    root = make_repo(tmp_path, {})
    clock = FakeClock(START)
    d = started(root, clock)
    [ready] = events(d, "ready")
    assert ready["tasks"] == 20
    assert ready["next_fire"] == "2027-01-01T03:00:00.000Z"
    assert d.tick() <= d.options.heartbeat.total_seconds()
    d.close()


def test_an_edit_named_by_the_watcher_is_read_alone_and_writes_one_row(tmp_path):
    root = make_repo(tmp_path, {})
    clock = FakeClock(START)
    d = started(root, clock)
    before = rows(root)
    cached = dict(d.scanner.cache)
    clock.advance(60)
    (root / "tasks.d/nested/t05.yaml").write_text(task("edited", 'cron: "0 4 1 1 *"'))
    (root / "tasks.d/t06.yaml").unlink()
    (root / "tasks.d/new.yaml").write_text(task("new"))
    (root / "tasks.d/.t07.yaml.swp").write_text("not a task")
    names = ["nested/t05.yaml", "t06.yaml", "new.yaml", ".t07.yaml.swp"]
    d.notice_change(clock.monotonic(), watched(root, *names))
    d.tick()
    [reconciled] = events(d, "reconciled")[1:]
    assert (reconciled["added"], reconciled["changed"], reconciled["removed"]) == (
        ["new"],
        ["nested/t05"],
        ["t06"],
    )
    after = rows(root)
    assert after["nested/t05"][2] == "edited" and after["nested/t05"][0] == clock.now()
    assert after["new"][0] == clock.now() and "t06" not in after
    untouched = set(before) - {"nested/t05", "t06"}
    assert {task_id: after[task_id] for task_id in untouched} == {
        task_id: before[task_id] for task_id in untouched
    }
    unread = [key for key in cached if not key.endswith(("t05.yaml", "t06.yaml"))]
    assert all(d.scanner.cache[key] is cached[key] for key in unread), "not parsed again"
    assert d.due.when("nested/t05") == datetime(2027, 1, 1, 4, tzinfo=UTC).timestamp()
    d.close()


def test_what_a_named_rescan_cannot_tell_is_found_by_a_walk(tmp_path):
    root = make_repo(tmp_path, {})
    clock = FakeClock(START)
    d = started(root, clock)
    (root / "tasks.d/more").mkdir()
    (root / "tasks.d/more/deep.yaml").write_text(task("deep"))
    d.notice_change(clock.monotonic(), None)  # a directory event
    d.tick()
    assert events(d, "reconciled")[-1]["added"] == ["more/deep"]
    outside = str(root / "templates" / "x.subject.j2")
    (root / "tasks.d/t00.yaml").write_text(task("zero, edited"))
    d.notice_change(clock.monotonic(), [outside])  # not a task file: everything is looked at
    d.tick()
    assert events(d, "reconciled")[-1]["changed"] == ["t00"]
    d.close()


def test_an_idle_tick_computes_and_writes_nothing(tmp_path):
    root = make_repo(tmp_path, {})
    clock = FakeClock(START)
    d = started(root, clock, count=5)
    before = rows(root)
    clock.advance(3600)
    delay = d.tick()
    assert rows(root) == before
    assert delay <= d.options.heartbeat.total_seconds()
    d.close()


def test_a_new_spec_applies_from_its_next_fire_not_from_the_last_evaluation(tmp_path):
    yearly = task("yearly", 'cron: "0 3 1 1 *"\n  missed: all')
    root = make_repo(tmp_path, {"changing": yearly})
    clock = FakeClock(START)
    d = daemon(root, clock)
    d.start()
    clock.set(START + timedelta(hours=3))  # 12:30: hourly fires at 10, 11 and 12 were not its
    (root / "tasks.d/changing.yaml").write_text(yearly.replace("0 3 1 1 *", "0 * * * *"))
    d.notice_change(clock.monotonic(), watched(root, "changing.yaml"))
    d.tick()
    d.wait_for_runs()
    assert events(d, "fire_claimed") == []
    clock.set(datetime(2026, 6, 1, 13, 0, 5, tzinfo=UTC))
    d.tick()
    d.wait_for_runs()
    assert [e["scheduled_for"] for e in events(d, "fire_claimed")] == ["2026-06-01T13:00:00+00:00"]
    d.close()


def test_enabling_a_disabled_task_does_not_catch_up_its_disabled_time(tmp_path):
    hourly = task("hourly", 'cron: "0 * * * *"\n  missed: all') + "enabled: false\n"
    root = make_repo(tmp_path, {"hourly": hourly})
    clock = FakeClock(START)
    first = daemon(root, clock)
    first.start()
    first.close()
    clock.set(START + timedelta(hours=5))  # enabled while no daemon ran
    (root / "tasks.d/hourly.yaml").write_text(hourly.replace("enabled: false\n", ""))
    second = daemon(root, clock, "d2")
    second.start()
    second.tick()
    second.wait_for_runs()
    assert events(second, "fire_claimed") == events(second, "fire_missed") == []
    second.close()


def test_a_burst_that_removed_a_file_settles_longer_than_an_edit(tmp_path):
    root = make_repo(tmp_path, {})
    clock = FakeClock(START)
    d = started(root, clock, count=3)
    d.notice_change(clock.monotonic(), watched(root, "t00.yaml"))
    assert d._quiet_needed() == d.options.debounce
    (root / "tasks.d/t02.yaml").unlink()  # git replaces a file: removed, then created again
    d.notice_change(clock.monotonic(), watched(root, "t02.yaml"))
    assert d._quiet_needed() == d.options.settle
    d.tick()
    d.notice_change(clock.monotonic(), None)  # a directory created or removed
    assert d._quiet_needed() == d.options.settle
    d.close()
