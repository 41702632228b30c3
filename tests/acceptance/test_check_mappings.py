"""Mapping profiles in `runner check`: their own errors, and tasks' references to them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"

BAD_MAPPINGS = [
    # (file content, line, column, message fragment)
    (
        "version: 1\nobjecttypes: [images]\nrules:\n  - {to: titel, from: Xmp.dc.title}\n",
        4,
        10,
        "objecttype 'images' has no field 'titel'; did you mean 'title'?",
    ),
    (
        "version: 1\nobjecttypes: [images]\nrules:\n"
        "  - {to: title, from: Xmp.dc.title, strategy: append}\n",
        4,
        47,
        "'append' needs a multiple field",
    ),
    (
        "version: 1\nobjecttypes: [images]\nrules:\n  - {to: title, from: dc.title}\n",
        4,
        23,
        "'dc.title' is not a metadata key",
    ),
    (
        "version: 1\nobjecttypes: [imagez]\nrules:\n  - {to: title, from: Xmp.dc.title}\n",
        2,
        15,
        "unknown objecttype 'imagez'; did you mean 'images'?",
    ),
    (
        "version: 1\nobjecttypes: [images]\nrules:\n  - {to: title, from: Xmp.dc.title}\n"
        "  - {to: title, from: Exif.Image.ImageDescription}\n",
        5,
        10,
        "target of an earlier rule",
    ),
    (
        "version: 1\nobjecttypes: [images]\nrules:\n  - {to: file, from: Xmp.dc.title}\n",
        4,
        10,
        "is a file field",
    ),
    ("version: 1\nobjecttypes: [images]\nrules: []\n", 3, 8, "needs at least 1 item"),
    (
        "version: 1\nobjecttypes: [images]\nrules:\n  - {to: title, form: Xmp.dc.title}\n",
        4,
        17,
        "unknown key 'form'; did you mean 'from'?",
    ),
]


@pytest.fixture
def repo(tmp_path):
    for name in ("runner.yaml", "datamodel.yaml"):
        shutil.copy(DATA / name, tmp_path / name)
    shutil.copytree(DATA / "mappings", tmp_path / "mappings")
    (tmp_path / "valid").mkdir()
    return tmp_path


@pytest.mark.parametrize("content,line,column,fragment", BAD_MAPPINGS)
def test_invalid_mapping_profiles(cli, repo, content, line, column, fragment):
    (repo / "mappings" / "bad.yaml").write_text(content)
    result = cli("check", "--format", "json", cwd=repo)
    assert result.code == 1
    report = json.loads(result.out)
    entry = next(f for f in report["files"] if f["path"] == "mappings/bad.yaml")
    assert entry["task"] is None
    assert any(
        e["line"] == line and e["column"] == column and fragment in e["message"]
        for e in entry["errors"]
    ), entry["errors"]


def test_mapping_files_are_checked_without_paths(cli, repo):
    result = cli("check", "--format", "json", cwd=repo)
    assert result.code == 0, result.out
    paths = [f["path"] for f in json.loads(result.out)["files"]]
    assert paths == [
        "runner.yaml",
        "datamodel.yaml",
        "mappings/photo-default.yaml",
        "mappings/scans.yaml",
    ]


def test_task_referencing_a_missing_or_partial_mapping(cli, repo):
    task = (DATA / "valid" / "metadata.yaml").read_text()
    (repo / "valid" / "missing.yaml").write_text(task.replace("photo-default", "photo-defualt"))
    (repo / "valid" / "partial.yaml").write_text(
        task.replace("objecttypes: [images]", "objecttypes: [images, documents]")
    )
    result = cli("check", "--format", "json", cwd=repo)
    files = {f["path"]: f for f in json.loads(result.out)["files"]}
    missing = files["valid/missing.yaml"]["errors"]
    assert any(
        "no mapping profile 'photo-defualt'" in e["message"]
        and "did you mean 'photo-default'" in e["message"]
        for e in missing
    )
    partial = files["valid/partial.yaml"]["warnings"]
    assert any("does not cover documents" in w["message"] for w in partial)
    assert result.code == 1
