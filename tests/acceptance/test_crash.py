"""A run over 100,000 objects killed with SIGKILL is closed and resumed by the next run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

OBJECTS = 100_000
TASK = """version: 1
description: Mark every image as a favourite
module: set_unset_tags
run_as: root
search:
  objecttypes: [images]
params:
  tags:
    - {reference: favourite, set: true}
"""


def records(count: int):
    for i in range(1, count + 1):
        yield json.dumps(
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


def wait_for_batches(
    log_dir: Path, done: int, process: subprocess.Popen, limit: float = 120
) -> Path:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        for path in log_dir.glob("*.jsonl") if log_dir.is_dir() else []:
            lines = [json.loads(x) for x in path.read_text().splitlines() if x.endswith("}")]
            if any(line["event"] == "batch_done" and line["done"] >= done for line in lines):
                return path
        time.sleep(0.05)
    raise AssertionError("the run did not get going")


@pytest.mark.slow
def test_killed_run_is_closed_and_resumed_with_every_object_changed_once(tmp_path):
    for name in ("runner.yaml", "datamodel.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "tasks.d").mkdir()
    (tmp_path / "tasks.d" / "tag-all.yaml").write_text(TASK)
    assert run_cli("store", "init", cwd=tmp_path).code == 0
    (tmp_path / "objects.jsonl").write_text("\n".join(records(OBJECTS)) + "\n")
    imported = run_cli("store", "import", "objects.jsonl", cwd=tmp_path)
    assert imported.code == 0, imported.err

    env = {**os.environ, "NO_COLOR": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", "run", "tag-all", "--yes"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first_log = wait_for_batches(tmp_path / ".runner/logs/tag-all", 20_000, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_run = first_log.stem
    lines = [json.loads(x) for x in first_log.read_text().splitlines() if x.endswith("}")]
    assert lines[-1]["event"] != "run_finished"

    resumed = run_cli("run", "tag-all", "--yes", cwd=tmp_path)
    assert resumed.code == 0, resumed.err
    assert f"closed crashed run {killed_run} as failed (interrupted)" in resumed.out

    closed = [json.loads(x) for x in first_log.read_text().splitlines()]
    assert closed[-1]["event"] == "run_finished"
    assert (closed[-1]["status"], closed[-1]["reason"]) == ("failed", "interrupted")

    runs = json.loads(run_cli("logs", "tag-all", "--format", "json", cwd=tmp_path).out)["runs"]
    assert [r["status"] for r in runs] == ["failed", "success"]
    assert runs[1]["trigger"] == "resume"
    new_run = runs[1]["run"]
    new_lines = run_cli("logs", "--run", new_run, "--format", "json", cwd=tmp_path).out.splitlines()
    started = json.loads(new_lines[0])
    assert started["resumed_from"] == killed_run

    exported = run_cli("store", "export", cwd=tmp_path).out.splitlines()
    assert len(exported) == OBJECTS
    by_run = {killed_run: 0, new_run: 0}
    for line in exported:
        record = json.loads(line)
        assert {t["_id"] for t in record["_tags"]} == {20}
        assert record["images"]["_version"] == 2, "one version per change"
        changes = [c for c in record["_changelog"] if c["operation"] == "update"]
        assert len(changes) == 1, "every object changed exactly once"
        by_run[changes[0]["run"]] += 1
    assert by_run[killed_run] >= 20_000 and by_run[new_run] > 0
    assert by_run[killed_run] + by_run[new_run] == OBJECTS
