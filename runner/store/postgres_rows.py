"""Rows of the PostgreSQL store to and from `ObjectState`: reading objects, writing index rows.

Lists of ids arrive as one array parameter. Index rows (`indexing.IndexRows`) and imported
objects go in with COPY, one per table and batch.

Text values become `texts` rows, one per value with at least one token: `body` is a tsvector
of the tokens (`runner.store.text`) at their positions, written as tsvector text, whose
lexemes are taken as they are (no parser or dictionary). A tsvector holds lexemes of at most
2046 bytes, positions up to 16383, 256 positions per lexeme and 1 MB in all; a value beyond
that keeps its tokens as an array (`tokens`), which searches test token by token, and its
words stay out of the vocabulary (`terms`), whose btree holds no such long words.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg

from runner.store.catalog import INDEX_BITS, MAX_FIELD_ID, OBJECT_SHIFT, Catalog
from runner.store.indexing import IndexRows
from runner.store.records import (
    ChangelogEntry,
    ObjectState,
    canonical_json,
    stored_json,
    to_record,
    trashing_run,
)
from runner.store.text import tokens

Conn = psycopg.Connection[Any]
Record = dict[str, Any]
TextRow = tuple[int, int, str | None, list[str] | None]
CHUNK = 1000
MAX_LEXEME_BYTES = 2046
MAX_POSITION = 16383
MAX_POSITIONS = 256
MAX_BODY_BYTES = 256 * 1024  # with the limits above, keeps a tsvector well under 1 MB
SHORT = MAX_LEXEME_BYTES // 4  # a value shorter than this (in characters) always fits

STATES = """
SELECT o.id, o.uuid, o.global_id, t.name, o.ot_id, o.version, o.pool_id, o.owner_id,
    o.created, o.last_modified, o.deleted_at, o.deleted_by_run, o.data,
    ARRAY(SELECT tag_id FROM object_tags x WHERE x.object_id = o.id ORDER BY tag_id)
