"""The statements of the SQLite store, by name. Ids of a call are in `temp.w_ids`; lists and
pairs of values arrive as one JSON parameter (`json_each`), never as SQL text."""

from __future__ import annotations

from runner.store.catalog import OBJECT_SHIFT

TARGETS = "(SELECT id FROM temp.w_ids)"
JSON_LIST = "(SELECT value FROM json_each(?))"
TEMP_TABLES = (
    "CREATE TEMP TABLE IF NOT EXISTS w_ids (id INTEGER PRIMARY KEY)",
    "CREATE TEMP TABLE IF NOT EXISTS w_data (id INTEGER PRIMARY KEY, data TEXT NOT NULL)",
    "CREATE TEMP TABLE IF NOT EXISTS w_revert"
    " (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, operation TEXT NOT NULL)",
)
FILL_TARGETS = f"INSERT OR IGNORE INTO temp.w_ids SELECT * FROM {JSON_LIST}"

OBJECT_COLUMNS = """o.id, o.uuid, o.global_id, t.name, o.ot_id, o.version, o.pool_id,
    o.owner_id, o.created, o.last_modified, o.deleted_at, o.deleted_by_run, d.data"""
STATES = f"""
SELECT {OBJECT_COLUMNS} FROM objects o JOIN objecttypes t ON t.id = o.objecttype_id
    JOIN object_data d ON d.object_id = o.id
WHERE {{condition}} ORDER BY o.id LIMIT ?
"""
TAGS_OF = f"SELECT object_id, tag_id FROM object_tags WHERE object_id IN {JSON_LIST}"
CHANGELOGS_OF = f"""
SELECT object_id, version, operation, user_id, time, run_id, comment FROM changelog
WHERE object_id IN {JSON_LIST} ORDER BY object_id, id
"""
KEPT_VERSIONS = """
SELECT version, pool_id, owner_id, last_modified, deleted_at, deleted_by_run, tags, data
FROM object_versions WHERE object_id = ? ORDER BY version
"""
KEPT_VERSIONS_OF = """
SELECT v.object_id, v.version, v.pool_id, v.owner_id, v.last_modified, v.deleted_at,
    v.deleted_by_run, v.tags, v.data
FROM json_each(?) j JOIN object_versions v
    ON v.object_id = j.value ->> 0 AND v.version = j.value ->> 1
"""
RUN_CHANGES = """
SELECT object_id, version, operation FROM changelog WHERE run_id = ?
ORDER BY object_id, version, id
"""
ASSET = """
SELECT a.path, a.size, a.sha256, a.mime FROM assets a
JOIN objects o ON o.id = a.object_id
JOIN fields f ON f.id = a.field_id AND f.objecttype_id = o.objecttype_id
WHERE a.object_id = ? AND f.name = ? AND a.idx = ?
"""
PERMITTED = """(:root
    OR o.pool_id IN
        (SELECT pool_id FROM user_pool_rights WHERE user_id = :user AND level >= :level)
    OR o.objecttype_id IN (SELECT objecttype_id FROM user_objecttype_rights
        WHERE user_id = :user AND level >= :level))"""
CLASSIFY = f"""
SELECT j.id, o.id IS NOT NULL, o.deleted_at IS NOT NULL, coalesce(t.has_tags, 0), {PERMITTED}
FROM (SELECT DISTINCT value AS id FROM json_each(:ids)) j
LEFT JOIN objects o ON o.id = j.id LEFT JOIN objecttypes t ON t.id = o.objecttype_id
ORDER BY j.id
"""

# --- writes --------------------------------------------------------------------------------

