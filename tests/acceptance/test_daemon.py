"""`runner daemon` as a real process: the watcher follows edits, renames, deletions, invalid
files, a git checkout and a symlink swap (seen through `runner status`); SIGTERM exits 0; a
daemon killed during a run is closed and resumed by the next one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, run_cli


def task(description: str, cron: str = "0 0 1 1 *") -> str:
    return (
        f"version: 1\ndescription: {description}\nmodule: search\nrun_as: root\n"
        f'schedule:\n  cron: "{cron}"\nsearch:\n  objecttypes: [people]\n'
    )


def start_daemon(repo: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("RUNNER_CONFIG", None)
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "runner", "daemon", *args],
        cwd=repo,
        env=env,
        stdout=handle,
        stderr=handle,
    )


def status(repo: Path) -> dict[str, Any]:
    result = run_cli("status", "--format", "json", cwd=repo)
    return json.loads(result.out)


def tasks(repo: Path) -> dict[str, dict[str, Any]]:
    return {t["task"]: t for t in status(repo)["tasks"]}


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the daemon")


def daemon_events(log: Path) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(ROOT / "datamodel.yaml", root / "datamodel.yaml")
    (root / "runner.yaml").write_text("version: 1\ntimezone: UTC\n")
    assert run_cli("store", "init", cwd=root).code == 0
    return root


def test_the_watcher_follows_every_kind_of_change(repo: Path, tmp_path: Path) -> None:
    data = repo / "data-1"
    data.mkdir()
    (data / "alpha.yaml").write_text(task("alpha v1"))
    (data / "beta.yaml").write_text(task("beta v1"))
    os.symlink("data-1", repo / "tasks.d")
    log = tmp_path / "daemon.log"
    process = start_daemon(repo, log)
    try:
        wait_until(lambda: set(tasks(repo)) == {"alpha", "beta"} and bool(status(repo)["daemons"]))

        (data / "alpha.yaml").write_text(task("alpha v2"))  # an edit in place
        wait_until(lambda: tasks(repo)["alpha"]["description"] == "alpha v2")

        saved = data / ".alpha.yaml.swp"  # an editor's atomic save: write aside, rename over
        saved.write_text(task("alpha v3"))
        os.replace(saved, data / "alpha.yaml")
        wait_until(lambda: tasks(repo)["alpha"]["description"] == "alpha v3")

        (data / "beta.yaml").write_text("version: 1\nmodule: serch\n")  # an invalid edit
        wait_until(lambda: tasks(repo)["beta"]["error"] is not None)
        beta = tasks(repo)["beta"]
        assert beta["description"] == "beta v1" and beta["module"] == "search"  # last-known-good

        (data / "beta.yaml").unlink()
        wait_until(lambda: set(tasks(repo)) == {"alpha"})

        swapped = repo / "data-2"  # a ConfigMap-style swap of the whole directory
        swapped.mkdir()
        (swapped / "gamma.yaml").write_text(task("gamma v1"))
        os.symlink("data-2", repo / "tasks.d.new")
        os.replace(repo / "tasks.d.new", repo / "tasks.d")
        wait_until(lambda: set(tasks(repo)) == {"gamma"})

        subprocess.run(["git", "init", "-q", str(swapped)], check=True)
        git = ["git", "-C", str(swapped), "-c", "user.email=t@example.org", "-c", "user.name=t"]
        subprocess.run([*git, "add", "."], check=True)
        subprocess.run([*git, "commit", "-qm", "one"], check=True)
        (swapped / "gamma.yaml").write_text(task("gamma v2"))
        (swapped / "delta.yaml").write_text(task("delta v1"))
        subprocess.run([*git, "add", "."], check=True)
        subprocess.run([*git, "commit", "-qm", "two"], check=True)
        wait_until(lambda: set(tasks(repo)) == {"gamma", "delta"})
        subprocess.run([*git, "checkout", "-q", "HEAD~1"], check=True)  # back to commit one
        wait_until(
            lambda: (
                set(tasks(repo)) == {"gamma"} and tasks(repo)["gamma"]["description"] == "gamma v1"
            )
        )
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0
    events = [e["event"] for e in daemon_events(log)]
    assert events[0] == "daemon_started" and events[-1] == "daemon_stopped"
    assert "file_error" in events and "reconciled" in events
    assert status(repo)["daemons"] == []


OBJECTS = 30_000


@pytest.mark.slow
def test_a_daemon_killed_during_a_run_is_resumed_by_the_next(repo: Path, tmp_path: Path) -> None:
    records = "\n".join(
        json.dumps(
            {
                "_objecttype": "images",
                "_system_object_id": i,
                "_global_object_id": f"{i}@local",
                "_uuid": str(uuid.UUID(int=i)),
                "_created": "2024-01-01T00:00:00Z",
                "_last_modified": "2024-01-01T00:00:00Z",
                "_owner": {"user": {"_id": 1}},
                "_tags": [],
                "images": {
                    "_id": i,
                    "_version": 1,
                    "_pool": {"pool": {"_id": 2}},
                    "title": f"Image {i}",
                },
            }
        )
        for i in range(1, OBJECTS + 1)
    )
    (repo / "objects.jsonl").write_text(records + "\n")
    assert run_cli("store", "import", "objects.jsonl", cwd=repo).code == 0
    (repo / "tasks.d").mkdir()
    (repo / "tasks.d" / "tag-all.yaml").write_text(
        "version: 1\ndescription: tag everything once\nmodule: set_unset_tags\nrun_as: root\n"
        "schedule:\n  at: now\nsearch:\n  objecttypes: [images]\n"
        "params:\n  tags:\n    - {reference: favourite, set: true}\n"
    )
    log = tmp_path / "daemon.log"
    first = start_daemon(repo, log)
    logs = repo / ".runner/logs/tag-all"

    def batches_done() -> int:
        done = 0
        for path in logs.glob("2*.jsonl") if logs.is_dir() else []:
            for line in path.read_text().splitlines():
                if line.endswith("}") and '"batch_done"' in line:
                    done = max(done, json.loads(line)["done"])
        return done

    wait_until(lambda: batches_done() >= 3000, timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = start_daemon(repo, log)
    try:
        wait_until(lambda: any(r["status"] == "success" for r in _runs(repo)), timeout=90)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    runs = _runs(repo)
    assert [r["status"] for r in runs] == ["failed", "success"]
    assert runs[0]["reason"] == "interrupted" and runs[1]["trigger"] == "resume"
    exported = run_cli("store", "export", cwd=repo).out.splitlines()
    changed_by: dict[str, int] = {}
    for line in exported:
        record = json.loads(line)
        updates = [c for c in record["_changelog"] if c["operation"] == "update"]
        assert len(updates) == 1, "every object changed exactly once"
        assert record["images"]["_version"] == 2
        changed_by[updates[0]["run"]] = changed_by.get(updates[0]["run"], 0) + 1
    assert sum(changed_by.values()) == OBJECTS and len(changed_by) == 2
    fires = [e for e in daemon_events(log) if e["event"] == "fire_claimed"]
    assert len(fires) == 1, "the at: now fire was claimed once and not fired again"


def _runs(repo: Path) -> list[dict[str, Any]]:
    result = run_cli("logs", "tag-all", "--format", "json", cwd=repo)
    return json.loads(result.out)["runs"] if result.code == 0 else []
