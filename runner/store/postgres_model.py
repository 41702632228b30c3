"""Bringing the data-model tables of a PostgreSQL store in line with a `DataModel`.

As in SQLite (`sqlite_model`): objecttypes and fields keep their ids by name, pools, tags and
users theirs by `_id`, so stored objects stay valid; grants, memberships and system rights are
rebuilt, and from them the rights each user holds. Lists arrive as array parameters; the pool
closure is computed by a recursive query. Callers check first that nothing in use is removed.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from runner.spec.datamodel import DataModel

Conn = psycopg.Connection[Any]

UPSERT_OBJECTTYPE = """
INSERT INTO objecttypes (name, has_tags) VALUES (%s, %s)
ON CONFLICT (name) DO UPDATE SET has_tags = excluded.has_tags RETURNING id
"""
UPSERT_FIELD = """
INSERT INTO fields (objecttype_id, name, type, multiple) VALUES (%s, %s, %s, %s)
ON CONFLICT (objecttype_id, name) DO UPDATE SET type = excluded.type, multiple = excluded.multiple
"""
UPSERT_POOL = """
INSERT INTO pools (id, name, parent_id) VALUES (%s, %s, %s)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, parent_id = excluded.parent_id
"""
UPSERT_TAG = """
INSERT INTO tags (id, group_id, reference, name)
VALUES (%s, (SELECT id FROM tag_groups WHERE name = %s), %s, %s)
ON CONFLICT (id) DO UPDATE
SET group_id = excluded.group_id, reference = excluded.reference, name = excluded.name
"""
UPSERT_USER = """
INSERT INTO users (id, name, email) VALUES (%s, %s, %s)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email
"""
CLOSURE = """
INSERT INTO pool_closure (ancestor_id, descendant_id, depth)
WITH RECURSIVE up (ancestor_id, descendant_id, depth) AS (
    SELECT id, id, 0 FROM pools
    UNION ALL
    SELECT p.parent_id, up.descendant_id, up.depth + 1
    FROM up JOIN pools p ON p.id = up.ancestor_id WHERE p.parent_id IS NOT NULL
)
SELECT * FROM up
"""
# each grant once per user it reaches: its user, or each member of its group
CLEARED = ("grants", "system_rights", "memberships")
HELD = """
WITH held AS (
    SELECT coalesce(g.user_id, m.user_id) AS user_id, g.level, g.pool_id, g.objecttype_id
    FROM grants g LEFT JOIN memberships m ON m.group_id = g.group_id
    WHERE g.user_id IS NOT NULL OR m.user_id IS NOT NULL
)
"""
# grants by name, as the data model writes them
GRANTS = """
INSERT INTO grants (user_id, group_id, level, pool_id, objecttype_id)
SELECT u.id, g.id, r.level, p.id, t.id
FROM unnest(%s::text[], %s::text[], %s::integer[], %s::text[], %s::text[])
    r (user_name, group_name, level, pool_name, objecttype)
LEFT JOIN users u ON u.name = r.user_name
LEFT JOIN user_groups g ON g.name = r.group_name
LEFT JOIN pools p ON p.name = r.pool_name
LEFT JOIN objecttypes t ON t.name = r.objecttype
"""
DERIVED = {
    "user_system_rights": """
        SELECT user_id, name FROM system_rights WHERE user_id IS NOT NULL
        UNION
        SELECT m.user_id, s.name FROM system_rights s JOIN memberships m ON m.group_id = s.group_id
    """,
    "user_pool_rights": HELD
    + """
        SELECT h.user_id, c.descendant_id, max(h.level)
        FROM held h JOIN pool_closure c ON c.ancestor_id = h.pool_id
        GROUP BY h.user_id, c.descendant_id
    """,
    "user_objecttype_rights": HELD
    + """
        SELECT user_id, objecttype_id, max(level) FROM held
        WHERE objecttype_id IS NOT NULL GROUP BY user_id, objecttype_id
    """,
}


def apply_model(conn: Conn, model: DataModel) -> None:
    """Inside the caller's transaction."""
    # what refers to users, pools and objecttypes that may go: rebuilt below
    conn.execute(";".join(f"DELETE FROM {table}" for table in (*CLEARED, *DERIVED)))
    _objecttypes(conn, model)
    _pools(conn, model)
    _tags(conn, model)
    _principals(conn, model)
    _grants(conn, model)
    for table, query in DERIVED.items():
        conn.execute(f"INSERT INTO {table} {query}")
    document = json.dumps(model.model_dump(mode="json", by_alias=True))
    conn.execute(
        "INSERT INTO meta VALUES ('datamodel', %s)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (document,),
    )


