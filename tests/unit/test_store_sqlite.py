"""What only the SQLite backend has: its file settings, schema versions and query plans."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from store_support import NOW, image, load, repo_model, request

from runner.store.errors import SchemaTooNew
from runner.store.sqlite import SqliteStore
from runner.store.sqlite_model import apply_model
from runner.store.sqlite_schema import SCHEMA_VERSION, migrate


@pytest.fixture
def sqlite_store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "store.db", tmp_path / "assets")
    store.init(repo_model())
    return store


def test_the_file_is_wal_with_busy_timeout_and_foreign_keys(sqlite_store: SqliteStore) -> None:
    pragma = {
        name: sqlite_store.conn.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("journal_mode", "busy_timeout", "foreign_keys", "user_version")
    }
    assert pragma == {
        "journal_mode": "wal",
        "busy_timeout": 30000,
        "foreign_keys": 1,
        "user_version": SCHEMA_VERSION,
    }
    versions = [row[0] for row in sqlite_store.conn.execute("SELECT version FROM schema_version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_a_version_1_file_is_upgraded_in_place(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=1)  # as the first release left it: no full-text index yet
    conn.execute("BEGIN")
    apply_model(conn, repo_model())
    images = conn.execute("SELECT id FROM objecttypes WHERE name = 'images'").fetchone()[0]
    conn.execute(
        "INSERT INTO objects VALUES (7, 'u-7', '7@local', ?, 7, 1, 3, 2, 0, 0, NULL, NULL, ?)",
        (images, json.dumps({"title": "Old harbour"})),
    )
    conn.execute("COMMIT")
    conn.close()

    store = SqliteStore(path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert f"upgrading the store {path} from schema version 1 to {SCHEMA_VERSION}" in caplog.text
    found = store.search(
        request(search=[{"type": "match", "string": "harbour"}]), user="root", now=NOW
    )
    assert [r["_system_object_id"] for r in found.records] == [7]
    # version 3: the data JSON moved to object_data, the objects table rebuilt without it
    assert store.get([7])[0]["images"]["title"] == "Old harbour"
    columns = [row[1] for row in store.conn.execute("PRAGMA table_info(objects)")]
    assert "data" not in columns and "deleted_by_run" in columns
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    store.close()


def test_processes_opening_a_new_file_at_once_apply_each_version_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_store() -> None:
        barrier.wait()
        try:
            SqliteStore(path).close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    conn = sqlite3.connect(path)
    versions = [row[0] for row in conn.execute("SELECT version FROM schema_version")]
    conn.close()
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SchemaTooNew, match="schema version 99, newer than this runner supports"):
        SqliteStore(path)


def test_values_are_parameters_never_sql(sqlite_store: SqliteStore) -> None:
    hostile = "x'); DROP TABLE objects; --"
    data = request(search=[{"type": "in", "fields": ["images.creator"], "in": [hostile]}])
    query = sqlite_store.compile(data, user="editor", now=NOW).select_ids()
    assert hostile not in query.text and hostile in query.params
    assert sqlite_store.search(data, user="editor", now=NOW).count == 0


@pytest.mark.parametrize(
    ("search", "index"),
    [
        ([{"type": "in", "fields": ["_tags._id"], "in": [15]}], "object_tags_tag"),
        ([{"type": "in", "fields": ["images._pool._path.pool._id"], "in": [2]}], "objects_pool"),
        ([{"type": "range", "field": "images.shot_at", "from": "2020-01-01"}], "PRIMARY KEY"),
        ([{"type": "in", "fields": ["images.keywords"], "in": ["sea"]}], "PRIMARY KEY"),
        ([{"type": "match", "string": "harbour"}], "VIRTUAL TABLE INDEX"),
    ],
)
def test_searches_use_an_index_and_the_baseline_does_not(
    sqlite_store: SqliteStore, search: list[dict[str, object]], index: str
) -> None:
    load(sqlite_store, image(1, title="harbour"))

    def plan(indexes: bool) -> str:
        query = sqlite_store.compile(
            request(search=search), user="editor", now=NOW, indexes=indexes
        )
        sql = query.select_ids()
        rows = sqlite_store.conn.execute("EXPLAIN QUERY PLAN " + sql.text, sql.params).fetchall()
        return "\n".join(row[-1] for row in rows)

    indexed, baseline = plan(True), plan(False)
    assert index in indexed and "SCAN o\n" not in indexed + "\n", indexed
    # the baseline reads every table in full: SQLite may scan a covering index's b-tree as the
    # table, but never searches one
    assert "SCAN o" in baseline and "SEARCH" not in baseline, baseline


def test_batches_after_a_count_are_what_it_counted_unless_something_was_written(
    sqlite_store: SqliteStore,
) -> None:
    load(sqlite_store, *(image(i, tags=(20,)) for i in range(1, 8)))
    tagged = request(search=[{"type": "in", "fields": ["_tags._id"], "in": [20]}])

    def count_then_batches(between: Callable[[], object]) -> tuple[int, list[list[int]]]:
        counted = sqlite_store.count(tagged, user="root", now=NOW)
        between()
        return counted, list(sqlite_store.iter_ids(tagged, user="root", now=NOW, batch_size=3))

    assert count_then_batches(lambda: None) == (7, [[1, 2, 3], [4, 5, 6], [7]])
    untag = partial(sqlite_store.set_tags, unset_ids=[20], user="root", now=NOW)
    assert count_then_batches(lambda: untag([7])) == (7, [[1, 2, 3], [4, 5, 6]])
    other = sqlite3.connect(sqlite_store.path, isolation_level=None)
    try:
        forget = partial(other.execute, "DELETE FROM object_tags WHERE object_id = 6")
        assert count_then_batches(forget) == (6, [[1, 2, 3], [4, 5]])
    finally:
        other.close()
    resumed = sqlite_store.iter_ids(tagged, user="root", now=NOW, batch_size=3, after_id=2)
    assert list(resumed) == [[3, 4, 5]]
