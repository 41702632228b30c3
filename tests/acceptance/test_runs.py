"""Runs through the real CLI on a seeded store: each module, dry runs, the guard, undo, logs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

SEEDED = 400


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """The example repository with a seeded store, made once; tests work on copies."""
    base = tmp_path_factory.mktemp("seeded")
    for name in ("runner.yaml", "datamodel.yaml"):
        shutil.copy(ROOT / name, base / name)
    for name in ("tasks.d", "mappings"):
        shutil.copytree(ROOT / name, base / name)
    result = run_cli("store", "seed", "--objects", str(SEEDED), "--files", "60", cwd=base)
    assert result.code == 0, result.err
    return base


@pytest.fixture
def repo(seeded, tmp_path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(seeded, target, symlinks=True)
    return target


def export(repo: Path) -> list[dict]:
    result = run_cli("store", "export", cwd=repo)
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


def export_text(repo: Path) -> str:
    return run_cli("store", "export", cwd=repo).out


def search_ids(repo: Path, request: dict, user: str) -> list[int]:
    path = repo / "request.json"
    path.write_text(json.dumps(request))
    result = run_cli(
        "store",
        "search",
        str(path),
        "--as",
        user,
        "--format",
        "json",
        "--limit",
        "100000",
        cwd=repo,
    )
    assert result.code == 0, result.err
    return [r["_system_object_id"] for r in json.loads(result.out)["objects"]]


def log_of(repo: Path, task: str) -> list[dict]:
    runs = json.loads(run_cli("logs", task, "--format", "json", cwd=repo).out)["runs"]
    lines = run_cli("logs", task, "--run", runs[-1]["run"], "--format", "json", cwd=repo).out
    return [json.loads(line) for line in lines.splitlines()]


def finished(lines: list[dict]) -> dict:
    assert lines[-1]["event"] == "run_finished"
    return lines[-1]


def tags(record: dict) -> set[int]:
    return {t["_id"] for t in record.get("_tags", [])}


def test_set_unset_tags_changes_exactly_the_writable_matches(repo):
    request = {
        "objecttypes": ["images"],
        "search": [
            {"type": "in", "fields": ["_tags._id"], "in": [15]},
            {"type": "range", "field": "_last_modified", "from": "$now-7d"},
        ],
    }
    matched = set(search_ids(repo, request, "editor"))
    before = {r["_system_object_id"]: r for r in export(repo)}
    result = run_cli("run", "review/tag-new-imports", "--yes", cwd=repo)
    assert result.code == 0, result.err
    after = {r["_system_object_id"]: r for r in export(repo)}
    lines = log_of(repo, "review/tag-new-imports")
    denied = {line["object"] for line in lines if line["event"] == "object_denied"}
    assert matched, "the seed must give this task work"
    for object_id, record in after.items():
        if object_id in matched and object_id not in denied:
            assert 16 in tags(record) and 20 not in tags(record)
            # 16 is in the `choice` group workflow: it replaced 15 there
            assert 15 not in tags(record)
        else:
            assert record == before[object_id]
    counts = finished(lines)["counts"]
    assert counts["matched"] == len(matched)
    assert counts["denied"] == len(denied)
    assert counts["matched"] == sum(
        counts[k] for k in ("changed", "unchanged", "skipped", "denied", "failed")
    )


def test_log_lines_follow_the_design(repo):
    assert run_cli("run", "reports/weekly-embargo", cwd=repo).code == 0
    lines = log_of(repo, "reports/weekly-embargo")
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert lines[0]["event"] == "run_started" and lines[1]["event"] == "search_done"
    for line in lines:
        assert {"ts", "run", "task", "seq", "level", "event", "msg"} <= set(line)
        assert line["ts"].endswith("Z") and len(line["ts"]) == len("2026-11-28T06:00:00.123Z")
    started = lines[0]
    assert started["trigger"] == "manual" and started["run_as"] == "editor"
    assert started["scheduled_for"] is None and len(started["spec_hash"]) == 64
    end = finished(lines)
    assert end["status"] == "success" and end["reason"] is None
    assert set(end["counts"]) == {"matched", "changed", "unchanged", "skipped", "denied", "failed"}


def test_search_module_writes_the_hit_list_as_csv(repo):
    assert run_cli("run", "reports/weekly-embargo", cwd=repo).code == 0
    lines = log_of(repo, "reports/weekly-embargo")
    csv_path = repo / ".runner/logs/reports/weekly-embargo" / f"{lines[0]['run']}.csv"
    rows = list(csv.reader(csv_path.open()))
    assert rows[0] == ["_system_object_id", "images.title", "images.creator", "images.shot_at"]
    assert len(rows) - 1 == finished(lines)["counts"]["matched"] == lines[1]["count"]


def test_delete_objects_trashes_and_store_restore_brings_back(repo):
    before = export_text(repo)
    assert run_cli("run", "cleanup/empty-trash-candidates", "--yes", cwd=repo).code == 0
    lines = log_of(repo, "cleanup/empty-trash-candidates")
    trashed = [r for r in export(repo) if r.get("_latest_version_deleted_at")]
    assert len(trashed) == finished(lines)["counts"]["changed"] > 0
    restore = run_cli("store", "restore", "--run", lines[0]["run"], cwd=repo)
    assert restore.code == 0, restore.err
    assert f"restored {len(trashed)} objects" in restore.out
    assert not [r for r in export(repo) if r.get("_latest_version_deleted_at")]
    assert _without_history(before) == _without_history(export_text(repo))


def test_metadata_fills_fields_from_the_files_and_tags_updated_objects(repo):
    assert run_cli("run", "metadata/sync-from-files", "--yes", cwd=repo).code == 0
    lines = log_of(repo, "metadata/sync-from-files")
    counts = finished(lines)["counts"]
    assert counts["changed"] > 0
    updated = {r["_system_object_id"]: r for r in export(repo)}
    skipped = {
        line["object"]: line["reason"] for line in lines if line["event"] == "object_skipped"
    }
    assert set(skipped.values()) <= {"no_file", "no_mapping"}
    run_id = lines[0]["run"]
    synced = [
        r for r in updated.values() if any(c.get("run") == run_id for c in r.get("_changelog", []))
    ]
    assert len(synced) == counts["changed"]
    for record in synced:
        body = record["images"]
        assert 22 in tags(record)
        assert body["title"] and body["file"]["path"].endswith(".jpg")
    # incremental: the run's own changes do not select the objects again
    assert run_cli("run", "metadata/sync-from-files", "--yes", cwd=repo).code == 0
    assert finished(log_of(repo, "metadata/sync-from-files"))["counts"]["matched"] == 0


@pytest.mark.parametrize(
    "task",
    ["review/tag-new-imports", "cleanup/empty-trash-candidates", "metadata/sync-from-files"],
)
def test_dry_run_changes_nothing(repo, task):
    before = export_text(repo)
    result = run_cli("run", task, "--dry-run", cwd=repo)
    assert result.code == 0, result.err
    assert export_text(repo) == before
    end = finished(log_of(repo, task))
    assert end["counts"]["changed"] > 0  # what a real run would change
    assert log_of(repo, task)[0]["dry_run"] is True


def test_guard_refuses_more_matches_than_max_objects(repo):
    path = repo / "tasks.d/review/tag-new-imports.yaml"
    path.write_text(path.read_text().replace("max_objects: 5000", "max_objects: 1"))
    before = export_text(repo)
    result = run_cli("run", "review/tag-new-imports", "--yes", cwd=repo)
    assert result.code == 1
    assert export_text(repo) == before
    lines = log_of(repo, "review/tag-new-imports")
    refused = next(line for line in lines if line["event"] == "guard_refused")
    assert refused["max_objects"] == 1 and refused["count"] > 1
    end = finished(lines)
    assert (end["status"], end["reason"]) == ("failed", "max_objects")
    assert end["counts"]["changed"] == 0


def test_data_changing_run_without_terminal_needs_yes(repo):
    before = export_text(repo)
    result = run_cli("run", "review/tag-new-imports", cwd=repo)
    assert result.code == 1
    assert "pass --yes" in result.err
    assert export_text(repo) == before
    # a search changes nothing, so it needs no confirmation
    assert run_cli("run", "reports/weekly-embargo", cwd=repo).code == 0


def test_disabled_task_runs_only_with_force(repo):
    path = repo / "tasks.d/reports/weekly-embargo.yaml"
    path.write_text(
        path.read_text().replace("module: search\n", "module: search\nenabled: false\n")
    )
    refused = run_cli("run", "reports/weekly-embargo", cwd=repo)
    assert refused.code == 1 and "disabled" in refused.err
    assert run_cli("run", "reports/weekly-embargo", "--force", cwd=repo).code == 0


def test_unknown_task_and_invalid_task(repo):
    assert run_cli("run", "no/such", cwd=repo).code == 1
    path = repo / "tasks.d/reports/weekly-embargo.yaml"
    path.write_text(path.read_text().replace("run_as: editor", "run_as: nobody"))
    invalid = run_cli("run", "reports/weekly-embargo", cwd=repo)
    assert invalid.code == 1 and "unknown user 'nobody'" in invalid.err


def _without_history(text: str) -> list[dict]:
    """Records without what every write changes: versions, times and the changelog."""
    records = []
    for line in text.splitlines():
        record = json.loads(line)
        record.pop("_last_modified", None)
        record.pop("_changelog", None)
        body = record.get(record["_objecttype"], {})
        body.pop("_version", None)
        records.append(record)
    return records


@pytest.mark.parametrize(
    "task",
    ["review/tag-new-imports", "cleanup/empty-trash-candidates", "metadata/sync-from-files"],
)
def test_undo_restores_the_export(repo, task):
    before = export_text(repo)
    assert run_cli("run", task, "--yes", cwd=repo).code == 0
    run_id = log_of(repo, task)[0]["run"]
    assert _without_history(export_text(repo)) != _without_history(before)
    result = run_cli("undo", run_id, "--yes", cwd=repo)
    assert result.code == 0, result.err
    assert _without_history(export_text(repo)) == _without_history(before)
    undo_lines = log_of(repo, task)
    assert undo_lines[0]["trigger"] == "undo" and undo_lines[0]["undo_of"] == run_id
    # undoing again finds every object already back: skipped, changed since the run
    again = run_cli("undo", run_id, "--yes", cwd=repo)
    assert again.code == 0
    counts = finished(log_of(repo, task))["counts"]
    assert counts["changed"] == 0 and counts["skipped"] == counts["matched"]


def test_undo_leaves_objects_changed_since_alone(repo):
    assert run_cli("run", "review/tag-new-imports", "--yes", cwd=repo).code == 0
    tag_run = log_of(repo, "review/tag-new-imports")[0]["run"]
    changed = [
        r for r in export(repo) if any(c.get("run") == tag_run for c in r.get("_changelog", []))
    ]
    victim = changed[0]["_system_object_id"]
    (repo / "tasks.d/touch.yaml").write_text(
        "version: 1\ndescription: change one object again\nmodule: set_unset_tags\n"
        "run_as: root\nsearch:\n  search:\n"
        f"    - {{type: in, fields: [_system_object_id], in: [{victim}]}}\n"
        "params:\n  tags:\n    - {reference: embargo, set: true}\n"
    )
    assert run_cli("run", "touch", "--yes", cwd=repo).code == 0
    assert run_cli("undo", tag_run, "--yes", cwd=repo).code == 0
    lines = log_of(repo, "review/tag-new-imports")
    skipped = [line for line in lines if line["event"] == "object_skipped"]
    assert [(s["object"], s["reason"]) for s in skipped] == [(victim, "changed_since_run")]


def test_undo_unknown_run_and_dry_run_target(repo):
    missing = run_cli("undo", "20990101T000000000Z-abcdef", "--yes", cwd=repo)
    assert missing.code == 1 and "no run" in missing.err
    assert run_cli("run", "review/tag-new-imports", "--dry-run", cwd=repo).code == 0
    dry = log_of(repo, "review/tag-new-imports")[0]["run"]
    refused = run_cli("undo", dry, "--yes", cwd=repo)
    assert refused.code == 1 and "dry run" in refused.err


def test_logs_lists_runs_and_filters_events(repo):
    assert run_cli("run", "review/tag-new-imports", "--yes", cwd=repo).code == 0
    listing = json.loads(
        run_cli("logs", "review/tag-new-imports", "--format", "json", cwd=repo).out
    )
    assert listing["task"] == "review/tag-new-imports"
    run = listing["runs"][-1]
    assert set(run) == {
        "run",
        "trigger",
        "started",
        "finished",
        "duration_s",
        "status",
        "reason",
        "counts",
    }
    assert run["status"] == "success" and run["trigger"] == "manual"
    warnings = run_cli(
        "logs", "--run", run["run"], "--level", "warning", "--format", "json", cwd=repo
    ).out
    levels = {json.loads(line)["level"] for line in warnings.splitlines()}
    assert levels <= {"warning", "error"}
    text = run_cli("logs", "--run", run["run"], cwd=repo).out
    assert "run_started" in text and "run_finished" in text
    followed = run_cli("logs", "review/tag-new-imports", "--follow", cwd=repo)
    assert followed.code == 0 and followed.out.strip().splitlines()[-1].split()[2] == "run_finished"
    everything = json.loads(run_cli("logs", "--format", "json", cwd=repo).out)
    assert everything["task"] is None and everything["runs"][-1]["task"] == "review/tag-new-imports"
