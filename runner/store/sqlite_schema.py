"""The SQLite store's schema, as numbered migrations applied in order when a file is opened.

The version is kept in `PRAGMA user_version` and, one row per applied step, in
`schema_version`. A file newer than `SCHEMA_VERSION` is refused. Each step runs in its own
transaction, so an interrupted upgrade leaves the file at the previous version.

Version 1: the data model (objecttypes, fields, pools with a closure table, tag groups, tags,
users, groups, memberships, system rights, grants and the rights they give each user), objects,
their tags, indexed field values, kept versions, the changelog and assets.
Version 2: full-text search: an FTS5 table of text values and the vocabulary of its terms
(for wildcard patterns), filled from the stored objects.
Version 3: each object's data JSON moves from `objects` to `object_data`. A run bumps the
version and last_modified of every object it changes (and trashing sets two marks): with the
data beside them, an `objects` page held about ten objects and a run over a tenth of the store
rewrote most of the table; narrow rows put a few dozen objects on a page. `objects` is rebuilt
(SQLite's twelve-step table change: foreign-key checks off while the old table is replaced)
so that its pages are packed again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from runner.spec.datamodel import DataModel
from runner.store.catalog import Catalog
from runner.store.indexing import IndexRows

Step = Callable[[sqlite3.Connection], None]

V1 = """
CREATE TABLE schema_version (version INTEGER PRIMARY KEY);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE objecttypes (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    has_tags INTEGER NOT NULL
);
CREATE TABLE fields (
    id INTEGER PRIMARY KEY,
    objecttype_id INTEGER NOT NULL REFERENCES objecttypes(id),
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    multiple INTEGER NOT NULL,
    UNIQUE (objecttype_id, name)
);
CREATE TABLE pools (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id INTEGER REFERENCES pools(id) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE pool_closure (
    ancestor_id INTEGER NOT NULL,
    descendant_id INTEGER NOT NULL,
    depth INTEGER NOT NULL,
    PRIMARY KEY (ancestor_id, descendant_id)
) WITHOUT ROWID;
CREATE INDEX pool_closure_descendant ON pool_closure (descendant_id, ancestor_id);
CREATE TABLE tag_groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL CHECK (type IN ('checkbox', 'choice'))
);
CREATE TABLE tags (
    id INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL REFERENCES tag_groups(id),
    reference TEXT NOT NULL,
    name TEXT NOT NULL
);
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT);
CREATE TABLE user_groups (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE memberships (
    user_id INTEGER NOT NULL REFERENCES users(id),
    group_id INTEGER NOT NULL REFERENCES user_groups(id),
    PRIMARY KEY (user_id, group_id)
) WITHOUT ROWID;
CREATE TABLE system_rights (
    user_id INTEGER REFERENCES users(id),
    group_id INTEGER REFERENCES user_groups(id),
    name TEXT NOT NULL,
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
CREATE TABLE grants (
    id INTEGER PRIMARY KEY,
    user_id INTEGER REFERENCES users(id),
    group_id INTEGER REFERENCES user_groups(id),
    level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3),
    pool_id INTEGER REFERENCES pools(id),
    objecttype_id INTEGER REFERENCES objecttypes(id),
    CHECK ((user_id IS NULL) <> (group_id IS NULL)),
    CHECK ((pool_id IS NULL) <> (objecttype_id IS NULL))
);
-- Derived from the above by `init`: what each user holds, directly or through a group
-- (1 read, 2 write, 3 delete), with pool grants spread over the sub-pools.
CREATE TABLE user_system_rights (
    user_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
) WITHOUT ROWID;
CREATE TABLE user_pool_rights (
    user_id INTEGER NOT NULL,
    pool_id INTEGER NOT NULL,
    level INTEGER NOT NULL,
    PRIMARY KEY (user_id, pool_id)
) WITHOUT ROWID;
CREATE TABLE user_objecttype_rights (
    user_id INTEGER NOT NULL,
    objecttype_id INTEGER NOT NULL,
    level INTEGER NOT NULL,
    PRIMARY KEY (user_id, objecttype_id)
) WITHOUT ROWID;

-- Times are microseconds since 1970 UTC. `data` is the JSON object of the field values.
CREATE TABLE objects (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    global_id TEXT NOT NULL UNIQUE,
    objecttype_id INTEGER NOT NULL REFERENCES objecttypes(id),
    ot_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    pool_id INTEGER NOT NULL REFERENCES pools(id),
    owner_id INTEGER REFERENCES users(id),
    created INTEGER NOT NULL,
    last_modified INTEGER NOT NULL,
    deleted_at INTEGER,
    deleted_by_run TEXT,
    data TEXT NOT NULL,
    UNIQUE (objecttype_id, ot_id)
);
-- covering the checks every search makes (trash, objecttype, rights): no table lookups
CREATE INDEX objects_pool ON objects (pool_id, objecttype_id, deleted_at);
CREATE INDEX objects_last_modified ON objects (last_modified);
CREATE INDEX objects_owner ON objects (owner_id) WHERE owner_id IS NOT NULL;
CREATE INDEX objects_trashed_by ON objects (deleted_by_run) WHERE deleted_by_run IS NOT NULL;
CREATE TABLE object_tags (
    object_id INTEGER NOT NULL REFERENCES objects(id),
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    PRIMARY KEY (object_id, tag_id)
) WITHOUT ROWID;
CREATE INDEX object_tags_tag ON object_tags (tag_id, object_id);
CREATE TABLE field_values (
    field_id INTEGER NOT NULL REFERENCES fields(id),
    value NOT NULL, -- no declared type: values keep their own (no affinity)
    object_id INTEGER NOT NULL REFERENCES objects(id),
    PRIMARY KEY (field_id, value, object_id)
) WITHOUT ROWID;
CREATE INDEX field_values_object ON field_values (object_id, field_id);
CREATE TABLE object_versions (
    id INTEGER PRIMARY KEY,
    object_id INTEGER NOT NULL REFERENCES objects(id),
    version INTEGER NOT NULL,
    pool_id INTEGER NOT NULL,
    owner_id INTEGER,
    last_modified INTEGER NOT NULL,
    deleted_at INTEGER,
    deleted_by_run TEXT,
    tags TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (object_id, version)
);
CREATE TABLE changelog (
    id INTEGER PRIMARY KEY,
    object_id INTEGER NOT NULL REFERENCES objects(id),
    version INTEGER NOT NULL,
    operation TEXT NOT NULL,
    user_id INTEGER,
    time INTEGER NOT NULL,
    run_id TEXT,
    comment TEXT
);
CREATE INDEX changelog_object ON changelog (object_id);
CREATE INDEX changelog_time ON changelog (time, object_id);
CREATE INDEX changelog_run ON changelog (run_id, object_id) WHERE run_id IS NOT NULL;
CREATE TABLE assets (
    object_id INTEGER NOT NULL REFERENCES objects(id),
    field_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    path TEXT NOT NULL,
    size INTEGER,
    sha256 TEXT,
    mime TEXT,
    PRIMARY KEY (object_id, field_id, idx)
) WITHOUT ROWID;
"""

V2 = """
CREATE VIRTUAL TABLE text_fts USING fts5 (
    body, tokenize = 'unicode61 remove_diacritics 0', columnsize = 0
);
CREATE TABLE terms (term TEXT PRIMARY KEY) WITHOUT ROWID;
"""

V3 = """
CREATE TABLE object_data (
    object_id INTEGER PRIMARY KEY REFERENCES objects(id),
    data TEXT NOT NULL
);
INSERT INTO object_data (object_id, data) SELECT id, data FROM objects;
CREATE TABLE objects_v3 (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    global_id TEXT NOT NULL UNIQUE,
    objecttype_id INTEGER NOT NULL REFERENCES objecttypes(id),
    ot_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    pool_id INTEGER NOT NULL REFERENCES pools(id),
    owner_id INTEGER REFERENCES users(id),
    created INTEGER NOT NULL,
    last_modified INTEGER NOT NULL,
    deleted_at INTEGER,
    deleted_by_run TEXT,
    UNIQUE (objecttype_id, ot_id)
);
INSERT INTO objects_v3 SELECT id, uuid, global_id, objecttype_id, ot_id, version, pool_id,
    owner_id, created, last_modified, deleted_at, deleted_by_run FROM objects;
DROP TABLE objects;
ALTER TABLE objects_v3 RENAME TO objects;
CREATE INDEX objects_pool ON objects (pool_id, objecttype_id, deleted_at);
CREATE INDEX objects_last_modified ON objects (last_modified);
CREATE INDEX objects_owner ON objects (owner_id) WHERE owner_id IS NOT NULL;
CREATE INDEX objects_trashed_by ON objects (deleted_by_run) WHERE deleted_by_run IS NOT NULL
"""

FILL_CHUNK = 5000


def _script(text: str) -> Step:
    """A step that runs the statements of a script, in order."""

    def step(conn: sqlite3.Connection) -> None:
        for statement in _statements(text):
            conn.execute(statement)

    return step


def _v2(conn: sqlite3.Connection) -> None:
    _script(V2)(conn)
    catalog = load_catalog(conn)
    if catalog is not None:
        fill_text_index(conn, catalog)


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";\n") if part.strip()]


MIGRATIONS: dict[int, Step] = {1: _script(V1), 2: _v2, 3: _script(V3)}
# The tables whose foreign keys a step must leave intact, checked before it commits. Version 3
# copies every object with its id, so the rows that refer to objects still find theirs; a
# check of the whole file would take most of the upgrade (34 of 65 s for 1,000,000 objects).
CHECKED: dict[int, tuple[str, ...]] = {3: ("objects", "object_data")}
SCHEMA_VERSION = max(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> list[int]:
    """Apply the missing steps up to `target`; returns the versions applied."""
    applied: list[int] = []
    if schema_version(conn) >= target:
        return applied
    # Off for the steps that replace a table others refer to (it cannot change inside a
    # transaction); each step's result is checked before it commits.
    enforced = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        while True:
            conn.execute("BEGIN IMMEDIATE")
            # read again under the write lock: another process may have applied it meanwhile
            version = schema_version(conn) + 1
            if version > target:
                conn.execute("COMMIT")
                break
            try:
                MIGRATIONS[version](conn)
                for table in CHECKED.get(version, ()):
                    broken = conn.execute(f"PRAGMA foreign_key_check({table})").fetchone()
                    if broken is not None:
                        raise sqlite3.IntegrityError(f"migration {version}: foreign key {broken}")
                conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
                conn.execute(f"PRAGMA user_version = {int(version)}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            applied.append(version)
    finally:
        conn.execute(f"PRAGMA foreign_keys = {int(enforced)}")
    return applied


def load_catalog(conn: sqlite3.Connection) -> Catalog | None:
    """The stored data model with its ids; None before the first `init`."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'datamodel'").fetchone()
    if row is None:
        return None
    model = DataModel.model_validate(json.loads(row[0]))
    ots = dict(conn.execute("SELECT name, id FROM objecttypes").fetchall())
    fields = {
        (ot, name): ident
        for ident, ot, name in conn.execute(
            "SELECT f.id, o.name, f.name FROM fields f JOIN objecttypes o ON o.id = f.objecttype_id"
        )
    }
    return Catalog(model, ots, fields)


def fill_text_index(conn: sqlite3.Connection, catalog: Catalog) -> None:
    """Index the text of every stored object, in chunks of ids (as of version 2: the data
    still in `objects`)."""
    after = 0
    while True:
        rows = conn.execute(
            "SELECT o.id, t.name, o.data"
            " FROM objects o JOIN objecttypes t ON t.id = o.objecttype_id"
            " WHERE o.id > ? ORDER BY o.id LIMIT ?",
            (after, FILL_CHUNK),
        ).fetchall()
        if not rows:
            return
        index = IndexRows(catalog)
        for object_id, objecttype, data in rows:
            index.add(objecttype, object_id, json.loads(data))
        conn.executemany("INSERT INTO text_fts (rowid, body) VALUES (?, ?)", index.texts)
        conn.executemany("INSERT OR IGNORE INTO terms VALUES (?)", [(t,) for t in index.terms()])
        after = rows[-1][0]
