"""The PostgreSQL store (`store: {type: postgres, dsn: ..., assets: ...}`), shared by processes.

Daemon replicas, `runner run` and `runner store ...` may use one database at once, each store
through a small connection pool (psycopg_pool). It gives the results of `SqliteStore` for every
method; what differs is how:

- Reads of one call share one snapshot (REPEATABLE READ). A search is one parameterized
  query (`postgres_search` compiles it), its records are read by id in chunks.
- Every write is one transaction of set-based statements whose lists of ids are array
  parameters; it first locks the objects it classifies (FOR UPDATE, in id order), so
  concurrent writers of the same objects take turns. Imports write each batch with COPY.
- Fencing (`runner.pg`): a write with a `run_id` that the state's `state_runs` knows commits
  only while that run is running under a live lease, and raises `LeaseLost` otherwise.
- Schema (`postgres_schema`): opening a store whose schema is not this runner's raises
  `SchemaOutdated`; only `init` (`runner store init`) migrates. Pass `upgrade=True` to open
  a store in order to `init` it.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from runner.pg import FENCE_SQL, KNOWN_RUN_SQL, RUNS_TABLE, LeaseLost
from runner.spec.datamodel import RIGHT_ORDER, DataModel
from runner.spec.search import SearchRequest
from runner.store import postgres_sql as sql
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
from runner.store.catalog import Actor, Catalog
from runner.store.compiler import Compiled, Sql, Viewer, compile_search
from runner.store.dates import micros
from runner.store.errors import (
    DestructiveChange,
    InvalidChange,
    NotAllowed,
    StoreError,
    StoreNotInitialized,
)
from runner.store.importing import (
    BatchWriter,
    ImportDefaults,
    ParsedLine,
    RecordParser,
    import_batches,
)
from runner.store.indexing import IndexRows
from runner.store.modeldiff import destructive_reasons, diff_models, measure_usage, model_problems
from runner.store.postgres_model import apply_model
from runner.store.postgres_rows import (
    BY_IDS,
    delete_index,
    delete_objects,
    export_lines,
    insert_index,
    insert_objects,
    kept_state,
    read_records,
    read_states,
    record_of,
)
from runner.store.postgres_schema import (
    SCHEMA_VERSION,
    check_version,
    load_catalog,
    migrate,
)
from runner.store.postgres_search import PostgresCompiler, pg_query
from runner.store.records import stored_json, updated_data
from runner.store.targets import Current, Target, finished, live, refused, revert_plan, tag_plan

Conn = psycopg.Connection[Any]
POOL_SIZE = 4
CONNECT_TIMEOUT = 10
ANALYZE_AFTER = 10_000  # imported objects
ANALYZED = ("objects", "object_tags", "field_numbers", "field_strings", "changelog", "texts")


def _idle_limit(lease: timedelta | None) -> Callable[[Conn], None] | None:
    if lease is None:
        return None
    milliseconds = str(int(lease.total_seconds() * 1000))

    def configure(conn: Conn) -> None:
        conn.execute(
            "SELECT set_config('idle_in_transaction_session_timeout', %s, false)", (milliseconds,)
        )

    return configure


class PostgresStore:
    """`Store` on PostgreSQL. `dsn` is a libpq connection string or URL (secrets resolved),
    which messages show without its password; `assets` the directory of the asset files.

    With `lease` (runner.yaml's run lease), the server ends a session of this store that stays
    idle inside a transaction for longer than that: a process paused in the middle of a write
    (SIGSTOP, a frozen VM) would otherwise keep its run's row locked by the fence, and no
    other replica could take the run over; its write is rolled back instead."""

    def __init__(
        self,
        dsn: str,
        assets: Path | str,
        *,
        upgrade: bool = False,
        pool_size: int = POOL_SIZE,
        lease: timedelta | None = None,
    ) -> None:
        self.label = masked(dsn)
        self.assets_dir = Path(assets)
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
                found = check_version(conn, older_ok=upgrade)
                self._catalog = load_catalog(conn) if found == SCHEMA_VERSION else None
        except psycopg.Error as exc:
            reason = scrubbed(str(exc).strip(), dsn)
            raise StoreError(f"store {self.label} cannot be used: {reason}") from None
        self.pool: ConnectionPool[Conn] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
            configure=_idle_limit(lease),
            name="runner-store",
            open=True,
        )
        self._parser: RecordParser | None = None
        self._runs_table = False

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _reading(self) -> Iterator[Conn]:
        """One snapshot for the statements of a call."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    @contextmanager
    def _writing(self, run_id: str | None, *, dry_run: bool = False) -> Iterator[Conn]:
        """One fenced write transaction, rolled back on errors and for a dry run. A session the
        server ended because it sat in the transaction past the lease (the process was paused)
        has lost its lease as far as this write goes."""
        try:
            with self.pool.connection() as conn, conn.transaction() as transaction:
                self._fence(conn, run_id)
                yield conn
                if dry_run:
                    raise psycopg.Rollback(transaction)
        except psycopg.errors.IdleInTransactionSessionTimeout:
            if run_id is None:
                raise
            raise LeaseLost(run_id) from None

    def _fence(self, conn: Conn, run_id: str | None) -> None:
        if run_id is None or not self._has_runs_table(conn):
            return
        if conn.execute(KNOWN_RUN_SQL, (run_id,)).fetchone() is None:
            return  # not a run of this database's state: nothing to fence against
        if conn.execute(FENCE_SQL, (run_id,)).fetchone() is None:
            raise LeaseLost(run_id)

    def _has_runs_table(self, conn: Conn) -> bool:
        if not self._runs_table:  # once there, the state's table stays
            row = conn.execute("SELECT to_regclass(%s)", (RUNS_TABLE,)).fetchone()
            self._runs_table = row is not None and row[0] is not None
        return self._runs_table

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            raise StoreNotInitialized(self.label)
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

    # --- init -------------------------------------------------------------------------------

    def init(self, model: DataModel) -> InitReport:
        """Migrates the schema, then applies the data model (unless it is the stored one), in
        one transaction."""
        problems = model_problems(model)
        if problems:
            raise InvalidChange("the data model is invalid: " + "; ".join(problems))
        with self._writing(None) as conn:
            migrate(conn)
            catalog = load_catalog(conn)
            if catalog is not None and catalog.model == model:
                self._catalog = catalog
                return InitReport(False, SCHEMA_VERSION)
            diff = diff_models(catalog.model if catalog else None, model)
            if catalog is not None:
                usage = measure_usage(diff, catalog.objecttype_ids, _usage_counter(conn))
                reasons = destructive_reasons(diff, catalog.model, usage)
                if reasons:
                    raise DestructiveChange(reasons)
            apply_model(conn, model)
            self._catalog = load_catalog(conn)
        return InitReport(catalog is None, SCHEMA_VERSION, diff.changes)

    # --- search -------------------------------------------------------------------------------

    def compile(
        self,
        request: SearchRequest,
        *,
        user: str,
        now: datetime,
        timezone: str = "UTC",
        since: Since | None = None,
    ) -> Compiled:
        actor = self.actor(user)
        return compile_search(
            request,
            self.catalog,
            Viewer(actor.id, actor.root),
            now=now,
            timezone=timezone,
            since=since,
            dialect=PostgresCompiler,
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
        with self._reading() as conn:
            ids = [row[0] for row in conn.execute(*pg_query(compiled.select_ids(limit=limit)))]
            total = len(ids)
            if total >= limit:  # else the page holds every match
                total = _value(conn, *pg_query(compiled.count()))
            records = read_records(conn, self.catalog, ids)
        return SearchResult(total, tuple(records))

    def count(
        self,
        request: SearchRequest,
        *,
        user: str,
        now: datetime,
        timezone: str = "UTC",
        since: Since | None = None,
    ) -> int:
        query = self.compile(request, user=user, now=now, timezone=timezone, since=since).count()
        with self.pool.connection() as conn:
            return int(_value(conn, *pg_query(query)))

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
        return self._batches(compiled.select_ids(after_id=after_id, ordered=False), batch_size)

    def _batches(self, query: Sql, batch_size: int) -> Iterator[list[int]]:
        # The matches are read when iteration starts (compactly, as one array), so the run's
        # own writes between batches do not move them.
        text, params = pg_query(query)
        with self.pool.connection() as conn:
            found = _value(conn, f"SELECT array_agg(id ORDER BY id) FROM ({text}) matches", params)
        ids = array("q", found or ())
        del found
        for start in range(0, len(ids), batch_size):
            yield ids[start : start + batch_size].tolist()

    # --- reading ------------------------------------------------------------------------------

    def get(self, ids: Iterable[int]) -> list[Record]:
        with self._reading() as conn:
            return read_records(conn, self.catalog, sorted(set(ids)))

    def export(self) -> Iterator[str]:
        with self._reading() as conn:
            yield from export_lines(conn, self.catalog)

    def versions(self, object_id: int) -> list[Version]:
        with self._reading() as conn:
            current = read_states(conn, "o.id = %s", (object_id,)).get(object_id)
            if current is None:
                return []
            rows = conn.execute(sql.KEPT_VERSIONS, (object_id,)).fetchall()
        kept = [kept_state(current, row) for row in rows]
        return [Version(s.version, record_of(self.catalog, s, None)) for s in [*kept, current]]

    def changes_by_run(self, run_id: str) -> list[RunChange]:
        per_object: dict[int, list[tuple[int, Operation]]] = {}
        with self._reading() as conn:
            for object_id, version, operation in conn.execute(sql.RUN_CHANGES, (run_id,)):
                per_object.setdefault(object_id, []).append((version, cast(Operation, operation)))
            before = {i: min(v for v, _ in c) - 1 for i, c in per_object.items()}
            previous = self._kept_records(conn, before)
        return [
            RunChange(i, tuple(op for _, op in c), before[i], max(v for v, _ in c), previous.get(i))
            for i, c in per_object.items()
        ]

    def _kept_records(self, conn: Conn, wanted: Mapping[int, int]) -> dict[int, Record]:
        """Records of kept versions (`wanted`: object id -> version), by object id."""
        pairs = [(i, v) for i, v in wanted.items() if v >= 1]
        rows = conn.execute(sql.KEPT_VERSIONS_OF, ([i for i, _ in pairs], [v for _, v in pairs]))
        kept = {row[0]: row[1:] for row in rows}
        current = read_states(conn, BY_IDS, (list(kept),))
        return {
            i: record_of(self.catalog, kept_state(current[i], row), None) for i, row in kept.items()
        }

    def asset(self, object_id: int, field: str, index: int = 0) -> Asset | None:
        with self.pool.connection() as conn:
            row = conn.execute(sql.ASSET, (object_id, field, index)).fetchone()
        if row is None:
            return None
        return Asset(object_id, field, self.assets_dir / row[0], row[1], row[2], row[3])

    # --- rights -------------------------------------------------------------------------------

    def allowed(self, ids: Iterable[int], user: str, right: Right) -> RightsCheck:
        actor = self.actor(user)
        with self.pool.connection() as conn:
            targets = self._classify(conn, ids, actor, right, lock=False)
        denied, missing = refused(targets)
        permitted = tuple(t.id for t in targets if t.exists and t.permitted)
        return RightsCheck(permitted, denied, tuple(s.id for s in missing))

    def _classify(
        self, conn: Conn, ids: Iterable[int], actor: Actor, right: Right, *, lock: bool = True
    ) -> list[Target]:
        """The given ids in order, each classified; writers lock the existing objects."""
        wanted = sorted(set(ids))
        params = {"root": actor.root, "user": actor.id, "level": RIGHT_ORDER[right], "ids": wanted}
        query = sql.CLASSIFY + (sql.LOCK if lock else "")
        found = {row[0]: row for row in conn.execute(query, params)}
        return [
            Target(i, True, *found[i][1:]) if i in found else Target(i, False, False, False, False)
            for i in wanted
        ]

    # --- writes -------------------------------------------------------------------------------

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
        with self._writing(run_id, dry_run=dry_run) as conn:
            candidates, result = live(self._classify(conn, ids, actor, "write"), need_tags=True)
            tags = {"ids": candidates, "set": adding, "remove": removing}
            changed = [row[0] for row in conn.execute(sql.TAGS_TO_CHANGE, tags)]
            if changed:
                conn.execute(sql.SNAPSHOT, (changed,))
                conn.execute(sql.REMOVE_TAGS, (changed, removing))
                conn.execute(sql.ADD_TAGS, (changed, adding))
                _bump(conn, changed, "update", Change(actor, now, run_id, comment))
        return finished(result, changed, candidates)

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
        with self._writing(run_id, dry_run=dry_run) as conn:
            targets = self._classify(conn, changes, actor, "write")
            candidates, result = live(targets, need_tags=False)
            current = read_states(conn, BY_IDS, (candidates,))
            updated = {i: updated_data(self.model, current[i], changes[i]) for i in candidates}
            changed = [i for i in candidates if updated[i] != current[i].data]
            if changed:
                conn.execute(sql.SNAPSHOT, (changed,))
                conn.execute(sql.SET_DATA, (changed, [stored_json(updated[i]) for i in changed]))
                self._reindex(conn, {i: (current[i].objecttype, updated[i]) for i in changed})
                _bump(conn, changed, "update", Change(actor, now, run_id, comment))
        return finished(result, changed, candidates)

    def _reindex(self, conn: Conn, objects: Mapping[int, tuple[str, dict[str, Any]]]) -> None:
        """Replace the index rows of the objects by rows of their new data."""
        delete_index(conn, list(objects))
        rows = IndexRows(self.catalog)
        for object_id, (objecttype, data) in objects.items():
            rows.add(objecttype, object_id, data)
        insert_index(conn, rows)

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
        return self._set_trashed(ids, True, Change(self.actor(user), now, run_id, comment), dry_run)

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
        change = Change(self.actor(user), now, run_id, comment)
        return self._set_trashed(ids, False, change, dry_run)

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
        change = Change(self.actor(user), now, run_id, comment)
        with self.pool.connection() as conn:
            ids = [row[0] for row in conn.execute(sql.TRASHED_BY, (trashed_by,))]
        return self._set_trashed(ids, False, change, dry_run)

    def _set_trashed(
        self, ids: Iterable[int], trashed: bool, change: Change, dry_run: bool
    ) -> WriteResult:
        with self._writing(change.run_id, dry_run=dry_run) as conn:
            targets = self._classify(conn, ids, change.actor, "delete")
            present = [t for t in targets if t.exists and t.permitted]
            changed = [t.id for t in present if t.trashed != trashed]
            if changed:
                conn.execute(sql.SNAPSHOT, (changed,))
                marks = sql.TRASH if trashed else sql.UNTRASH
                _bump(conn, changed, "delete" if trashed else "restore", change, marks)
        denied, missing = refused(targets)
        same = tuple(t.id for t in present if t.trashed == trashed)
        return WriteResult(tuple(changed), same, denied, missing)

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
        with self._writing(run_id, dry_run=dry_run) as conn:
            targets = self._classify(conn, ids, actor, "delete")
            gone = [t.id for t in targets if t.exists and t.permitted]
            paths = [row[0] for row in conn.execute(sql.ASSET_PATHS, (gone,))]
            delete_objects(conn, gone)
        if not dry_run:
            self._remove_unused_files(paths)
        denied, missing = refused(targets)
        return WriteResult(tuple(gone), (), denied, missing)

    def _remove_unused_files(self, paths: list[str]) -> None:
        """Purged means gone: asset files that no remaining object refers to are deleted."""
        with self.pool.connection() as conn:
            used = {row[0] for row in conn.execute(sql.USED_PATHS, (paths,))}
        root = self.assets_dir.resolve()
        for target in {(root / path).resolve() for path in set(paths) - used}:
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
        with self._writing(run_id, dry_run=dry_run) as conn:
            plan, skipped = revert_plan(wanted, self._revert_state(conn, changes))
            updates = [i for i, op in plan.items() if op == "update"]
            toggles = [i for i, op in plan.items() if op != "update"]
            targets = self._classify(conn, updates, actor, "write")
            targets += self._classify(conn, toggles, actor, "delete")
            denied = {t.id for t in targets if not t.permitted}
            todo = {i: (wanted[i].version_before, op) for i, op in plan.items() if i not in denied}
            if todo:
                self._apply_revert(conn, todo, Change(actor, now, run_id, comment))
        return WriteResult(tuple(sorted(todo)), (), tuple(sorted(denied)), tuple(skipped))

    def _revert_state(self, conn: Conn, changes: Sequence[RunChange]) -> dict[int, Current]:
        ids, versions = [c.object_id for c in changes], [c.version_before for c in changes]
        return {
            r[0]: Current(r[1], r[2], r[4] if r[3] else None)
            for r in conn.execute(sql.REVERT_STATE, (ids, versions))
        }

    def _apply_revert(
        self, conn: Conn, plan: Mapping[int, tuple[int, str]], change: Change
    ) -> None:
        """Each object of `plan` back to its version, as a new version (operation as given)."""
        ids = sorted(plan)
        params = {"ids": ids, "versions": [plan[i][0] for i in ids]}
        conn.execute(sql.SNAPSHOT, (ids,))
        conn.execute(sql.REVERT_OBJECTS, params)
        for statement in sql.REVERT_TAGS:
            conn.execute(statement, params)
        reverted = read_states(conn, BY_IDS, (ids,))
        self._reindex(conn, {i: (s.objecttype, s.data) for i, s in reverted.items()})
        _bump(conn, ids, [plan[i][1] for i in ids], change)

    # --- import -------------------------------------------------------------------------------

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

        def store(parsed: list[ParsedLine]) -> tuple[list[ImportProblem], int]:
            return self._store_or_explain(parsed, run_id)

        writer = BatchWriter(store, self._taken)
        report = import_batches(lines, self.parser, defaults, writer, batch_size)
        if report.imported >= ANALYZE_AFTER:
            self.analyze()
        return report

    def analyze(self) -> None:
        """Fresh planner statistics: after a large import the old ones mislead the planner
        (autovacuum would catch up, but only after a while)."""
        with self.pool.connection() as conn:
            conn.execute("ANALYZE " + ", ".join(ANALYZED))

    def _store_or_explain(
        self, parsed: list[ParsedLine], run_id: str | None
    ) -> tuple[list[ImportProblem], int]:
        """Store a batch, or say why not; with how many objects it replaced."""
        # Taken identifiers are rare: the unique indexes find them, and only then are the
        # lines looked up, after the batch's transaction was rolled back.
        try:
            with self._writing(run_id) as conn:
                ids = [state.id for _, (state, _) in parsed]
                replaced = _value(conn, sql.COUNT_EXISTING, (ids,))
                if replaced:
                    delete_objects(conn, ids)
                insert_objects(conn, self.catalog, [entry for _, entry in parsed])
                return [], replaced
        except psycopg.IntegrityError as exc:
            found = self._taken(parsed)
            detail = str(exc).splitlines()[0]
            return found or [ImportProblem(parsed[0][0], f"batch not stored: {detail}")], 0

    def _taken(self, parsed: list[ParsedLine]) -> list[ImportProblem]:
        """Identifiers of the batch that other stored objects hold."""
        ids = [state.id for _, (state, _) in parsed]
        problems = []
        with self._reading() as conn:
            for column, label in (("uuid", "_uuid"), ("global_id", "_global_object_id")):
                lines = {getattr(state, column): line for line, (state, _) in parsed}
                query = sql.TAKEN.format(column=column)
                for other, value in conn.execute(query, (list(lines), ids)):
                    message = f"{label} {value!r} is taken by object {other}"
                    problems.append(ImportProblem(lines[value], message))
            ot_ids = self.catalog.objecttype_ids
            pairs = {(ot_ids[s.objecttype], s.ot_id): (s, line) for line, (s, _) in parsed}
            keys = ([ot for ot, _ in pairs], [number for _, number in pairs], ids)
            for other, ot, ot_id in conn.execute(sql.TAKEN_OT_IDS, keys):
                state, line = pairs[ot, ot_id]
                message = f"{state.objecttype}._id {ot_id} is taken by object {other}"
                problems.append(ImportProblem(line, message))
        return problems


@dataclass(frozen=True)
class Change:
    """Who makes a write, when, in which run and why: what every changelog entry records."""

    actor: Actor
    now: datetime
    run_id: str | None
    comment: str | None


def _bump(
    conn: Conn,
    ids: list[int],
    operations: str | list[str],
    change: Change,
    assignments: str = "",
) -> None:
    """A new version of each object, with its changelog entry; `operations` is one for all
    or one per id."""
    per_id = [operations] * len(ids) if isinstance(operations, str) else operations
    conn.execute(
        sql.BUMP.format(extra=assignments),
        {
            "ids": ids,
            "operations": per_id,
            "now": micros(change.now),
            "user": change.actor.id,
            "run": change.run_id,
            "comment": change.comment,
        },
    )


def _value(conn: Conn, query: str, params: Sequence[Any] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def _usage_counter(conn: Conn) -> Callable[..., int]:
    """`measure_usage`'s counting: one query of `postgres_sql.USAGE` per call."""

    def count(kind: str, *args: Any) -> int:
        return int(_value(conn, sql.USAGE[kind], args))

    return count


# --- DSNs in messages: never with a password ------------------------------------------------


def masked(dsn: str) -> str:
    """The DSN (URL or key=value) for messages, its password shown as `***`."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(a DSN that does not parse)"
    if parts.get("password"):
        parts["password"] = "***"
    return make_conninfo("", **parts)


def scrubbed(text: str, dsn: str) -> str:
    """A driver's message with the DSN's password, if it holds one, replaced."""
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        return text
    return text.replace(str(password), "***") if password else text