FROM objects o JOIN objecttypes t ON t.id = o.objecttype_id
WHERE {condition} ORDER BY o.id LIMIT %s
"""
CHANGELOGS_OF = """
SELECT object_id, version, operation, user_id, time, run_id, comment FROM changelog
WHERE object_id = ANY(%s::bigint[]) ORDER BY object_id, id
"""
BY_IDS = "o.id = ANY(%s::bigint[])"
# what a kept version holds of an object (the rest does not change)
KEPT = (
    "version",
    "pool_id",
    "owner_id",
    "last_modified",
    "deleted_at",
    "deleted_by_run",
    "tags",
    "data",
)
COPY = {
    "objects": "objects (id, uuid, global_id, objecttype_id, ot_id, version, pool_id, owner_id,"
    " created, last_modified, deleted_at, deleted_by_run, data)",
    "object_tags": "object_tags (object_id, tag_id)",
    "changelog": "changelog (object_id, version, operation, user_id, time, run_id, comment)",
    "field_numbers": "field_numbers (field_id, value, object_id)",
    "field_strings": "field_strings (field_id, value, object_id)",
    "texts": "texts (object_id, field_id, body, tokens)",
    "assets": "assets (object_id, field_id, idx, path, size, sha256, mime)",
}
INSERT_TERMS = "INSERT INTO terms SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING"
INDEX_TABLES = ("field_numbers", "field_strings", "assets", "texts")
OBJECT_TABLES = (*INDEX_TABLES, "object_tags", "changelog", "object_versions")


# --- reading ------------------------------------------------------------------------------------


def read_states(
    conn: Conn, condition: str, params: Sequence[Any] = (), limit: int | None = None
) -> dict[int, ObjectState]:
    """The objects matching an SQL condition on `o`, by id."""
    rows = conn.execute(STATES.format(condition=condition), (*params, limit)).fetchall()
    return {row[0]: ObjectState._make((*row[:13], tuple(row[13]))) for row in rows}


def read_changelogs(conn: Conn, ids: Sequence[int]) -> dict[int, list[ChangelogEntry]]:
    found: dict[int, list[ChangelogEntry]] = {}
    for row in conn.execute(CHANGELOGS_OF, (list(ids),)):
        found.setdefault(row[0], []).append(ChangelogEntry(*row[1:]))
    return found


def read_records(conn: Conn, catalog: Catalog, ids: Sequence[int]) -> list[Record]:
    """Records in the order of `ids`, unknown ids left out."""
    records = []
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        states = read_states(conn, BY_IDS, (chunk,))
        logs = read_changelogs(conn, chunk)
        records += [record_of(catalog, states[i], logs.get(i, [])) for i in chunk if i in states]
    return records


def record_of(
    catalog: Catalog, state: ObjectState, changelog: Sequence[ChangelogEntry] | None
) -> Record:
    return to_record(state, catalog.has_tags[state.objecttype], changelog)


def export_lines(conn: Conn, catalog: Catalog) -> Iterator[str]:
    after = 0
    while states := read_states(conn, "o.id > %s", (after,), CHUNK):
        ids = sorted(states)
        logs = read_changelogs(conn, ids)
        for i in ids:
            yield canonical_json(record_of(catalog, states[i], logs.get(i, [])))
        after = ids[-1]


def kept_state(current: ObjectState, row: Sequence[Any]) -> ObjectState:
    """An `object_versions` row (its `KEPT` columns) of the object `current`."""
    kept = dict(zip(KEPT, row, strict=True))
    kept["tags"] = tuple(kept["tags"])
    return current._replace(**kept)


# --- writing ------------------------------------------------------------------------------------


def copy_rows(conn: Conn, table: str, rows: Iterable[Sequence[Any]]) -> None:
    rows = list(rows)
    if not rows:
        return
    with conn.cursor() as cursor, cursor.copy(f"COPY {COPY[table]} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def object_row(state: ObjectState, ot_id: int, log: Sequence[ChangelogEntry]) -> tuple[Any, ...]:
    """The `objects` row of an imported object."""
    head = (state.id, state.uuid, state.global_id, ot_id, state.ot_id, state.version)
    rest = (state.pool_id, state.owner_id, state.created, state.last_modified, state.deleted_at)
    return (*head, *rest, trashing_run(state, log), stored_json(state.data))


def insert_objects(conn: Conn, catalog: Catalog, parsed: Sequence[tuple[ObjectState, Any]]) -> None:
    """Imported objects with their tags, changelogs and index rows."""
    ot_ids = catalog.objecttype_ids
    copy_rows(conn, "objects", (object_row(s, ot_ids[s.objecttype], log) for s, log in parsed))
    copy_rows(conn, "object_tags", ((s.id, tag) for s, _ in parsed for tag in s.tags))
    copy_rows(conn, "changelog", ((s.id, *entry) for s, log in parsed for entry in log))
    rows = IndexRows(catalog)
    for state, _ in parsed:
        rows.add(state.objecttype, state.id, state.data)
    insert_index(conn, rows)


def insert_index(conn: Conn, rows: IndexRows) -> None:
    copy_rows(conn, "field_numbers", (r for r in rows.values if not isinstance(r[1], str)))
    copy_rows(conn, "field_strings", (r for r in rows.values if isinstance(r[1], str)))
    copy_rows(conn, "assets", rows.assets)
    texts, terms = text_rows(rows.texts)
    copy_rows(conn, "texts", texts)
    if terms:
        conn.execute(INSERT_TERMS, (sorted(terms),))


def text_rows(values: Iterable[tuple[int, str]]) -> tuple[list[TextRow], set[str]]:
    """The `texts` rows of text values (`rowid` packs object and field, see `catalog`), and the
    vocabulary of those that fit a tsvector."""
    rows: list[TextRow] = []
    terms: set[str] = set()
    for rowid, text in values:
        found = tokens(text)
        if not found:
            continue
        object_id, field_id = rowid >> OBJECT_SHIFT, (rowid >> INDEX_BITS) & MAX_FIELD_ID
        if fits_tsvector(text, found):
            terms.update(found)
            body = " ".join(f"'{token}':{i}" for i, token in enumerate(found, 1))
            rows.append((object_id, field_id, body, None))
        else:
            rows.append((object_id, field_id, None, found))
    return rows, terms


def fits_tsvector(text: str, found: list[str]) -> bool:
    if len(text) < SHORT:
        return True
    return (
        len(found) <= MAX_POSITION
        and len(text.encode()) <= MAX_BODY_BYTES
        and max(len(token.encode()) for token in found) <= MAX_LEXEME_BYTES
        and (len(found) <= MAX_POSITIONS or max(Counter(found).values()) <= MAX_POSITIONS)
    )


def delete_index(conn: Conn, ids: list[int]) -> None:
    """Remove the index rows of the objects `ids` (to write new ones)."""
    for table in INDEX_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE object_id = ANY(%s::bigint[])", (ids,))


def delete_objects(conn: Conn, ids: list[int]) -> None:
    """Remove the objects `ids` with everything that refers to them."""
    for table in OBJECT_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE object_id = ANY(%s::bigint[])", (ids,))
    conn.execute("DELETE FROM objects WHERE id = ANY(%s::bigint[])", (ids,))
