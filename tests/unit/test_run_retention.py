"""Retention of run logs: the last `keep_runs` runs and the runs of the last `keep_days` days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from runner.runs.ids import new_run_id
from runner.runs.log import prune

NOW = datetime(2026, 11, 28, 6, 0, 0, 500_250, tzinfo=UTC)


def runs_started(task_dir: Path, *starts: datetime) -> list[str]:
    """Log files (with a CSV each) of runs started at `starts`."""
    task_dir.mkdir(parents=True, exist_ok=True)
    ids = []
    for start in starts:
        run_id = new_run_id(start)
        (task_dir / f"{run_id}.jsonl").write_text("{}\n")
        (task_dir / f"{run_id}.csv").write_text("id\n")
        ids.append(run_id)
    (task_dir / "fires.jsonl").write_text("{}\n")
    return ids


def kept(task_dir: Path) -> list[str]:
    return sorted(p.name for p in task_dir.iterdir())


def test_keep_days_keeps_runs_started_at_the_cutoff_to_the_millisecond(tmp_path: Path) -> None:
    cutoff = NOW - timedelta(days=2)  # 06:00:00.500250: the runs of 06:00:00.501 on are kept
    old, before, at = runs_started(
        tmp_path,
        NOW - timedelta(days=30),
        cutoff.replace(microsecond=500_000),
        cutoff.replace(microsecond=501_000),
    )
    pruned = prune(tmp_path, keep_runs=None, keep_days=2, now=NOW, protect=set())
    assert sorted(pruned.run_ids) == sorted([old, before])
    assert kept(tmp_path) == [f"{at}.csv", f"{at}.jsonl", "fires.jsonl"]


def test_keep_runs_keeps_the_newest_and_both_rules_apply(tmp_path: Path) -> None:
    starts = [NOW - timedelta(hours=h) for h in (240, 72, 48, 12, 0)]
    ids = runs_started(tmp_path, *starts)
    pruned = prune(tmp_path, keep_runs=3, keep_days=None, now=NOW, protect=set())
    assert sorted(pruned.run_ids) == ids[:2]
    pruned = prune(tmp_path, keep_runs=3, keep_days=1, now=NOW, protect=set())
    assert sorted(pruned.run_ids) == [ids[2]]
    assert kept(tmp_path) == sorted(
        [*(f"{i}.{ext}" for i in ids[3:] for ext in ("csv", "jsonl")), "fires.jsonl"]
    )


def test_running_runs_are_never_pruned(tmp_path: Path) -> None:
    old, _ = runs_started(tmp_path, NOW - timedelta(days=400), NOW)
    pruned = prune(tmp_path, keep_runs=1, keep_days=1, now=NOW, protect={old})
    assert pruned.run_ids == [] and pruned.files == []
    assert len(kept(tmp_path)) == 5
