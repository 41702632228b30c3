"""`runner state migrate` and a PostgreSQL state through the real CLI.

A PostgreSQL state is refused (with what to run, exit 1, no traceback) by every command that
uses it until `runner state migrate` has made its schema; then `runner run`, `runner status`
and `runner daemon` keep their runs, fires and daemons in it. Its password is a secret
reference in runner.yaml and shows in no output, log or mail.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from runner.state.postgres import PostgresState, masked
from runner.state.sqlite import SCHEMA_VERSION as SQLITE_VERSION
from tests.conftest import ROOT, run_cli
from tests.pg_server import url_of

PASSWORD_VARIABLE = "RUNNER_PG_PASSWORD"
ONCE = """\
version: 1
description: Count the images once
module: search
run_as: editor
schedule:
  at: now
search:
  objecttypes: [images]
"""


def state_url(dsn: str) -> str:
    """runner.yaml's `state:` for a test database, its password a secret reference."""
    return url_of(dsn, PASSWORD_VARIABLE)


@pytest.fixture
def password(pg_dsn: str) -> str:
    """The server's password, or (a server that trusts local users) one it ignores."""
    return str(conninfo_to_dict(pg_dsn).get("password") or "pw-that-must-never-show-7f3a")


@pytest.fixture
def repo(tmp_path: Path, pg_dsn: str) -> Path:
    """The example repository with its state in a fresh PostgreSQL database."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("runner.yaml", "datamodel.yaml"):
        shutil.copy(ROOT / name, root / name)
    for name in ("tasks.d", "mappings"):
        shutil.copytree(ROOT / name, root / name)
    config = root / "runner.yaml"
    text = config.read_text()
    assert "state: sqlite:.runner/state.db\n" in text
    config.write_text(text.replace("sqlite:.runner/state.db", state_url(pg_dsn)))
    return root


def test_an_unmigrated_postgres_state_is_refused_with_what_to_run(repo, password):
    env = {PASSWORD_VARIABLE: password}
    wanted = (
        "error: the state schema in PostgreSQL is at version 0, this runner needs 1:"
        " run `runner state migrate`\n"
    )
    assert run_cli("store", "init", cwd=repo, env=env).code == 0, "the store is not the state"
    for command in (
        ["status"],
        ["run", "reports/weekly-embargo", "--yes"],
        ["daemon", "--for", "10s"],
    ):
        result = run_cli(*command, cwd=repo, env=env)
        assert (result.code, result.err) == (1, wanted), command
        assert password not in result.out + result.err


@pytest.mark.slow
def test_after_migrate_runs_fires_and_daemons_are_kept_in_postgres(repo, pg_dsn, password):
    env = {PASSWORD_VARIABLE: password}
    where = masked(state_url(pg_dsn))
    assert "***" in where
    migrated = run_cli("state", "migrate", cwd=repo, env=env)
    assert (migrated.code, migrated.out) == (
        0,
        f"state {where}: schema migrated from version 0 to 1\n",
    )
    again = run_cli("state", "migrate", cwd=repo, env=env)
    assert again.out == f"state {where}: schema is up to date (version 1)\n"

    outputs = [migrated, again]
    outputs.append(run_cli("store", "seed", "--objects", "5", "--files", "0", cwd=repo, env=env))
    outputs.append(run_cli("run", "reports/weekly-embargo", cwd=repo, env=env))
    assert outputs[-1].code == 0, outputs[-1].err
    (repo / "tasks.d" / "once.yaml").write_text(ONCE)
    daemon = run_cli("daemon", "--for", "4s", cwd=repo, env=env)
    assert daemon.code == 0, daemon.err
    outputs.append(run_cli("status", "--format", "json", cwd=repo, env=env))
    status = json.loads(outputs[-1].out)

    tasks = {task["task"]: task for task in status["tasks"]}
    assert tasks["reports/weekly-embargo"]["last_run"]["status"] == "success"
    assert tasks["once"]["last_run"]["status"] == "success"
    state = PostgresState(pg_dsn)
    try:
        assert [(r.task_id, r.trigger) for r in state.runs()] == [
            ("once", "schedule"),
            ("reports/weekly-embargo", "manual"),
        ]
        assert state.has_at_fire("once")
        [recorded] = state.daemons()
        assert recorded.stopped is not None
    finally:
        state.close()
    shown = "".join(o.out + o.err for o in outputs) + daemon.out + daemon.err
    written = "".join(p.read_text() for p in (repo / ".runner").rglob("*") if _is_text(p))
    assert password not in shown + written


def test_an_unset_password_is_named_not_shown(repo):
    result = run_cli("status", cwd=repo)
    assert result.code == 1
    assert (
        result.err == f"error: secret ${{env:{PASSWORD_VARIABLE}}} is not set in the environment\n"
    )


def test_migrate_upgrades_an_sqlite_file_as_opening_it_would(tmp_path):
    (tmp_path / "runner.yaml").write_text("version: 1\n")
    path = tmp_path / ".runner" / "state.db"
    created = run_cli("state", "migrate", cwd=tmp_path)
    assert (created.code, created.out) == (
        0,
        f"state {path}: schema migrated from version 0 to {SQLITE_VERSION}\n",
    )
    again = run_cli("state", "migrate", cwd=tmp_path)
    assert again.out == f"state {path}: schema is up to date (version {SQLITE_VERSION})\n"


def _is_text(path: Path) -> bool:
    if not path.is_file() or path.suffix == ".db":
        return False
    try:
        path.read_text()
    except UnicodeDecodeError:
        return False
    return True
