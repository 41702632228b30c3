"""runner schema, runner init and runner next through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from runner.commands.schema import render, schemas
from runner.spec.yamlsafe import load

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "tasks.d").rglob("*.yaml"))


def test_committed_schemas_are_current():
    for name, schema in schemas().items():
        committed = (ROOT / "schemas" / name).read_text(encoding="utf-8")
        assert committed == render(schema), f"schemas/{name} is stale: run 'runner schema'"


def test_schemas_have_no_format_keywords():
    def walk(node):
        if isinstance(node, dict):
            properties = node.get("properties", {})
            for key, value in node.items():
                if key == "format" and not isinstance(value, dict):
                    pytest.fail(f"a 'format' keyword in the schema: {node}")
                if key != "properties":
                    walk(value)
            for value in properties.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for schema in schemas().values():
        walk(schema)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_task_schema_accepts_examples(path):
    schema = json.loads((ROOT / "schemas" / "task.schema.json").read_text())
    data, _ = load(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)


@pytest.mark.parametrize(
    "name,path",
    [
        ("runner", "runner.yaml"),
        ("datamodel", "datamodel.yaml"),
        ("mapping", "mappings/photo-default.yaml"),
    ],
)
def test_other_schemas_accept_examples(name, path):
    schema = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
    data, _ = load((ROOT / path).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)


def test_task_schema_rejects_what_check_rejects_structurally():
    schema = json.loads((ROOT / "schemas" / "task.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    data, _ = load((ROOT / "tasks.d/review/tag-new-imports.yaml").read_text())
    for broken in (
        {**data, "shedule": {}},
        {**data, "module": "nope"},
        {**data, "timeout": "30 minutes"},
    ):
        assert list(validator.iter_errors(broken)), broken


def test_every_example_starts_with_the_schema_line():
    mappings = sorted((ROOT / "mappings").glob("*.yaml"))
    for path in [*EXAMPLES, *mappings, ROOT / "runner.yaml", ROOT / "datamodel.yaml"]:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = first.split("$schema=", 1)[1]
        assert (path.parent / target).resolve().is_file(), (path, target)


def test_schema_command_writes_files(cli, tmp_path):
    result = cli("schema", "--output", str(tmp_path / "out"))
    assert result.code == 0, result.err
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [
        "datamodel.schema.json",
        "mapping.schema.json",
        "runner.schema.json",
        "task.schema.json",
    ]
    again = cli("schema", "--output", str(tmp_path / "out"))
    assert again.out.count("unchanged") == 4


def test_init_scaffolds_a_repository_that_checks(cli, tmp_path):
    target = tmp_path / "repo"
    result = cli("init", str(target))
    assert result.code == 0, result.err
    for name in (
        "runner.yaml",
        "datamodel.yaml",
        "tasks.d/example.yaml",
        "schemas/task.schema.json",
        ".pre-commit-config.yaml",
        ".github/workflows/runner-check.yml",
        ".gitignore",
    ):
        assert (target / name).is_file(), name
    workflow = (target / ".github/workflows/runner-check.yml").read_text()
    assert "runner check --format github" in workflow
    check = cli("check", "--format", "json", cwd=target)
    assert check.code == 0, check.out
    report = json.loads(check.out)
    assert [f["path"] for f in report["files"]] == [
        "tasks.d/example.yaml",
        "runner.yaml",
        "datamodel.yaml",
    ]
    nxt = cli("next", "example", "--after", "2026-11-27T12:00:00Z", "--format", "json", cwd=target)
    assert json.loads(nxt.out)["next_runs"][0] == "2026-11-30T07:00:00+00:00"


def test_init_keeps_existing_files(cli, tmp_path):
    (tmp_path / "runner.yaml").write_text("version: 1\ntimezone: Europe/Berlin\n")
    result = cli("init", str(tmp_path))
    assert result.code == 0
    assert "kept    runner.yaml" in result.out
    assert (tmp_path / "runner.yaml").read_text() == "version: 1\ntimezone: Europe/Berlin\n"


def test_pre_commit_hooks_file_runs_runner_check():
    hooks, _ = load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "runner-check" and hooks[0]["entry"] == "runner check"


def test_next_json_for_cron_task(cli):
    result = cli(
        "next",
        "review/tag-new-imports",
        "--after",
        "2026-11-27T07:00:00",
        "--count",
        "3",
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "task": "review/tag-new-imports",
        "timezone": "Europe/Berlin",
        "next_runs": [
            "2026-11-30T06:00:00+01:00",
            "2026-12-01T06:00:00+01:00",
            "2026-12-02T06:00:00+01:00",
        ],
    }


def test_next_accepts_a_path_and_every_schedules(cli):
    result = cli(
        "next",
        "tasks.d/reports/weekly-embargo.yaml",
        "--after",
        "2026-03-20T00:00:00+01:00",
        "--count",
        "2",
        "--format",
        "json",
    )
    assert json.loads(result.out)["next_runs"] == [
        "2026-03-23T08:30:00+01:00",
        "2026-03-30T08:30:00+02:00",
    ]


def test_next_for_manual_and_disabled_tasks_is_empty(cli, tmp_path):
    base = (ROOT / "tasks.d/review/tag-new-imports.yaml").read_text()
    manual = tmp_path / "manual.yaml"
    manual.write_text(base.split("schedule:")[0] + "search:" + base.split("search:", 1)[1])
    disabled = tmp_path / "disabled.yaml"
    disabled.write_text(base.replace("enabled: true", "enabled: false"))
    for path in (manual, disabled):
        result = cli("next", str(path), "--format", "json")
        assert result.code == 0, result.err
        assert json.loads(result.out)["next_runs"] == []


def test_next_at_task_prints_its_time_only_when_after(cli, tmp_path):
    base = (ROOT / "tasks.d/review/tag-new-imports.yaml").read_text()
    at = tmp_path / "once.yaml"
    at.write_text(base.replace('cron: "0 6 * * 1-5"', 'at: "2027-01-15T09:00:00"'))
    before = cli("next", str(at), "--after", "2027-01-01T00:00:00Z", "--format", "json")
    assert json.loads(before.out)["next_runs"] == ["2027-01-15T09:00:00+01:00"]
    after = cli("next", str(at), "--after", "2027-02-01T00:00:00Z", "--format", "json")
    assert json.loads(after.out)["next_runs"] == []


def test_next_errors(cli, tmp_path):
    assert cli("next", "no/such-task").code == 1
    assert "no task 'no/such-task'" in cli("next", "no/such-task").err
    assert cli("next", "review/tag-new-imports", "--after", "yesterday").code == 2
    assert cli("next", "review/tag-new-imports", "--count", "0").code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2\n")
    invalid = cli("next", str(bad))
    assert invalid.code == 1 and "bad.yaml" in invalid.err