# The ids in temp.w_ids that a write leaves alone, by id, with the reason: `missing`, `denied`,
# and per write `trashed`, `no_tags` or `unchanged`. Only these rows are returned (usually few),
# so the objects a write changes cost no Python work each.
LEFT_ALONE = f"""
SELECT id, reason FROM (SELECT w.id, CASE
        WHEN o.id IS NULL THEN 'missing'
        WHEN NOT {PERMITTED} THEN 'denied'
        {{cases}}
    END AS reason
    FROM temp.w_ids w LEFT JOIN objects o ON o.id = w.id
    LEFT JOIN objecttypes t ON t.id = o.objecttype_id)
WHERE reason IS NOT NULL ORDER BY id
"""
TAGS_LEFT_ALONE = LEFT_ALONE.format(
    cases="""WHEN o.deleted_at IS NOT NULL THEN 'trashed'
        WHEN NOT t.has_tags THEN 'no_tags'
        WHEN (SELECT count(*) FROM object_tags x WHERE x.object_id = w.id
                AND x.tag_id IN (SELECT value FROM json_each(:set))) = json_array_length(:set)
            AND NOT EXISTS (SELECT 1 FROM object_tags x WHERE x.object_id = w.id
                AND x.tag_id IN (SELECT value FROM json_each(:remove)))
            THEN 'unchanged'"""
)
TRASH_LEFT_ALONE = LEFT_ALONE.format(
    cases="WHEN (o.deleted_at IS NOT NULL) = :trashed THEN 'unchanged'"
)
UNTARGET = f"DELETE FROM temp.w_ids WHERE id IN {JSON_LIST}"
TARGET_IDS = "SELECT id FROM temp.w_ids ORDER BY id"

SNAPSHOT = f"""
INSERT INTO object_versions
    (object_id, version, pool_id, owner_id, last_modified, deleted_at, deleted_by_run, tags, data)
SELECT o.id, o.version, o.pool_id, o.owner_id, o.last_modified, o.deleted_at, o.deleted_by_run,
    (SELECT json_group_array(tag_id) FROM
        (SELECT tag_id FROM object_tags x WHERE x.object_id = o.id ORDER BY tag_id)),
    d.data
FROM objects o JOIN object_data d ON d.object_id = o.id WHERE o.id IN {TARGETS}
"""
_BUMP = "UPDATE objects SET version = version + 1, last_modified = :now{marks} WHERE id IN "
# a new version of each object in temp.w_ids, by changelog operation
BUMP = {
    "update": _BUMP.format(marks="") + TARGETS,
    "delete": _BUMP.format(marks=", deleted_at = :now, deleted_by_run = :run") + TARGETS,
    "restore": _BUMP.format(marks=", deleted_at = NULL, deleted_by_run = NULL") + TARGETS,
}
LOG_CHANGES = f"""
INSERT INTO changelog (object_id, version, operation, user_id, time, run_id, comment)
SELECT id, version, :operation, :user, :now, :run, :comment FROM objects WHERE id IN {TARGETS}
"""
# `+tag_id`: each object's few tags are read by the primary key, rather than each listed tag
# looked up for every object through object_tags_tag (three times the work for four tags)
REMOVE_TAGS = f"DELETE FROM object_tags WHERE object_id IN {TARGETS} AND +tag_id IN {JSON_LIST}"
ADD_TAGS = """
INSERT OR IGNORE INTO object_tags (object_id, tag_id)
SELECT w.id, s.value FROM temp.w_ids w, json_each(?) s
"""
FILL_DATA = "INSERT INTO temp.w_data SELECT value ->> 0, value ->> 1 FROM json_each(?)"
SET_DATA = """
UPDATE object_data SET data = n.data FROM temp.w_data n WHERE object_data.object_id = n.id
"""
TEXT_ROWS_OF_TARGETS = f"""
SELECT f.rowid FROM temp.w_ids w JOIN text_fts f
    ON f.rowid >= (w.id << {OBJECT_SHIFT}) AND f.rowid < ((w.id + 1) << {OBJECT_SHIFT})
"""
DELETE_INDEX = (
    f"DELETE FROM field_values WHERE object_id IN {TARGETS}",
    f"DELETE FROM assets WHERE object_id IN {TARGETS}",
    f"DELETE FROM text_fts WHERE rowid IN ({TEXT_ROWS_OF_TARGETS})",
)
DELETE_OBJECTS = (
    *DELETE_INDEX,
    *(
        f"DELETE FROM {table} WHERE object_id IN {TARGETS}"
        for table in ("object_tags", "changelog", "object_versions", "object_data")
    ),
    f"DELETE FROM objects WHERE id IN {TARGETS}",
)
INSERT_VALUES = "INSERT OR IGNORE INTO field_values VALUES (?, ?, ?)"
INSERT_TEXTS = "INSERT INTO text_fts (rowid, body) VALUES (?, ?)"
INSERT_TERMS = "INSERT OR IGNORE INTO terms VALUES (?)"
INSERT_ASSETS = "INSERT INTO assets VALUES (?, ?, ?, ?, ?, ?, ?)"
ASSET_PATHS = f"SELECT path FROM assets WHERE object_id IN {TARGETS}"
USED_PATHS = f"SELECT path FROM assets WHERE path IN {JSON_LIST}"
TRASHED_BY = "SELECT id FROM objects WHERE deleted_by_run = ? ORDER BY id"

