"""The statements of the PostgreSQL store, by name. The ids of a call, and lists and pairs of
values, arrive as array parameters (`unnest`, `= ANY`), never as SQL text."""

from __future__ import annotations

from runner.store.postgres_rows import KEPT

CLASSIFY = """
SELECT o.id, o.deleted_at IS NOT NULL, t.has_tags,
    %(root)s
    OR o.pool_id IN (SELECT pool_id FROM user_pool_rights
        WHERE user_id = %(user)s AND level >= %(level)s)
    OR o.objecttype_id IN (SELECT objecttype_id FROM user_objecttype_rights
        WHERE user_id = %(user)s AND level >= %(level)s)
FROM objects o JOIN objecttypes t ON t.id = o.objecttype_id
WHERE o.id = ANY(%(ids)s::bigint[]) ORDER BY o.id
"""
# Writers lock the rows they classify, in id order: concurrent writes to the same objects
# take turns instead of both keeping the same version.
LOCK = " FOR UPDATE OF o"

KEPT_VERSIONS = f"""
SELECT {", ".join(KEPT)} FROM object_versions WHERE object_id = %s ORDER BY version
"""
KEPT_VERSIONS_OF = f"""
SELECT v.object_id, {", ".join(f"v.{column}" for column in KEPT)}
FROM unnest(%s::bigint[], %s::bigint[]) j (id, version)
JOIN object_versions v ON v.object_id = j.id AND v.version = j.version
"""
RUN_CHANGES = """
SELECT object_id, version, operation FROM changelog WHERE run_id = %s
ORDER BY object_id, version, id
"""
ASSET = """
SELECT a.path, a.size, a.sha256, a.mime FROM assets a
JOIN objects o ON o.id = a.object_id
JOIN fields f ON f.id = a.field_id AND f.objecttype_id = o.objecttype_id
WHERE a.object_id = %s AND f.name = %s AND a.idx = %s
"""

# --- writes ---------------------------------------------------------------------------------

SNAPSHOT = """
INSERT INTO object_versions
    (object_id, version, pool_id, owner_id, last_modified, deleted_at, deleted_by_run, tags, data)
SELECT o.id, o.version, o.pool_id, o.owner_id, o.last_modified, o.deleted_at, o.deleted_by_run,
    ARRAY(SELECT tag_id FROM object_tags x WHERE x.object_id = o.id ORDER BY tag_id), o.data
FROM objects o WHERE o.id = ANY(%s::bigint[])
"""
# A new version of each object, with its changelog entry (`operations`: one per id).
BUMP = """
WITH bumped AS (
    UPDATE objects SET version = version + 1, last_modified = %(now)s{extra}
    WHERE id = ANY(%(ids)s::bigint[]) RETURNING id, version
)
INSERT INTO changelog (object_id, version, operation, user_id, time, run_id, comment)
SELECT b.id, b.version, r.operation, %(user)s, %(now)s, %(run)s, %(comment)s
FROM bumped b JOIN unnest(%(ids)s::bigint[], %(operations)s::text[]) r (id, operation)
    ON r.id = b.id
ORDER BY b.id
"""
TRASH = ", deleted_at = %(now)s, deleted_by_run = %(run)s"
UNTRASH = ", deleted_at = NULL, deleted_by_run = NULL"
TAGS_TO_CHANGE = """
SELECT w.id FROM unnest(%(ids)s::bigint[]) w (id)
WHERE EXISTS (SELECT 1 FROM unnest(%(set)s::bigint[]) s (tag) WHERE NOT EXISTS
        (SELECT 1 FROM object_tags t WHERE t.object_id = w.id AND t.tag_id = s.tag))
    OR EXISTS (SELECT 1 FROM object_tags t
        WHERE t.object_id = w.id AND t.tag_id = ANY(%(remove)s::bigint[]))
ORDER BY w.id
"""
REMOVE_TAGS = """
DELETE FROM object_tags WHERE object_id = ANY(%s::bigint[]) AND tag_id = ANY(%s::bigint[])
"""
ADD_TAGS = """
INSERT INTO object_tags (object_id, tag_id)
SELECT w, s FROM unnest(%s::bigint[]) w, unnest(%s::bigint[]) s ON CONFLICT DO NOTHING
"""
SET_DATA = """
UPDATE objects o SET data = n.data::json FROM unnest(%s::bigint[], %s::text[]) n (id, data)
WHERE o.id = n.id
"""
ASSET_PATHS = "SELECT path FROM assets WHERE object_id = ANY(%s::bigint[])"
USED_PATHS = "SELECT DISTINCT path FROM assets WHERE path = ANY(%s::text[])"
TRASHED_BY = "SELECT id FROM objects WHERE deleted_by_run = %s ORDER BY id"

REVERT_STATE = """
SELECT o.id, o.version, o.deleted_at IS NOT NULL, v.version IS NOT NULL, v.deleted_at IS NOT NULL
FROM unnest(%s::bigint[], %s::bigint[]) j (id, version) JOIN objects o ON o.id = j.id
LEFT JOIN object_versions v ON v.object_id = o.id AND v.version = j.version
ORDER BY o.id FOR UPDATE OF o
"""
REVERTED = "unnest(%(ids)s::bigint[], %(versions)s::bigint[]) r (id, version)"
REVERT_OBJECTS = f"""
UPDATE objects o SET pool_id = v.pool_id, owner_id = v.owner_id, data = v.data,
    deleted_at = v.deleted_at, deleted_by_run = v.deleted_by_run
FROM {REVERTED} JOIN object_versions v ON v.object_id = r.id AND v.version = r.version
WHERE o.id = r.id
"""
REVERT_TAGS = (
    "DELETE FROM object_tags WHERE object_id = ANY(%(ids)s::bigint[])",
    f"""
    INSERT INTO object_tags (object_id, tag_id) SELECT r.id, unnest(v.tags)
    FROM {REVERTED} JOIN object_versions v ON v.object_id = r.id AND v.version = r.version
    """,
)

# --- import ---------------------------------------------------------------------------------

COUNT_EXISTING = "SELECT count(*) FROM objects WHERE id = ANY(%s::bigint[])"
TAKEN = """
SELECT id, {column} FROM objects WHERE {column} = ANY(%s::text[]) AND id <> ALL(%s::bigint[])
"""
TAKEN_OT_IDS = """
SELECT o.id, o.objecttype_id, o.ot_id FROM unnest(%s::integer[], %s::bigint[]) j (ot, ot_id)
JOIN objects o ON o.objecttype_id = j.ot AND o.ot_id = j.ot_id
WHERE o.id <> ALL(%s::bigint[])
"""

# --- init -----------------------------------------------------------------------------------

USAGE = {
    "objecttype": "SELECT count(*) FROM objects WHERE objecttype_id = %s",
    "tagged": """SELECT count(DISTINCT t.object_id) FROM object_tags t
        JOIN objects o ON o.id = t.object_id WHERE o.objecttype_id = %s""",
    "field": "SELECT count(*) FROM objects WHERE objecttype_id = %s AND (data -> %s) IS NOT NULL",
    "pool": "SELECT count(*) FROM objects WHERE pool_id = %s",
    "tag": "SELECT count(*) FROM object_tags WHERE tag_id = %s",
    "owner": "SELECT count(*) FROM objects WHERE owner_id = %s",
    "crowded": """SELECT count(*) FROM (SELECT object_id FROM object_tags
        WHERE tag_id = ANY(%s::bigint[]) GROUP BY object_id HAVING count(*) > 1) crowded""",
}
