"""Bringing the data-model tables of an SQLite store in line with a `DataModel`.

Objecttypes and fields keep their ids (by name), pools, tags and users theirs (by `_id`), so
stored objects stay valid; grants, memberships and system rights are rebuilt, and with them
the rights each user holds (`user_*_rights`), pool grants spread over the sub-pools.
Callers check first that nothing in use is removed (`modeldiff.destructive_reasons`).
"""

from __future__ import annotations

import json
import sqlite3

from runner.spec.datamodel import DataModel

NOT_IN_LIST = "NOT IN (SELECT value FROM json_each(?))"
UPSERT_FIELD = """
INSERT INTO fields (objecttype_id, name, type, multiple) VALUES (?, ?, ?, ?)
ON CONFLICT (objecttype_id, name) DO UPDATE SET type = excluded.type, multiple = excluded.multiple
"""
UPSERT_POOL = """
INSERT INTO pools (id, name, parent_id) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, parent_id = excluded.parent_id
"""
UPSERT_TAG = """
INSERT INTO tags (id, group_id, reference, name)
VALUES (?1, (SELECT id FROM tag_groups WHERE name = ?2), ?3, ?4)
ON CONFLICT (id) DO UPDATE
SET group_id = excluded.group_id, reference = excluded.reference, name = excluded.name
"""
UPSERT_USER = """
INSERT INTO users (id, name, email) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email
"""
HELD = """
WITH held AS (
    SELECT user_id, level, pool_id, objecttype_id FROM grants WHERE user_id IS NOT NULL
    UNION ALL
    SELECT m.user_id, g.level, g.pool_id, g.objecttype_id
    FROM grants g JOIN memberships m ON m.group_id = g.group_id
)
"""
DERIVE_RIGHTS = (
    """
    INSERT INTO user_system_rights
    SELECT user_id, name FROM system_rights WHERE user_id IS NOT NULL
    UNION
    SELECT m.user_id, s.name FROM system_rights s JOIN memberships m ON m.group_id = s.group_id
    """,
    HELD
    + """
    INSERT INTO user_pool_rights SELECT h.user_id, c.descendant_id, max(h.level)
    FROM held h JOIN pool_closure c ON c.ancestor_id = h.pool_id
    GROUP BY h.user_id, c.descendant_id
    """,
    HELD
    + """
    INSERT INTO user_objecttype_rights SELECT user_id, objecttype_id, max(level)
    FROM held WHERE objecttype_id IS NOT NULL GROUP BY user_id, objecttype_id
    """,
)


def apply_model(conn: sqlite3.Connection, model: DataModel) -> None:
    """Inside the caller's transaction."""
    for table in ("grants", "system_rights", "memberships"):
        conn.execute(f"DELETE FROM {table}")  # they refer to what may go; rebuilt below
    _objecttypes(conn, model)
    _pools(conn, model)
    _tags(conn, model)
    _principals(conn, model)
    _grants(conn, model)
    _derive_rights(conn)
    document = json.dumps(model.model_dump(mode="json", by_alias=True))
    conn.execute(
        "INSERT INTO meta VALUES ('datamodel', ?) ON CONFLICT DO UPDATE SET value = excluded.value",
        (document,),
    )


def _objecttypes(conn: sqlite3.Connection, model: DataModel) -> None:
    names = json.dumps([ot.name for ot in model.objecttypes])
    gone = f"SELECT id FROM objecttypes WHERE name {NOT_IN_LIST}"
    conn.execute(f"DELETE FROM fields WHERE objecttype_id IN ({gone})", (names,))
    conn.execute(f"DELETE FROM objecttypes WHERE name {NOT_IN_LIST}", (names,))
    for ot in model.objecttypes:
        conn.execute(
            "INSERT INTO objecttypes (name, has_tags) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET has_tags = excluded.has_tags",
            (ot.name, ot.has_tags),
        )
        ot_id = conn.execute("SELECT id FROM objecttypes WHERE name = ?", (ot.name,)).fetchone()[0]
        kept = json.dumps([f.name for f in ot.fields])
        conn.execute(
            f"DELETE FROM fields WHERE objecttype_id = ? AND name {NOT_IN_LIST}", (ot_id, kept)
        )
        conn.executemany(UPSERT_FIELD, [(ot_id, f.name, f.type, f.multiple) for f in ot.fields])


