"""The embedded store: one SQLite file (WAL, busy timeout, foreign keys on) and an asset directory.

Every write is one `BEGIN IMMEDIATE` transaction and set-based: the ids of a call go into a
temporary table in one statement, and each step is one `INSERT ... SELECT`, `UPDATE` or
`DELETE ... WHERE id IN` that table; rows that differ per object (imports, index rows) go in
with one `executemany` per table. Reads of one call share one snapshot. The store keeps no
planner statistics (no ANALYZE): SQLite then takes an indexed equality as selective, which
is what search elements ask for, and plans do not change with the data.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import count, islice
from pathlib import Path
from typing import Any, cast

from runner.spec.datamodel import RIGHT_ORDER, DataModel
from runner.spec.search import SearchRequest
from runner.store import sqlite_sql as sql
from runner.store.base import (
    Asset,
    ImportProblem,
    ImportReport,
    InitReport,
    Operation,
    Record,
    Right,
    RightsCheck,
    RunChange,
    SearchResult,
    Since,
    Version,
    WriteResult,
)
from runner.store.catalog import MAX_FIELD_ID, Actor, Catalog
from runner.store.compiler import Compiled, Sql, Viewer, compile_search
from runner.store.dates import micros
from runner.store.errors import (
    DestructiveChange,
    InvalidChange,
    NotAllowed,
    SchemaTooNew,
    StoreError,
    StoreNotInitialized,
)
from runner.store.importing import (
    ImportDefaults,
    ParsedLine,
    RecordParser,
    batch_duplicates,
    parse_batch,
)
from runner.store.indexing import IndexRows
from runner.store.modeldiff import (
    ModelDiff,
    Usage,
    destructive_reasons,
    diff_models,
    model_problems,
)
from runner.store.records import (
    stored_json,
    updated_data,
)
from runner.store.sqlite_model import apply_model
from runner.store.sqlite_rows import (
    delete_targets,
    export_lines,
    insert_index,
    kept_state,
    object_row,
    read_records,
    read_states,
    record_of,
)
from runner.store.sqlite_schema import SCHEMA_VERSION, load_catalog, migrate, schema_version
from runner.store.targets import (
    Current,
    Target,
    finished,
    live,
    refused,
    revert_plan,
    tag_plan,
    written,
)
from runner.store.text import text_matches

BUSY_TIMEOUT_MS = 30_000
PRAGMAS = (
    "journal_mode = WAL",
    f"busy_timeout = {BUSY_TIMEOUT_MS}",
    "foreign_keys = ON",
    "synchronous = NORMAL",  # with WAL: consistent always, durable from the next checkpoint
    "temp_store = MEMORY",
    "cache_size = -131072",  # 128 MiB: a batch of 25,000 objects fits (modules.base)
)


@dataclass(frozen=True)
class _Kept:
    """The ids `query` matched, kept by `count` in a temporary table for the batches of the same
    search that follow it (a run's); `seen` is the file's state then (see `_seen`)."""

    query: Sql
    table: str
    seen: tuple[int, int]


def _text_match(body: str, mode: str, phrase: int, words: str) -> int:
    """SQL function `runner_text_match`: one text value against a match element's words."""
    return int(text_matches(body, mode, bool(phrase), json.loads(words)))


log = logging.getLogger(__name__)


class SqliteStore:
    """`Store` on SQLite: `SqliteStore(path, assets_dir)` creates the file, or upgrades it in
    place to the current schema version. One connection, shared by threads under a lock."""

    def __init__(self, path: Path | str, assets: Path | str | None = None) -> None:
        self.path = Path(path)
        self.assets_dir = Path(assets) if assets is not None else self.path.parent / "assets"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._snapshots = count(1)
        self._kept: _Kept | None = None
        self._writes = 0
        self.conn = self._connect()
        found = schema_version(self.conn)
        if found > SCHEMA_VERSION:
            self.conn.close()
            raise SchemaTooNew(str(self.path), found, SCHEMA_VERSION)
        if 0 < found < SCHEMA_VERSION:
            # unconfigured, logging prints warnings on stderr: the upgrade is not silent
            log.warning(
                "runner: upgrading the store %s from schema version %d to %d (once; about"
                " 35 s per million objects)",
                self.path,
                found,
                SCHEMA_VERSION,
            )
        migrate(self.conn)
        self._catalog = load_catalog(self.conn)
        self._parser: RecordParser | None = None
        for statement in sql.TEMP_TABLES:
            self.conn.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        for pragma in PRAGMAS:
            conn.execute(f"PRAGMA {pragma}")
        conn.create_function("runner_text_match", 4, _text_match, deterministic=True)
        return conn

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, *, write: bool, dry_run: bool = False) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("ROLLBACK" if dry_run else "COMMIT")
            if write and not dry_run:
                self._writes += 1

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            raise StoreNotInitialized(str(self.path))
        return self._catalog

    @property
    def model(self) -> DataModel:
        return self.catalog.model

    @property
    def parser(self) -> RecordParser:
        if self._parser is None or self._parser.model is not self.model:
            self._parser = RecordParser(self.model)
        return self._parser

    def actor(self, name: str) -> Actor:
        return self.catalog.actor(name)

    def _value(self, statement: str, *params: Any) -> Any:
        return self.conn.execute(statement, params).fetchone()[0]

    def _target(self, ids: Iterable[int]) -> None:
        """Make `ids` the objects the next statements work on (temp.w_ids)."""
        self.conn.execute("DELETE FROM temp.w_ids")
        self.conn.execute(sql.FILL_TARGETS, (json.dumps(list(ids)),))

    # --- init -----------------------------------------------------------------------------

    def init(self, model: DataModel) -> InitReport:
        problems = model_problems(model)
        if problems:
            raise InvalidChange("the data model is invalid: " + "; ".join(problems))
        old = self._catalog.model if self._catalog else None
        diff = diff_models(old, model)
        with self._transaction(write=True) as conn:
            if old is not None:
                reasons = destructive_reasons(diff, old, self._usage(diff))
                if reasons:
                    raise DestructiveChange(reasons)
            apply_model(conn, model)
            if (self._value(sql.LAST_FIELD_ID) or 0) > MAX_FIELD_ID:  # ids are packed in rowids
                raise StoreError(f"a store holds {MAX_FIELD_ID} fields at most")
        self._catalog = load_catalog(self.conn)
        return InitReport(old is None, SCHEMA_VERSION, diff.changes)

    def _usage(self, diff: ModelDiff) -> Usage:
        """How many objects use what the diff removes or reshapes (one count each)."""
        ots, use = self.catalog.objecttype_ids, sql.USAGE
        fields = [
            (name, *name.split(".", 1))
            for name, _ in diff.reshaped_fields
            if name.split(".")[0] not in diff.removed_objecttypes
        ]
        return Usage(
            {n: self._value(use["objecttype"], ots[n]) for n in diff.removed_objecttypes},
            {n: self._value(use["tagged"], ots[n]) for n in diff.untagged_objecttypes},
            {q: self._value(use["field"], ots[ot], f"$.{f}") for q, ot, f in fields},
            {p: self._value(use["pool"], p) for p in diff.removed_pools},
            {t: self._value(use["tag"], t) for t in diff.removed_tags},
            {u: self._value(use["owner"], u) for u in diff.removed_users},
            {g: self._value(use["crowded"], json.dumps(t)) for g, t in diff.choice_groups},
        )

    # --- search ---------------------------------------------------------------------------

    def compile(
        self,
        request: SearchRequest,
        *,
        user: str,
        now: datetime,
        timezone: str = "UTC",
        since: Since | None = None,
        indexes: bool = True,
    ) -> Compiled:
        """The SQL of a search; `indexes=False` gives the same query using no index."""
        actor = self.actor(user)
        return compile_search(
            request,
            self.catalog,
            Viewer(actor.id, actor.root),
            now=now,
            timezone=timezone,
            since=since,
            indexes=indexes,
        )

    def search(
        self,
        request: SearchRequest,
        *,
        user: str,
        now: datetime,
        timezone: str = "UTC",
        limit: int = 1000,
        since: Since | None = None,
    ) -> SearchResult:
        compiled = self.compile(request, user=user, now=now, timezone=timezone, since=since)
        query = compiled.select_ids(limit=limit)
        counting = compiled.count()
        with self._transaction(write=False) as conn:
            total = self._value(counting.text, *counting.params)
            ids = [row[0] for row in conn.execute(query.text, query.params)]
            records = read_records(conn, self.catalog, ids)
        return SearchResult(int(total), tuple(records))

    def count(
        self,
        request: SearchRequest,
        *,
        user: str,
        now: datetime,
        timezone: str = "UTC",
        since: Since | None = None,
    ) -> int:
        """Also keeps the matches: `iter_ids` of the same search right after it, with nothing
        written in between, reads them instead of searching again (a run's guard and batches)."""
        compiled = self.compile(request, user=user, now=now, timezone=timezone, since=since)
        query = compiled.select_ids(ordered=False)
        with self._lock:
            self._forget_kept()
            table = self._snapshot(query)
            self._kept = _Kept(query, table, self._seen())
            return int(self._value(f"SELECT count(*) FROM {table}"))

    def iter_ids(
        self,
        request: SearchRequest,
        *,
        user: str,
        now: datetime,
        timezone: str = "UTC",
        batch_size: int = 1000,
        after_id: int = 0,
        since: Since | None = None,
    ) -> Iterator[list[int]]:
        compiled = self.compile(request, user=user, now=now, timezone=timezone, since=since)
        return self._batches(compiled.select_ids(ordered=False), batch_size, after_id)

    def _batches(self, query: Sql, batch_size: int, after_id: int) -> Iterator[list[int]]:
        # The matches are kept in a temporary table when iteration starts (or were, by `count`);
        # batches are keyset reads of it, so the run's own writes between batches do not move
        # them.
        with self._lock:
            table = self._take_kept(query) or self._snapshot(query)
        try:
            batch = [after_id]
            while batch := self._next_batch(table, batch[-1], batch_size):
                yield batch
        finally:
            with self._lock:
                self.conn.execute(f"DROP TABLE IF EXISTS {table}")

    def _snapshot(self, query: Sql) -> str:
        """A new temporary table of the ids `query` selects."""
        table = f"temp.snapshot_{next(self._snapshots)}"
        self.conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
        self.conn.execute(f"INSERT INTO {table} {query.text}", query.params)
        return table

    def _seen(self) -> tuple[int, int]:
        """Changes when anything is written to the file: by another connection (SQLite's
        data_version) or by this store."""
        return int(self._value("PRAGMA data_version")), self._writes

    def _take_kept(self, query: Sql) -> str | None:
        """The table of the matches `count` kept, if they are `query`'s and still current."""
        kept = self._kept
        if kept is None or kept.query != query or kept.seen != self._seen():
            self._forget_kept()
            return None
        self._kept = None
        return kept.table

    def _forget_kept(self) -> None:
        if self._kept is not None:
            self.conn.execute(f"DROP TABLE IF EXISTS {self._kept.table}")
            self._kept = None

    def _next_batch(self, table: str, after: int, size: int) -> list[int]:
        with self._lock:
            rows = self.conn.execute(
                f"SELECT id FROM {table} WHERE id > ? ORDER BY id LIMIT ?", (after, size)
            )
            return [row[0] for row in rows]

    # --- reading ------------------------------------------------------------------------------

    def get(self, ids: Iterable[int]) -> list[Record]:
        with self._transaction(write=False) as conn:
            return read_records(conn, self.catalog, sorted(set(ids)))

    def export(self) -> Iterator[str]:
        # A connection of its own keeps one snapshot for the whole export without holding
        # this store's lock between lines.
        reader = self._connect()
        try:
            reader.execute("BEGIN")
            yield from export_lines(reader, self.catalog)
            reader.execute("COMMIT")
        finally:
            reader.close()

    def versions(self, object_id: int) -> list[Version]:
        with self._transaction(write=False) as conn:
            current = read_states(conn, "o.id = ?", (object_id,)).get(object_id)
            if current is None:
                return []
            rows = conn.execute(sql.KEPT_VERSIONS, (object_id,)).fetchall()
        kept = [kept_state(current, row) for row in rows]
        return [Version(s.version, record_of(self.catalog, s, None)) for s in [*kept, current]]

    def changes_by_run(self, run_id: str) -> list[RunChange]:
        with self._transaction(write=False) as conn:
            per_object: dict[int, list[tuple[int, Operation]]] = {}
            for object_id, version, operation in conn.execute(sql.RUN_CHANGES, (run_id,)):
                per_object.setdefault(object_id, []).append((version, cast(Operation, operation)))
            before = {i: min(v for v, _ in c) - 1 for i, c in per_object.items()}
            previous = self._kept_records(before)
        return [
            RunChange(i, tuple(op for _, op in c), before[i], max(v for v, _ in c), previous.get(i))
            for i, c in per_object.items()
        ]

    def _kept_records(self, wanted: Mapping[int, int]) -> dict[int, Record]:
        """Records of kept versions (`wanted`: object id -> version), by object id."""
        pairs = json.dumps([[i, v] for i, v in wanted.items() if v >= 1])
        rows = self.conn.execute(sql.KEPT_VERSIONS_OF, (pairs,)).fetchall()
        ids = json.dumps([row[0] for row in rows])
        current = read_states(self.conn, f"o.id IN {sql.JSON_LIST}", (ids,))
        return {
            row[0]: record_of(self.catalog, kept_state(current[row[0]], row[1:]), None)
            for row in rows
        }

    def asset(self, object_id: int, field: str, index: int = 0) -> Asset | None:
        with self._lock:
            row = self.conn.execute(sql.ASSET, (object_id, field, index)).fetchone()
        if row is None:
            return None
        return Asset(object_id, field, self.assets_dir / row[0], row[1], row[2], row[3])

    # --- rights -----------------------------------------------------------------------------

    def allowed(self, ids: Iterable[int], user: str, right: Right) -> RightsCheck:
        actor = self.actor(user)
        with self._transaction(write=False):
            targets = self._classify(ids, actor, right)
        denied, missing = refused(targets)
        permitted = tuple(t.id for t in targets if t.exists and t.permitted)
        return RightsCheck(permitted, denied, tuple(s.id for s in missing))

    def _classify(self, ids: Iterable[int], actor: Actor, right: Right) -> list[Target]:
        params = {
            "root": actor.root,
            "user": actor.id,
            "level": RIGHT_ORDER[right],
            "ids": json.dumps(list(ids)),
        }
        rows = self.conn.execute(sql.CLASSIFY, params)
        return [Target(r[0], bool(r[1]), bool(r[2]), bool(r[3]), bool(r[4])) for r in rows]

    # --- writes ---------------------------------------------------------------------------------

    def set_tags(
        self,
        ids: Iterable[int],
        set_ids: Iterable[int] = (),
        unset_ids: Iterable[int] = (),
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        comment: str | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        adding, removing = tag_plan(self.model, sorted(set(set_ids)), sorted(set(unset_ids)))
        actor = self.actor(user)
        tags = {"set": json.dumps(adding), "remove": json.dumps(removing)}
        with self._transaction(write=True, dry_run=dry_run) as conn:
            left = self._target_changes(ids, sql.TAGS_LEFT_ALONE, actor, "write", tags)
            conn.execute(sql.SNAPSHOT)
            conn.execute(sql.REMOVE_TAGS, (tags["remove"],))
            conn.execute(sql.ADD_TAGS, (tags["set"],))
            self._bump("update", actor, now, run_id, comment)
            return written(self._target_ids(), left)

    def _target_changes(
        self,
        ids: Iterable[int],
        left_alone: str,
        actor: Actor,
        right: Right,
        params: Mapping[str, Any],
    ) -> list[tuple[int, str]]:
        """Make temp.w_ids the `ids` the write changes; the others, with the reason
        (`left_alone`, a LEFT_ALONE query), are returned."""
        self._target(ids)
        rights = {"root": actor.root, "user": actor.id, "level": RIGHT_ORDER[right]}
        left = self.conn.execute(left_alone, {**rights, **params}).fetchall()
        if left:
            self.conn.execute(sql.UNTARGET, (json.dumps([row[0] for row in left]),))
        return left

    def _target_ids(self) -> list[int]:
        return [row[0] for row in self.conn.execute(sql.TARGET_IDS)]

    def update_fields(
        self,
        changes: Mapping[int, Mapping[str, Any]],
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        comment: str | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        actor = self.actor(user)
        with self._transaction(write=True, dry_run=dry_run) as conn:
            candidates, result = live(self._classify(changes, actor, "write"), need_tags=False)
            current = read_states(conn, f"o.id IN {sql.JSON_LIST}", (json.dumps(candidates),))
            updated = {i: updated_data(self.model, current[i], changes[i]) for i in candidates}
            changed = [i for i in candidates if updated[i] != current[i].data]
            self._target(changed)
            conn.execute(sql.SNAPSHOT)
            conn.execute("DELETE FROM temp.w_data")
            rows = [[i, stored_json(updated[i])] for i in changed]
            conn.execute(sql.FILL_DATA, (json.dumps(rows),))
            conn.execute(sql.SET_DATA)
            self._reindex({i: (current[i].objecttype, updated[i]) for i in changed})
            self._bump("update", actor, now, run_id, comment)
        return finished(result, changed, candidates)

    def _reindex(self, objects: Mapping[int, tuple[str, dict[str, Any]]]) -> None:
        """Replace the index rows of the objects in temp.w_ids by rows of their new data."""
        for statement in sql.DELETE_INDEX:
            self.conn.execute(statement)
        rows = IndexRows(self.catalog)
        for object_id, (objecttype, data) in objects.items():
            rows.add(objecttype, object_id, data)
        insert_index(self.conn, rows)

    def trash(
        self,
        ids: Iterable[int],
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        comment: str | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        return self._set_trashed(ids, True, user, now, run_id, comment, dry_run)

    def restore(
        self,
        ids: Iterable[int],
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        comment: str | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        return self._set_trashed(ids, False, user, now, run_id, comment, dry_run)

    def restore_run(
        self,
        trashed_by: str,
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        comment: str | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        with self._lock:
            ids = [row[0] for row in self.conn.execute(sql.TRASHED_BY, (trashed_by,))]
            return self._set_trashed(ids, False, user, now, run_id, comment, dry_run)

    def _set_trashed(
        self,
        ids: Iterable[int],
        trashed: bool,
        user: str,
        now: datetime,
        run_id: str | None,
        comment: str | None,
        dry_run: bool,
    ) -> WriteResult:
        actor = self.actor(user)
        state = {"trashed": trashed}
        with self._transaction(write=True, dry_run=dry_run) as conn:
            left = self._target_changes(ids, sql.TRASH_LEFT_ALONE, actor, "delete", state)
            conn.execute(sql.SNAPSHOT)
            self._bump("delete" if trashed else "restore", actor, now, run_id, comment)
            return written(self._target_ids(), left)

    def purge(
        self,
        ids: Iterable[int],
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        actor = self.actor(user)
        if not actor.purge:
            raise NotAllowed(user, "purge objects", "system.purge or system.root")
        with self._transaction(write=True, dry_run=dry_run) as conn:
            targets = self._classify(ids, actor, "delete")
            gone = [t.id for t in targets if t.exists and t.permitted]
            self._target(gone)
            paths = [row[0] for row in conn.execute(sql.ASSET_PATHS)]
            delete_targets(conn)
        if not dry_run:
            self._remove_unused_files(paths)
        denied, missing = refused(targets)
        return WriteResult(tuple(gone), (), denied, missing)

    def _remove_unused_files(self, paths: list[str]) -> None:
        """Purged means gone: asset files no remaining object refers to are deleted."""
        with self._lock:
            used = {row[0] for row in self.conn.execute(sql.USED_PATHS, (json.dumps(paths),))}
        root = self.assets_dir.resolve()
        for path in set(paths) - used:
            target = (root / path).resolve()
            if target.is_relative_to(root) and target.is_file():
                target.unlink()

    def revert(
        self,
        changes: Sequence[RunChange],
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        comment: str | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        actor = self.actor(user)
        wanted = {c.object_id: c for c in changes}
        with self._transaction(write=True, dry_run=dry_run):
            plan, skipped = revert_plan(wanted, self._revert_state(changes))
            updates = [i for i, op in plan.items() if op == "update"]
            toggles = [i for i, op in plan.items() if op != "update"]
            targets = self._classify(updates, actor, "write")
            targets += self._classify(toggles, actor, "delete")
            denied = sorted(t.id for t in targets if not t.permitted)
            todo = {i: (wanted[i].version_before, op) for i, op in plan.items() if i not in denied}
            self._apply_revert(todo, actor, now, run_id, comment)
        return WriteResult(tuple(sorted(todo)), (), tuple(denied), tuple(skipped))

    def _revert_state(self, changes: Sequence[RunChange]) -> dict[int, Current]:
        pairs = json.dumps([[c.object_id, c.version_before] for c in changes])
        return {
            r[0]: Current(r[1], bool(r[2]), bool(r[4]) if r[3] else None)
            for r in self.conn.execute(sql.REVERT_STATE, (pairs,))
        }

    def _apply_revert(
        self,
        plan: Mapping[int, tuple[int, str]],
        actor: Actor,
        now: datetime,
        run_id: str | None,
        comment: str | None,
    ) -> None:
        conn = self.conn
        self._target(plan)
        conn.execute("DELETE FROM temp.w_revert")
        rows = [[i, version, op] for i, (version, op) in plan.items()]
        conn.execute(sql.FILL_REVERT, (json.dumps(rows),))
        conn.execute(sql.SNAPSHOT)
        conn.execute(sql.REVERT_OBJECTS)
        conn.execute(sql.REVERT_DATA)
        for statement in sql.REVERT_TAGS:
            conn.execute(statement)
        reverted = read_states(conn, f"o.id IN {sql.TARGETS}")
        self._reindex({i: (s.objecttype, s.data) for i, s in reverted.items()})
        conn.execute(sql.BUMP["update"], {"now": micros(now)})
        conn.execute(sql.LOG_REVERTS, (actor.id, micros(now), run_id, comment))

    def _bump(
        self,
        operation: Operation,
        actor: Actor,
        now: datetime,
        run_id: str | None,
        comment: str | None,
    ) -> None:
        """A new version of every object in temp.w_ids, with its changelog entry; trashing
        and restoring also set or clear the trash marks."""
        params = {
            "operation": operation,
            "user": actor.id,
            "now": micros(now),
            "run": run_id,
            "comment": comment,
        }
        self.conn.execute(sql.BUMP[operation], params)
        self.conn.execute(sql.LOG_CHANGES, params)

    # --- import ---------------------------------------------------------------------------------

    def import_records(
        self,
        lines: Iterable[str],
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        batch_size: int = 1000,
    ) -> ImportReport:
        defaults = ImportDefaults(micros(now), self.actor(user).id, run_id)
        imported = replaced = rejected = 0
        problems: list[ImportProblem] = []
        numbered = enumerate(lines, start=1)
        while batch := list(islice(numbered, batch_size)):
            parsed, found = parse_batch(self.parser, batch, defaults)
            found += batch_duplicates(parsed)
            if found:
                found += self._taken(parsed)
            else:
                found, count = self._store_or_explain(parsed)
                replaced += count
            if found:
                rejected += sum(1 for _, text in batch if text.strip())
                problems += sorted(found, key=lambda p: p.line)
            else:
                imported += len(parsed)
        return ImportReport(imported, replaced, rejected, tuple(problems))

    def _store_or_explain(self, parsed: list[ParsedLine]) -> tuple[list[ImportProblem], int]:
        """Store a batch, or say why not; with how many objects it replaced."""
        # Taken identifiers are rare: the unique indexes find them, and only then are the
        # lines looked up, after the batch's transaction was rolled back.
        try:
            with self._transaction(write=True):
                return [], self._store_batch(parsed)
        except sqlite3.IntegrityError as exc:
            found = self._taken(parsed)
            return found or [ImportProblem(parsed[0][0], f"batch not stored: {exc}")], 0

    def _taken(self, parsed: list[ParsedLine]) -> list[ImportProblem]:
        """Identifiers of the batch that other stored objects hold."""
        with self._transaction(write=False):
            return self._taken_now(parsed)

    def _taken_now(self, parsed: list[ParsedLine]) -> list[ImportProblem]:
        problems = []
        ids = json.dumps([state.id for _, (state, _) in parsed])
        for column, label in (("uuid", "_uuid"), ("global_id", "_global_object_id")):
            lines = {getattr(state, column): line for line, (state, _) in parsed}
            taken = sql.TAKEN.format(column=column)
            for other, value in self.conn.execute(taken, (json.dumps(list(lines)), ids)):
                problems.append(
                    ImportProblem(lines[value], f"{label} {value!r} is taken by object {other}")
                )
        ot_ids = self.catalog.objecttype_ids
        pairs = {(ot_ids[s.objecttype], s.ot_id): (s, line) for line, (s, _) in parsed}
        for other, ot, ot_id in self.conn.execute(sql.TAKEN_OT_IDS, (json.dumps(list(pairs)), ids)):
            state, line = pairs[ot, ot_id]
            problems.append(
                ImportProblem(line, f"{state.objecttype}._id {ot_id} is taken by object {other}")
            )
        return problems

    def _store_batch(self, parsed: list[ParsedLine]) -> int:
        """Write a validated batch; returns how many objects it replaced."""
        conn, catalog = self.conn, self.catalog
        self._target(state.id for _, (state, _) in parsed)
        replaced = int(self._value(sql.COUNT_TARGETS))
        if replaced:
            delete_targets(conn)
        rows = IndexRows(self.catalog)
        for _, (state, _) in parsed:
            rows.add(state.objecttype, state.id, state.data)
        ot_ids = catalog.objecttype_ids
        objects = [object_row(s, ot_ids[s.objecttype], log) for _, (s, log) in parsed]
        conn.executemany(sql.INSERT_OBJECTS, objects)
        conn.executemany(sql.INSERT_DATA, [(s.id, stored_json(s.data)) for _, (s, _) in parsed])
        conn.executemany(sql.INSERT_TAGS, [(s.id, t) for _, (s, _) in parsed for t in s.tags])
        log = [(s.id, *entry) for _, (s, entries) in parsed for entry in entries]
        conn.executemany(sql.INSERT_CHANGELOG, log)
        insert_index(conn, rows)
        return replaced
