"""Benchmark: `runner check` on 1,000 realistic task files beside check-jsonschema.

Both run as whole processes on the same files, best of three, in the same run (this machine
is noisy: compare the ratio, not the seconds). runner does every semantic check against the
data model too; check-jsonschema only validates the JSON Schema. Also prints the peak memory
of `runner check` on 10,000 files.

    python bench/check.py [--files 1000] [--big 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

MODULE_PARAMS = {
    "set_unset_tags": (
        "params:\n  tags:\n    - {{_id: 16, set: true}}\n"
        "    - {{reference: favourite, set: {flag}}}\n"
    ),
    "delete_objects": "params:\n  mode: trash\n",
    "search": (
        "params:\n  fields: [_system_object_id, images.title, images.shot_at]\n"
        "  max_rows: {rows}\n  attach: csv\n"
    ),
    "metadata": (
        "params:\n  mapping: photo-default\n  file_field: images.file\n  overwrite: {flag}\n"
        "  tags:\n    - {{reference: metadata-synced, set: true}}\n"
    ),
}
SCHEDULES = [
    'schedule:\n  cron: "{m} {h} * * 1-5"\n  timezone: Europe/Berlin\n'
    "  missed: once\n  max_lateness: 1h\n",
    'schedule:\n  cron: ["{m} {h} * * *", "H 3 * * 0"]\n  timezone: America/New_York\n',
    "schedule:\n  every:\n    - {{weekdays: [monday, thursday], hours: [{h}], minutes: [{m}]}}\n"
    "  timezone: Australia/Lord_Howe\n  missed: all\n  max_catchup: 5\n",
    'schedule:\n  at: "2030-01-{d:02d}T{h:02d}:{m:02d}:00+01:00"\n',
    "",
]
SEARCHES = [
    "    - {{type: in, fields: [_tags._id], in: [15]}}\n"
    "    - {{type: range, field: _last_modified, from: $now-{d}d}}\n",
    "    - {{type: in, fields: [images._pool._path.pool._id], in: [2]}}\n"
    "    - {{type: match, fields: [images.title], string: harbour {m}, mode: fulltext}}\n",
    "    - type: complex\n      search:\n"
    "        - {{type: in, fields: [_tags._id], in: [21], bool: should}}\n"
    "        - {{type: range, field: images.shot_at, from: '2020-01-01', to: $startOfYear,"
    " bool: should}}\n"
    "    - {{type: in, fields: [_tags._id], in: [18], bool: must_not}}\n",
]


def task_text(i: int, rng: random.Random) -> str:
    module = list(MODULE_PARAMS)[i % 4]
    values = {"m": rng.randrange(60), "h": rng.randrange(24), "d": rng.randrange(1, 28)}
    schedule = rng.choice(SCHEDULES).format(**values)
    search = rng.choice(SEARCHES).format(**values)
    params = MODULE_PARAMS[module].format(
        flag=rng.choice(["true", "false"]), rows=rng.randrange(10, 500)
    )
    notify = (
        "notify:\n  email:\n    to: [ops@example.org]\n    problems_only: true\n" if i % 3 else ""
    )
    return (
        "# yaml-language-server: $schema=../../schemas/task.schema.json\n"
        f"version: 1\ndescription: Generated task {i} for the check benchmark\n"
        f"module: {module}\nrun_as: {rng.choice(['editor', 'archivist', 'root'])}\n"
        f"{schedule}timeout: {rng.randrange(1, 90)}m\n"
        f"search:\n  objecttypes: [images]\n  search:\n{search}"
        f"limits:\n  max_objects: {rng.randrange(100, 100000)}\n{params}{notify}"
    )


def make_repository(directory: Path, count: int) -> Path:
    """A task repository with `count` task files in 20 sub-directories."""
    rng = random.Random(count)
    for name in ("runner.yaml", "datamodel.yaml"):
        shutil.copy(ROOT / name, directory / name)
    shutil.copytree(ROOT / "mappings", directory / "mappings")
    shutil.copytree(ROOT / "schemas", directory / "schemas")
    for i in range(count):
        path = directory / "tasks.d" / f"group-{i % 20:02d}" / f"task-{i:05d}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(task_text(i, rng), encoding="utf-8")
    return directory


def timed(command: list[str], cwd: Path, expect: int = 0) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != expect:
        raise SystemExit(f"{command[0]} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    return elapsed


def peak_rss_mib(command: list[str], cwd: Path) -> float:
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("runner check failed on the big repository")
    return usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--big", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runner-bench-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        make_repository(repo, args.files)
        files = sorted(str(p.relative_to(repo)) for p in (repo / "tasks.d").rglob("*.yaml"))
        runner = [str(BIN / "runner"), "check", "tasks.d"]
        baseline = [
            str(BIN / "check-jsonschema"),
            "--schemafile",
            "schemas/task.schema.json",
            *files,
        ]
        runner_best = min(timed(runner, repo) for _ in range(args.repeat))
        baseline_best = min(timed(baseline, repo) for _ in range(args.repeat))
        print(f"files checked:                      {len(files)}")
        print(f"runner check (all semantic checks): {runner_best:.3f} s (best of {args.repeat})")
        print(f"check-jsonschema (schema only):     {baseline_best:.3f} s (best of {args.repeat})")
        print(
            f"ratio check-jsonschema / runner:    {baseline_best / runner_best:.1f}x  (goal: >= 3x)"
        )
        big = Path(tmp) / "big"
        big.mkdir()
        make_repository(big, args.big)
        rss = peak_rss_mib([str(BIN / "runner"), "check", "tasks.d"], big)
        print(f"peak RSS of runner check, {args.big} files: {rss:.1f} MiB")


if __name__ == "__main__":
    main()