def _pools(conn: sqlite3.Connection, model: DataModel) -> None:
    entries = list(model.pool_entries())
    parents = {pool.id: parent.id if parent else None for pool, parent, _ in entries}
    conn.execute("DELETE FROM pool_closure")
    conn.execute("UPDATE pools SET parent_id = NULL")  # a pool may move under a new one
    conn.execute(f"DELETE FROM pools WHERE id {NOT_IN_LIST}", (json.dumps(list(parents)),))
    conn.executemany(
        UPSERT_POOL, [(pool.id, pool.name, parents[pool.id]) for pool, _, _ in entries]
    )
    conn.executemany("INSERT INTO pool_closure VALUES (?, ?, ?)", closure(parents))


def closure(parents: dict[int, int | None]) -> list[tuple[int, int, int]]:
    """(ancestor, descendant, depth) for every pool and each of its ancestors, itself at 0."""
    rows = []
    for pool in parents:
        ancestor: int | None = pool
        depth = 0
        while ancestor is not None:
            rows.append((ancestor, pool, depth))
            ancestor, depth = parents[ancestor], depth + 1
    return rows


def _tags(conn: sqlite3.Connection, model: DataModel) -> None:
    conn.executemany(
        "INSERT INTO tag_groups (name, type) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET type = excluded.type",
        [(group.name, group.type) for group in model.tag_groups],
    )
    rows = [(t.id, g.name, t.reference, t.name) for g in model.tag_groups for t in g.tags]
    conn.executemany(UPSERT_TAG, rows)
    conn.execute(f"DELETE FROM tags WHERE id {NOT_IN_LIST}", (json.dumps(list(model.tags_by_id)),))
    groups = json.dumps([g.name for g in model.tag_groups])
    conn.execute(f"DELETE FROM tag_groups WHERE name {NOT_IN_LIST}", (groups,))


def _principals(conn: sqlite3.Connection, model: DataModel) -> None:
    conn.execute(
        f"DELETE FROM users WHERE id {NOT_IN_LIST}", (json.dumps([u.id for u in model.users]),)
    )
    conn.executemany(UPSERT_USER, [(u.id, u.name, u.email) for u in model.users])
    groups = json.dumps([g.name for g in model.groups])
    conn.execute(f"DELETE FROM user_groups WHERE name {NOT_IN_LIST}", (groups,))
    conn.executemany(
        "INSERT OR IGNORE INTO user_groups (name) VALUES (?)", [(g.name,) for g in model.groups]
    )
    group_id = dict(conn.execute("SELECT name, id FROM user_groups").fetchall())
    members = [(u.id, group_id[g]) for u in model.users for g in dict.fromkeys(u.groups)]
    conn.executemany("INSERT INTO memberships VALUES (?, ?)", members)
    rights: list[tuple[int | None, int | None, str]]
    rights = [(u.id, None, r) for u in model.users for r in u.system_rights]
    rights += [(None, group_id[g.name], r) for g in model.groups for r in g.system_rights]
    conn.executemany("INSERT INTO system_rights VALUES (?, ?, ?)", rights)


def _grants(conn: sqlite3.Connection, model: DataModel) -> None:
    users = {u.name: u.id for u in model.users}
    groups = dict(conn.execute("SELECT name, id FROM user_groups").fetchall())
    pools = {pool.name: pool.id for pool, _, _ in model.pool_entries()}
    ots = dict(conn.execute("SELECT name, id FROM objecttypes").fetchall())
    rows = [
        (
            users.get(g.user or ""),
            groups.get(g.group or ""),
            g.level,
            pools.get(g.pool or ""),
            ots.get(g.objecttype or ""),
        )
        for g in model.grants
    ]
    conn.executemany(
        "INSERT INTO grants (user_id, group_id, level, pool_id, objecttype_id)"
        " VALUES (?, ?, ?, ?, ?)",
        rows,
    )


def _derive_rights(conn: sqlite3.Connection) -> None:
    for table in ("user_system_rights", "user_pool_rights", "user_objecttype_rights"):
        conn.execute(f"DELETE FROM {table}")
    for statement in DERIVE_RIGHTS:
        conn.execute(statement)
