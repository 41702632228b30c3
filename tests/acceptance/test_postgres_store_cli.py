"""`runner store init|import|export|search|restore|seed` on a PostgreSQL store, through the CLI.

The store's DSN in runner.yaml carries its password as a `${env:NAME}` secret, which shows in
no output. Until `runner store init` has made the schema, every other store command is refused
with what to run; afterwards the commands give what they give on SQLite, byte for byte.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.conftest import ROOT, Result, run_cli
from tests.pg_server import url_of

PASSWORD_VARIABLE = "RUNNER_STORE_PASSWORD"
SQLITE_STORE = "store:\n  type: sqlite\n  path: .runner/store.db\n  assets: .runner/assets\n"
REFUSED = (
    "error: the store schema in PostgreSQL is at version 0, this runner needs 1:"
    " run `runner store init`\n"
)
REQUEST = """\
objecttypes: [images, documents]
search:
  - {type: match, string: harbour, bool: should}
  - {type: in, fields: [_tags._id], in: [20], bool: should}
sort:
  - {field: _system_object_id, order: DESC}
"""
TRASHED = {
    "_objecttype": "images",
    "_system_object_id": 9001,
    "_latest_version_deleted_at": "2026-01-02T03:04:05.000Z",
    "_changelog": [
        {"_version": 1, "date_created": "2026-01-01T00:00:00.000Z", "operation": "insert"},
        {
            "_version": 2,
            "date_created": "2026-01-02T03:04:05.000Z",
            "operation": "delete",
            "run": "cleanup-1",
        },
    ],
    "images": {"_id": 9001, "_version": 2, "_pool": {"pool": {"_id": 3}}, "title": "Old pier"},
}


def repository(root: Path, store: str) -> Path:
    root.mkdir()
    for name in ("runner.yaml", "datamodel.yaml"):
        shutil.copy(ROOT / name, root / name)
    config = root / "runner.yaml"
    text = config.read_text()
    assert SQLITE_STORE in text
    config.write_text(text.replace(SQLITE_STORE, store))
    (root / "request.yaml").write_text(REQUEST)
    (root / "trashed.jsonl").write_text(json.dumps(TRASHED) + "\n")
    return root


@pytest.fixture
def password(pg_dsn: str) -> str:
    """The server's password, or (a server that trusts local users) one it ignores."""
    return str(conninfo_to_dict(pg_dsn).get("password") or "store-pw-that-must-never-show-4b1d")


@pytest.fixture
def pg_repo(tmp_path: Path, pg_dsn: str) -> Path:
    dsn = url_of(pg_dsn, PASSWORD_VARIABLE)
    return repository(
        tmp_path / "pg", f"store:\n  type: postgres\n  dsn: '{dsn}'\n  assets: assets\n"
    )


@pytest.fixture
def pg_cli(pg_repo: Path, password: str):
    def run(*args: str, cwd: Path = pg_repo) -> Result:
        result = run_cli(*args, cwd=cwd, env={PASSWORD_VARIABLE: password})
        assert password not in result.out + result.err
        return result

    return run


def test_every_store_command_before_init_says_what_to_run(pg_cli) -> None:
    for command in (["search", "request.yaml", "--as", "root"], ["import", "trashed.jsonl"]):
        result = pg_cli("store", *command)
        assert (result.code, result.err) == (1, REFUSED), command


def test_store_commands_on_postgres(pg_cli, pg_repo: Path) -> None:
    created = pg_cli("store", "init")
    assert (created.code, created.out.splitlines()[0]) == (0, "store created (schema version 1)")
    assert "the data model is unchanged" in pg_cli("store", "init").out
    seeded = pg_cli("store", "seed", "--objects", "120", "--files", "3")
    assert seeded.code == 0 and seeded.out.startswith("seeded 120 objects, 3 with a JPEG file")
    assert len(list((pg_repo / "assets").rglob("*.jpg"))) == 3
    assert pg_cli("store", "import", "trashed.jsonl").out == "imported 1 records (0 replaced)\n"
    found = json.loads(
        pg_cli("store", "search", "request.yaml", "--as", "editor", "--format", "json").out
    )
    assert found["count"] == len(found["objects"]) > 0
    assert [o["_system_object_id"] for o in found["objects"]] == sorted(
        (o["_system_object_id"] for o in found["objects"]), reverse=True
    )
    restored = pg_cli("store", "restore", "--run", "cleanup-1")
    assert (restored.code, restored.out) == (0, "restored 1 objects trashed by run cleanup-1\n")
    assert pg_cli("store", "export", "-o", "export.jsonl").code == 0
    lines = (pg_repo / "export.jsonl").read_text().splitlines()
    assert len(lines) == 121 and '"_system_object_id":9001' in lines[-1]


def test_postgres_gives_what_sqlite_gives_byte_for_byte(
    pg_cli, pg_repo: Path, tmp_path: Path
) -> None:
    sqlite_repo = repository(tmp_path / "sqlite", SQLITE_STORE)
    assert run_cli("store", "seed", "--objects", "150", "--files", "0", cwd=sqlite_repo).code == 0
    assert run_cli("store", "import", "trashed.jsonl", cwd=sqlite_repo).code == 0
    records = run_cli("store", "export", cwd=sqlite_repo).out
    (pg_repo / "records.jsonl").write_text(records)
    assert pg_cli("store", "init").code == 0
    assert pg_cli("store", "import", "records.jsonl").out == "imported 151 records (0 replaced)\n"
    assert pg_cli("store", "export").out == records
    for user in ("editor", "guest"):
        asked = ["store", "search", "request.yaml", "--as", user, "--format", "json"]
        assert pg_cli(*asked).out == run_cli(*asked, cwd=sqlite_repo).out, user