def _objecttypes(conn: Conn, model: DataModel) -> None:
    names = [ot.name for ot in model.objecttypes]
    gone = "SELECT id FROM objecttypes WHERE name <> ALL(%s::text[])"
    conn.execute(f"DELETE FROM fields WHERE objecttype_id IN ({gone})", (names,))
    conn.execute("DELETE FROM objecttypes WHERE name <> ALL(%s::text[])", (names,))
    with conn.cursor() as cursor:
        for ot in model.objecttypes:
            row = cursor.execute(UPSERT_OBJECTTYPE, (ot.name, ot.has_tags)).fetchone()
            assert row is not None
            kept = [f.name for f in ot.fields]
            cursor.execute(
                "DELETE FROM fields WHERE objecttype_id = %s AND name <> ALL(%s::text[])",
                (row[0], kept),
            )
            cursor.executemany(
                UPSERT_FIELD, [(row[0], f.name, f.type, f.multiple) for f in ot.fields]
            )


def _pools(conn: Conn, model: DataModel) -> None:
    entries = [
        (pool.id, pool.name, parent.id if parent else None)
        for pool, parent, _ in model.pool_entries()
    ]
    conn.execute("DELETE FROM pool_closure")
    conn.execute("UPDATE pools SET parent_id = NULL")  # a pool may move under a new one
    conn.execute(
        "DELETE FROM pools WHERE id <> ALL(%s::bigint[])", ([ident for ident, _, _ in entries],)
    )
    with conn.cursor() as cursor:
        cursor.executemany(UPSERT_POOL, entries)
    conn.execute(CLOSURE)


def _tags(conn: Conn, model: DataModel) -> None:
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO tag_groups (name, type) VALUES (%s, %s)"
            " ON CONFLICT (name) DO UPDATE SET type = excluded.type",
            [(group.name, group.type) for group in model.tag_groups],
        )
        rows = [(t.id, g.name, t.reference, t.name) for g in model.tag_groups for t in g.tags]
        cursor.executemany(UPSERT_TAG, rows)
    conn.execute("DELETE FROM tags WHERE id <> ALL(%s::bigint[])", (list(model.tags_by_id),))
    groups = [g.name for g in model.tag_groups]
    conn.execute("DELETE FROM tag_groups WHERE name <> ALL(%s::text[])", (groups,))


def _principals(conn: Conn, model: DataModel) -> None:
    conn.execute("DELETE FROM users WHERE id <> ALL(%s::bigint[])", ([u.id for u in model.users],))
    groups = [g.name for g in model.groups]
    conn.execute("DELETE FROM user_groups WHERE name <> ALL(%s::text[])", (groups,))
    conn.execute(
        "INSERT INTO user_groups (name) SELECT unnest(%s::text[]) ON CONFLICT (name) DO NOTHING",
        (groups,),
    )
    group_id = _ids(conn, "user_groups")
    members = [(u.id, group_id[g]) for u in model.users for g in dict.fromkeys(u.groups)]
    rights: list[tuple[int | None, int | None, str]]
    rights = [(u.id, None, r) for u in model.users for r in u.system_rights]
    rights += [(None, group_id[g.name], r) for g in model.groups for r in g.system_rights]
    with conn.cursor() as cursor:
        cursor.executemany(UPSERT_USER, [(u.id, u.name, u.email) for u in model.users])
        cursor.executemany("INSERT INTO memberships VALUES (%s, %s)", members)
        cursor.executemany("INSERT INTO system_rights VALUES (%s, %s, %s)", rights)


def _grants(conn: Conn, model: DataModel) -> None:
    grants = model.grants
    conn.execute(
        GRANTS,
        (
            [g.user for g in grants],
            [g.group for g in grants],
            [g.level for g in grants],
            [g.pool for g in grants],
            [g.objecttype for g in grants],
        ),
    )


def _ids(conn: Conn, table: str) -> dict[str, int]:
    return {name: ident for name, ident in conn.execute(f"SELECT name, id FROM {table}")}
