"""Rows of the SQLite store to and from `ObjectState`: reading objects, writing index rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from runner.store import sqlite_sql as sql
from runner.store.catalog import Catalog
from runner.store.indexing import IndexRows
from runner.store.records import (
    ChangelogEntry,
    ObjectState,
    canonical_json,
    to_record,
    trashing_run,
)

CHUNK = 1000


def read_states(
    conn: sqlite3.Connection, condition: str, params: tuple[Any, ...] = (), limit: int = -1
) -> dict[int, ObjectState]:
    """The objects matching an SQL condition on `o`, by id."""
    rows = conn.execute(sql.STATES.format(condition=condition), (*params, limit)).fetchall()
    tags: dict[int, list[int]] = {}
    for object_id, tag in conn.execute(sql.TAGS_OF, (json.dumps([row[0] for row in rows]),)):
        tags.setdefault(object_id, []).append(tag)
    return {row[0]: state_of(row, tags.get(row[0], [])) for row in rows}


def read_changelogs(
    conn: sqlite3.Connection, ids: Sequence[int]
) -> dict[int, list[ChangelogEntry]]:
    found: dict[int, list[ChangelogEntry]] = {}
    for row in conn.execute(sql.CHANGELOGS_OF, (json.dumps(list(ids)),)):
        found.setdefault(row[0], []).append(ChangelogEntry(*row[1:]))
    return found


def read_records(
    conn: sqlite3.Connection, catalog: Catalog, ids: Sequence[int]
) -> list[dict[str, Any]]:
    """Records in the order of `ids`, unknown ids left out."""
    records = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        states = read_states(conn, f"o.id IN {sql.JSON_LIST}", (json.dumps(chunk),))
        logs = read_changelogs(conn, chunk)
        records += [record_of(catalog, states[i], logs.get(i, [])) for i in chunk if i in states]
    return records


def record_of(
    catalog: Catalog, state: ObjectState, changelog: Sequence[ChangelogEntry] | None
) -> dict[str, Any]:
    return to_record(state, catalog.has_tags[state.objecttype], changelog)


def export_lines(conn: sqlite3.Connection, catalog: Catalog) -> Iterator[str]:
    after = 0
    while states := read_states(conn, "o.id > ?", (after,), CHUNK):
        ids = sorted(states)
        logs = read_changelogs(conn, ids)
        for i in ids:
            yield canonical_json(record_of(catalog, states[i], logs.get(i, [])))
        after = ids[-1]


def state_of(row: Sequence[Any], tags: list[int]) -> ObjectState:
    """An `objects` row (OBJECT_COLUMNS) with its tags."""
    *head, data = row
    return ObjectState._make((*head, json.loads(data), tuple(sorted(tags))))


def kept_state(current: ObjectState, row: Sequence[Any]) -> ObjectState:
    """An `object_versions` row (KEPT_VERSIONS columns) of the object `current`."""
    version, pool_id, owner_id, last_modified, deleted_at, deleted_by_run, tags, data = row
    return current._replace(
        version=version,
        pool_id=pool_id,
        owner_id=owner_id,
        last_modified=last_modified,
        deleted_at=deleted_at,
        deleted_by_run=deleted_by_run,
        data=json.loads(data),
        tags=tuple(json.loads(tags)),
    )


def object_row(state: ObjectState, ot_id: int, log: Sequence[ChangelogEntry]) -> tuple[Any, ...]:
    """The `objects` row of an imported object (its data goes to `object_data`)."""
    return (*state[:3], ot_id, *state[4:11], trashing_run(state, log))


def insert_index(conn: sqlite3.Connection, rows: IndexRows) -> None:
    conn.executemany(sql.INSERT_VALUES, rows.values)
    conn.executemany(sql.INSERT_TEXTS, rows.texts)
    conn.executemany(sql.INSERT_TERMS, [(term,) for term in rows.terms()])
    conn.executemany(sql.INSERT_ASSETS, rows.assets)


def delete_targets(conn: sqlite3.Connection) -> None:
    """Remove the objects in temp.w_ids with everything that refers to them."""
    for statement in sql.DELETE_OBJECTS:
        conn.execute(statement)