REVERT_STATE = """
SELECT o.id, o.version, o.deleted_at IS NOT NULL, v.version IS NOT NULL, v.deleted_at IS NOT NULL
FROM json_each(?) j JOIN objects o ON o.id = j.value ->> 0
LEFT JOIN object_versions v ON v.object_id = o.id AND v.version = j.value ->> 1
"""
FILL_REVERT = """
INSERT INTO temp.w_revert SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?)
"""
REVERT_OBJECTS = """
UPDATE objects SET pool_id = v.pool_id, owner_id = v.owner_id,
    deleted_at = v.deleted_at, deleted_by_run = v.deleted_by_run
FROM temp.w_revert r JOIN object_versions v ON v.object_id = r.id AND v.version = r.version
WHERE objects.id = r.id
"""
REVERT_DATA = """
UPDATE object_data SET data = v.data
FROM temp.w_revert r JOIN object_versions v ON v.object_id = r.id AND v.version = r.version
WHERE object_data.object_id = r.id AND object_data.data IS NOT v.data
"""
REVERT_TAGS = (
    f"DELETE FROM object_tags WHERE object_id IN {TARGETS}",
    """
    INSERT INTO object_tags (object_id, tag_id) SELECT r.id, j.value FROM temp.w_revert r
    JOIN object_versions v ON v.object_id = r.id AND v.version = r.version, json_each(v.tags) j
    """,
)
LOG_REVERTS = """
INSERT INTO changelog (object_id, version, operation, user_id, time, run_id, comment)
SELECT o.id, o.version, r.operation, ?, ?, ?, ? FROM objects o JOIN temp.w_revert r ON r.id = o.id
"""

# --- import --------------------------------------------------------------------------------

COUNT_TARGETS = f"SELECT count(*) FROM objects WHERE id IN {TARGETS}"
TAKEN = f"""
SELECT id, {{column}} FROM objects
WHERE {{column}} IN {JSON_LIST} AND id NOT IN {JSON_LIST}
"""
TAKEN_OT_IDS = f"""
SELECT o.id, o.objecttype_id, o.ot_id FROM json_each(?) j
JOIN objects o ON o.objecttype_id = j.value ->> 0 AND o.ot_id = j.value ->> 1
WHERE o.id NOT IN {JSON_LIST}
"""
INSERT_OBJECTS = "INSERT INTO objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_DATA = "INSERT INTO object_data (object_id, data) VALUES (?, ?)"
INSERT_TAGS = "INSERT INTO object_tags (object_id, tag_id) VALUES (?, ?)"
INSERT_CHANGELOG = """
INSERT INTO changelog (object_id, version, operation, user_id, time, run_id, comment)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""

# --- init ----------------------------------------------------------------------------------

USAGE = {
    "objecttype": "SELECT count(*) FROM objects WHERE objecttype_id = ?",
    "tagged": """SELECT count(DISTINCT t.object_id) FROM object_tags t
        JOIN objects o ON o.id = t.object_id WHERE o.objecttype_id = ?""",
    "field": """SELECT count(*) FROM objects o JOIN object_data d ON d.object_id = o.id
        WHERE o.objecttype_id = ? AND json_type(d.data, ?) IS NOT NULL""",
    "pool": "SELECT count(*) FROM objects WHERE pool_id = ?",
    "tag": "SELECT count(*) FROM object_tags WHERE tag_id = ?",
    "owner": "SELECT count(*) FROM objects WHERE owner_id = ?",
    "crowded": f"""SELECT count(*) FROM (SELECT object_id FROM object_tags
        WHERE tag_id IN {JSON_LIST} GROUP BY object_id HAVING count(*) > 1)""",
}
LAST_FIELD_ID = "SELECT max(id) FROM fields"
