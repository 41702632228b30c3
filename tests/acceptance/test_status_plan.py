"""`runner plan` and `runner status` through the real CLI, against a real state file.

Reconciles are applied in-process with the daemon's own Scanner, plan() and apply(), so these
tests need no running daemon; daemons are registered in the state as a daemon registers itself.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from runner.commands.config import load_workspace
from runner.daemon.reconcile import Scanner, apply, plan
from runner.runs.ids import new_run_id
from runner.state.base import DaemonRecord, FireRecord, Lease, RunRecord
from runner.state.sqlite import SqliteState
from tests.conftest import ROOT, run_cli

TASKS = [
    "cleanup/empty-trash-candidates",
    "metadata/sync-from-files",
    "reports/weekly-embargo",
    "review/tag-new-imports",
]
STATUS_KEYS = {
    "task",
    "module",
    "description",
    "enabled",
    "schedule",
    "last_run",
    "running",
    "next_run",
    "error",
}
NEW_TASK = """\
version: 1
description: Count the press photos
module: search
run_as: editor
schedule:
  at: {at}
search:
  objecttypes: [images]
"""
BROKEN_NEW_TASK = """\
version: 1
description: A report nobody finished
module: search
run_as: editor
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the example repository, without a state file."""
    for name in ("runner.yaml", "datamodel.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("tasks.d", "mappings"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


def state_of(repo: Path) -> SqliteState:
    return SqliteState(repo / ".runner" / "state.db")


def reconcile(repo: Path) -> None:
    """What the daemon does when it sees the files: scan, plan against the state, apply."""
    workspace = load_workspace(None, repo)
    now = datetime.now(UTC)
    state = state_of(repo)
    try:
        files = Scanner().scan(workspace, now)
        allow_empty = workspace.config.model.allow_empty
        apply(plan(files, state.tasks(include_removed=True), allow_empty=allow_empty), state, now)
    finally:
        state.close()


def running_run(state: SqliteState, task: str, started: datetime) -> RunRecord:
    """A run as `runner run` claims it, holding a one-minute lease from `started`."""
    run = RunRecord(
        run_id=new_run_id(started),
        task_id=task,
        trigger="manual",
        started=started,
        spec_hash="0" * 64,
        run_as="editor",
        dry_run=False,
        log_path="unused.jsonl",
        lease=Lease("elsewhere:1:1", "elsewhere", 1, started + timedelta(minutes=1)),
    )
    claimed = state.claim_run(run, now=started, exclusive=False).run
    assert claimed is not None and claimed.run_id == run.run_id
    return claimed


def plan_json(repo: Path) -> tuple[int, dict]:
    result = run_cli("plan", "--format", "json", "--detailed-exitcode", cwd=repo)
    assert result.code in (0, 2), result.err
    return result.code, json.loads(result.out)


def status_json(repo: Path) -> tuple[int, dict]:
    result = run_cli("status", "--format", "json", cwd=repo)
    assert result.code in (0, 1), result.err
    return result.code, json.loads(result.out)


def next_runs(repo: Path, task: str, count: int) -> list[str]:
    result = run_cli("next", task, "--count", str(count), "--format", "json", cwd=repo)
    assert result.code == 0, result.err
    return json.loads(result.out)["next_runs"]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


# runner plan


def test_plan_on_a_fresh_repository_adds_every_task_and_writes_nothing(repo):
    code, plan_ = plan_json(repo)
    assert code == 2
    assert plan_ == {
        "changes": True,
        "added": TASKS,
        "changed": [],
        "removed": [],
        "invalid": [],
        "next_runs": plan_["next_runs"],
    }
    assert list(plan_["next_runs"]) == TASKS
    review = plan_["next_runs"]["review/tag-new-imports"]  # cron 0 6 * * 1-5, Europe/Berlin
    assert len(review) == 3 and review == sorted(review)
    assert all(t.endswith("T06:00:00+01:00") for t in review)
    text = run_cli("plan", cwd=repo)
    assert text.code == 0, text.err
    assert "  + review/tag-new-imports\n      next: " in text.out
    assert "Plan: 4 to add, 0 to change, 0 to remove, 0 invalid." in text.out
    assert not (repo / ".runner").exists(), "plan must not create the state"


def test_plan_after_a_reconcile_has_no_changes(repo):
    reconcile(repo)
    code, plan_ = plan_json(repo)
    assert code == 0
    assert plan_["changes"] is False
    assert (plan_["added"], plan_["changed"], plan_["removed"], plan_["invalid"]) == (
        [],
        [],
        [],
        [],
    )
    assert list(plan_["next_runs"]) == TASKS
    text = run_cli("plan", "--detailed-exitcode", cwd=repo)
    assert text.code == 0
    assert text.out.startswith("No changes: the live schedule matches tasks.d/.")


def test_plan_shows_edits_breakage_and_deletions(repo):
    reconcile(repo)
    tasks_d = repo / "tasks.d"
    review = tasks_d / "review" / "tag-new-imports.yaml"
    edit(review, 'cron: "0 6 * * 1-5"', 'cron: "30 7 * * 1-5"')
    edit(review, "max_objects: 5000", "max_objects: 100")
    metadata = tasks_d / "metadata" / "sync-from-files.yaml"
    line = metadata.read_text().splitlines().index("timeout: 1h") + 2
    edit(metadata, "timeout: 1h\n", "timeout: 1h\nretries: 3\n")
    (tasks_d / "reports" / "unfinished.yaml").write_text(BROKEN_NEW_TASK)
    (tasks_d / "reports" / "weekly-embargo.yaml").unlink()

    code, plan_ = plan_json(repo)
    assert code == 2
    assert plan_["added"] == []
    assert plan_["changed"] == [
        {
            "task": "review/tag-new-imports",
            "diff": [
                {"path": "limits.max_objects", "old": 5000, "new": 100},
                {"path": "schedule.cron.0", "old": "0 6 * * 1-5", "new": "30 7 * * 1-5"},
            ],
        }
    ]
    assert plan_["removed"] == ["reports/weekly-embargo"]
    broken, unfinished = plan_["invalid"]
    assert (broken["task"], broken["keeps_last_known_good"]) == ("metadata/sync-from-files", True)
    [error] = broken["errors"]
    assert (error["line"], error["column"], error["loc"]) == (line, 1, "retries")
    assert "unknown key 'retries'" in error["message"]
    assert (unfinished["task"], unfinished["keeps_last_known_good"]) == (
        "reports/unfinished",
        False,
    )
    assert {e["loc"] for e in unfinished["errors"]} == {"search"}

    runs = plan_["next_runs"]
    assert list(runs) == [
        "cleanup/empty-trash-candidates",
        "metadata/sync-from-files",  # last-known-good keeps firing
        "review/tag-new-imports",
    ]
    assert all(t.endswith("T07:30:00+01:00") for t in runs["review/tag-new-imports"])

    text = run_cli("plan", cwd=repo).out
    assert "  ~ review/tag-new-imports\n" in text
    assert '      schedule.cron.0: "0 6 * * 1-5" -> "30 7 * * 1-5"\n' in text
    assert "      limits.max_objects: 5000 -> 100\n" in text
    assert "  - reports/weekly-embargo" in text
    assert "  ! metadata/sync-from-files  (invalid: keeps its last-known-good spec running)" in text
    assert f"      tasks.d/metadata/sync-from-files.yaml:{line}:1: unknown key 'retries'" in text
    assert "  ! reports/unfinished  (invalid: schedules nothing)" in text
    assert "Plan: 0 to add, 1 to change, 1 to remove, 2 invalid." in text


def test_a_recorded_error_is_no_change_and_a_fix_clears_it(repo):
    reconcile(repo)
    path = repo / "tasks.d" / "metadata" / "sync-from-files.yaml"
    before = path.read_text(encoding="utf-8")
    edit(path, "timeout: 1h\n", "timeout: 1h\nretries: 3\n")
    reconcile(repo)
    code, plan_ = plan_json(repo)
    assert (code, plan_["changes"]) == (0, False)
    assert [i["task"] for i in plan_["invalid"]] == ["metadata/sync-from-files"]

    path.write_text(before, encoding="utf-8")
    code, plan_ = plan_json(repo)
    assert code == 2
    assert plan_["changed"] == [{"task": "metadata/sync-from-files", "diff": []}]
    assert plan_["invalid"] == []


def test_an_empty_tasks_directory_prunes_nothing_unless_allowed(repo):
    reconcile(repo)
    shutil.rmtree(repo / "tasks.d")
    (repo / "tasks.d").mkdir()
    code, plan_ = plan_json(repo)
    assert code == 0
    assert (plan_["changes"], plan_["removed"]) == (False, [])
    assert list(plan_["next_runs"]) == TASKS, "the scheduled tasks keep running"
    text = run_cli("plan", cwd=repo).out
    assert "Note: tasks.d/ has no valid task, so nothing is removed; 4 task(s) keep running" in text

    edit(repo / "runner.yaml", "allow_empty: false", "allow_empty: true")
    code, plan_ = plan_json(repo)
    assert code == 2
    assert (plan_["removed"], plan_["next_runs"]) == (TASKS, {})


def test_a_usage_error_exits_1_with_detailed_exitcode(repo):
    # 2 would mean "changes"
    assert run_cli("plan", "--format", "yaml", "--detailed-exitcode", cwd=repo).code == 1


# runner status


def test_status_lists_tasks_from_their_files_before_any_daemon(repo):
    code, status = status_json(repo)
    assert code == 0
    assert status["daemons"] == []
    assert [t["task"] for t in status["tasks"]] == TASKS
    assert all(set(t) == STATUS_KEYS for t in status["tasks"])
    assert status["tasks"][-1] == {
        "task": "review/tag-new-imports",
        "module": "set_unset_tags",
        "description": "Tag last week's imports for review",
        "enabled": True,
        "schedule": "cron 0 6 * * 1-5 (Europe/Berlin)",
        "last_run": None,
        "running": None,
        "next_run": next_runs(repo, "review/tag-new-imports", 1)[0],
        "error": None,
    }
    assert not (repo / ".runner").exists(), "status must not create the state"

    (repo / "tasks.d" / "reports" / "unfinished.yaml").write_text(BROKEN_NEW_TASK)
    code, status = status_json(repo)
    assert code == 1
    [broken] = [t for t in status["tasks"] if t["task"] == "reports/unfinished"]
    assert broken["module"] == "search"
    assert broken["description"] == "A report nobody finished"
    assert (broken["enabled"], broken["schedule"], broken["next_run"]) == (False, None, None)
    assert broken["error"].startswith("unfinished.yaml:1:1: ")
    text = run_cli("status", cwd=repo)
    assert text.code == 1
    assert "reports/unfinished" in text.out and "never run" in text.out
    assert "unfinished.yaml:1:1: missing required key 'search' [search]" in text.out
    assert "No daemon has run here yet" in text.out
    assert "1 task file(s) have errors" in text.out


def test_status_shows_the_last_run_after_runner_run(repo):
    assert run_cli("store", "seed", "--objects", "5", "--files", "0", cwd=repo).code == 0
    ran = run_cli("run", "reports/weekly-embargo", cwd=repo)
    assert ran.code == 0, ran.err
    state = state_of(repo)
    [run] = state.runs()
    now = datetime.now(UTC)
    dead = running_run(state, "reports/weekly-embargo", now - timedelta(hours=1))
    live = running_run(state, "review/tag-new-imports", now)
    state.close()
    code, status = status_json(repo)
    assert code == 0
    [task] = [t for t in status["tasks"] if t["task"] == "reports/weekly-embargo"]
    assert task["last_run"] == {
        "run": run.run_id,
        "status": "success",
        "finished": run.finished.astimezone(ZoneInfo("Europe/Berlin")).isoformat("T", "seconds"),
    }
    assert task["running"] is None, f"{dead.run_id}'s lease expired: its process died"
    assert status["tasks"][-1]["running"] == live.run_id
    others = [t["last_run"] for t in status["tasks"] if t["task"] != "reports/weekly-embargo"]
    assert others == [None, None, None]


def test_status_shows_the_recorded_error_and_the_spec_that_keeps_running(repo):
    reconcile(repo)
    path = repo / "tasks.d" / "review" / "tag-new-imports.yaml"
    edit(path, "description: Tag last week's imports for review", "description: Renamed")
    edit(path, "timeout: 30m\n", "timeout: 30m\nretries: 3\n")
    reconcile(repo)
    code, status = status_json(repo)
    assert code == 1
    review = status["tasks"][-1]
    assert review["description"] == "Tag last week's imports for review", "last-known-good"
    assert review["error"].startswith("tag-new-imports.yaml:")
    assert "unknown key 'retries'" in review["error"]
    assert review["next_run"].endswith("T06:00:00+01:00"), "the last-known-good cron"


def test_status_of_at_tasks(repo):
    once = repo / "tasks.d" / "once"
    once.mkdir()
    (once / "now.yaml").write_text(NEW_TASK.format(at="now"))
    (once / "later.yaml").write_text(NEW_TASK.format(at='"2099-01-01T06:00:00+01:00"'))
    code, status = status_json(repo)
    by_id = {t["task"]: t for t in status["tasks"]}
    assert code == 0, status
    assert (by_id["once/now"]["schedule"], by_id["once/now"]["next_run"]) == (
        "once, when first seen",
        None,
    )
    assert by_id["once/later"]["next_run"] == "2099-01-01T06:00:00+01:00"

    reconcile(repo)
    state = state_of(repo)
    at = datetime(2099, 1, 1, 5, tzinfo=UTC)
    assert state.claim_fire(
        FireRecord("once/later", at, datetime.now(UTC), "d-1", "run", kind="at")
    )
    state.close()
    _, status = status_json(repo)
    later = next(t for t in status["tasks"] if t["task"] == "once/later")
    assert later["next_run"] is None
    assert later["schedule"] == "once at 2099-01-01 06:00 Europe/Berlin (fired)"


def test_status_lists_live_daemons_only_and_fails_without_one(repo):
    now = datetime.now(UTC).replace(microsecond=0)
    stale = now - timedelta(minutes=5)
    state = state_of(repo)
    state.register_daemon(DaemonRecord("web-1:4242:ab12", "web-1", 4242, now, now, "c" * 40))
    state.register_daemon(DaemonRecord("web-2:77:cd34", "web-2", 77, stale, stale))
    state.close()
    code, status = status_json(repo)
    assert code == 0
    local = now.astimezone(ZoneInfo("Europe/Berlin")).isoformat()  # runner.yaml's timezone
    assert status["daemons"] == [
        {
            "id": "web-1:4242:ab12",
            "host": "web-1",
            "pid": 4242,
            "started": local,
            "heartbeat": local,
            "git_commit": "c" * 40,
        }
    ]

    state = state_of(repo)
    state.daemon_stopped("web-1:4242:ab12", datetime.now(UTC))
    state.close()
    code, status = status_json(repo)
    assert (code, status["daemons"]) == (1, [])
    text = run_cli("status", cwd=repo)
    assert text.code == 1
    assert "No daemon is running: the last one (web-1:4242:ab12) stopped " in text.out
