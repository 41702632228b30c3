"""A fylr search request becomes one parameterized SQLite query over `objects o`.

Values are always bound parameters; only table and column names of the schema are part of
the SQL text, and data-model names become ids or parameters (JSON paths included). The query
is restricted to what the user may read and, unless `include_deleted`, to objects not in the
trash. Semantics (DESIGN section 5, plus these decisions):

- A list of elements: every `must` holds, no `must_not` holds, and when there is a `should`,
  at least one does. An empty list (or `complex`) matches everything.
- `in`: an object matches when any of its values of any listed field equals any listed value.
  Whole values compare exactly: strings case-sensitively, numbers by value (1 = 1.0), dates as
  instants, booleans as booleans, file fields by their `path`. `null` matches an object without
  a value (no key, or an empty list). A value that fits none of the listed fields' types is an
  error. A field `<ot>.<name>` has no value on objects of another objecttype, so `must_not`
  and `in: [null]` match them.
- `match` (alias `text`) searches text and string fields; without `fields`, all of those of the
  objecttypes in play (the request's `objecttypes`, else all). Words are split on everything
  but letters and digits and compared case-insensitively, without stemming or diacritic
  folding. `fulltext`: every word is the start of a token (a prefix) in one of the fields
  (different words may be in different fields or values); `token`: every word equals a whole
  token; `wildcard`: every word is a pattern matching one whole token, `*` any characters,
  `?` exactly one. `phrase: true`: the words (or patterns) in order on adjacent tokens of one
  value. A string without words is an error.
- `range`: on number and date fields (system ones included), inclusive, either bound
  optional. Stored dates without an offset are UTC; bounds without an offset are in the
  request's timezone; a date-only `to` includes that whole day; relative dates are resolved
  against `now` in the timezone (see `runner.store.dates`). On a multiple field, any value in
  the range matches.
- `changelog_range`: an object with a changelog entry in the range, of the operation and by
  the user given (each optional).
- `sort`: by any field, ASC or DESC; an object's key is its smallest value ascending and its
  largest descending, strings by code point; objects without a value come last; ties and
  requests without `sort` go by `_system_object_id` ascending.
- Errors name the element's path: `search.search.2.fields.0: unknown field 'images.titel'`.

With `indexes=False` the same request compiles to a query that uses no index (columns behind
unary `+`, text matched value by value): the baseline of `bench/store.py` and a second
implementation for tests.

`SearchCompiler` writes SQLite; a backend with another dialect subclasses it and overrides the
hooks that differ (how an object's rows are tested, lists of values, values kept in the data
JSON, full-text search), as `runner.store.postgres_search` does. Placeholders are `?`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from runner.spec.datamodel import OBJECTTYPE_SYSTEM_FIELDS, SYSTEM_FIELDS
from runner.spec.diagnostics import suggest
from runner.spec.search import (
    ChangelogRangeElement,
    ComplexElement,
    InElement,
    MatchElement,
    RangeElement,
    SearchRequest,
    SortItem,
    is_date_string,
)
from runner.store.base import Since
from runner.store.catalog import INDEX_BITS, MAX_FIELD_ID, OBJECT_SHIFT, Catalog, FieldInfo
from runner.store.dates import micros, request_instant
from runner.store.errors import KeyPath, SearchError
from runner.store.text import fts_phrase, fts_term, has_wildcard, patterns, prefix_of, tokens

TRUE = "TRUE"
FALSE = "FALSE"
NO_TERM = '""'  # an FTS5 query that matches nothing: the empty phrase
_SYSTEM_KINDS = {
    "_system_object_id": "id",
    "_global_object_id": "global_id",
    "_uuid": "uuid",
    "_objecttype": "objecttype",
    "_tags._id": "tags",
    "_owner.user._id": "owner",
    "_last_modified": "last_modified",
    "_changelog.date_created": "changelog",
}
_OBJECTTYPE_KINDS = {"_id": "ot_id", "_pool.pool._id": "pool", "_pool._path.pool._id": "pool_path"}
_OBJECTTYPE_COLUMNS = {"ot_id": "o.ot_id", "pool": "o.pool_id", "pool_path": "ancestor_id"}


@dataclass(frozen=True)
class Sql:
    text: str
    params: tuple[Any, ...] = ()


def join(parts: Sequence[Sql], operator: str) -> Sql:
    if len(parts) == 1:
        return parts[0]
    text = operator.join(f"({p.text})" for p in parts)
    return Sql(text, tuple(v for p in parts for v in p.params))


@dataclass(frozen=True)
class Viewer:
    """Who searches: a user id, and whether system.root lets it read everything."""

    user_id: int
    root: bool


@dataclass(frozen=True)
class Target:
    """A resolved field name: what it is stored as, and its type."""

    kind: str
    type: str
    name: str
    objecttype_id: int | None = None
    field: FieldInfo | None = None


@dataclass(frozen=True)
class Compiled:
    where: Sql
    order: Sql
    source: str = "objects o"

    def select_ids(
        self, *, after_id: int | None = None, limit: int | None = None, ordered: bool = True
    ) -> Sql:
        """The matching ids, in the request's order unless `ordered` is false."""
        text = f"SELECT o.id FROM {self.source} WHERE {self.where.text}"
        params = self.where.params
        if after_id is not None:
            text += " AND o.id > ?"
            params += (after_id,)
        if ordered:
            text += f" ORDER BY {self.order.text}"
            params += self.order.params
        if limit is not None:
            text += " LIMIT ?"
            params += (limit,)
        return Sql(text, params)

    def id_list(self) -> Sql:
        """All matching ids as one JSON array: no row-by-row fetching for bulk reads."""
        inner = self.select_ids(ordered=False)
        return Sql(f"SELECT json_group_array(id) FROM ({inner.text})", inner.params)

    def count(self) -> Sql:
        return Sql(f"SELECT count(*) FROM {self.source} WHERE {self.where.text}", self.where.params)


def compile_search(
    request: SearchRequest,
    catalog: Catalog,
    viewer: Viewer,
    *,
    now: datetime,
    timezone: str = "UTC",
    since: Since | None = None,
    indexes: bool = True,
    dialect: type[SearchCompiler] | None = None,
) -> Compiled:
    """Raises SearchError for names and values that do not fit the data model."""
    compiler = (dialect or SearchCompiler)(catalog, now, ZoneInfo(timezone), indexes)
    objecttypes = compiler.objecttypes(request.objecttypes)
    compiler.in_play = objecttypes or list(catalog.objecttype_ids)
    parts = []
    if not request.include_deleted:
        parts.append(Sql(f"{compiler.col('o.deleted_at')} IS NULL"))
    if objecttypes:
        ids = tuple(catalog.objecttype_ids[name] for name in objecttypes)
        parts.append(Sql(f"{compiler.objecttype} IN ({_marks(ids)})", ids))
    if not viewer.root:
        parts.append(compiler.readable(viewer.user_id))
    if since is not None:
        parts.append(compiler.since(since))
    parts.append(compiler.elements(request.search, ("search", "search")))
    order = compiler.order(request.sort)
    where = join([p for p in parts if p.text != TRUE] or [Sql(TRUE)], " AND ")
    return Compiled(where, order, "objects o" if indexes else "objects o NOT INDEXED")


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


class SearchCompiler:
    """A request's parts as SQLite conditions on `objects o`; subclasses write other dialects."""

    # A data model has a handful of objecttypes: an index on the objecttype never narrows
    # enough, so it is kept from the planner (unary +), which then picks the element's own index.
    objecttype = "+o.objecttype_id"
    # An object's data JSON, kept apart from its narrow `objects` row (see sqlite_schema v3).
    data = "(SELECT d.data FROM object_data d WHERE d.object_id = o.id)"

    def __init__(self, catalog: Catalog, now: datetime, zone: ZoneInfo, indexes: bool) -> None:
        self.catalog = catalog
        self.model = catalog.model
        self.now = now
        self.zone = zone
        self.indexes = indexes
        self.in_play: list[str] = []

    def table(self, name: str) -> str:
        """A table in a condition's subquery; NOT INDEXED makes SQLite scan it."""
        return name if self.indexes else f"{name} NOT INDEXED"

    def col(self, name: str) -> str:
        """A column in a condition; unary `+` keeps SQLite from using an index for it."""
        return name if self.indexes else f"+{name}"

    # --- the request's frame ----------------------------------------------------------------

    def objecttypes(self, names: list[str]) -> list[str]:
        known = self.catalog.objecttype_ids
        for i, name in enumerate(names):
            if name not in known:
                raise SearchError(
                    ("search", "objecttypes", i),
                    f"unknown objecttype '{name}'" + suggest(name, known),
                )
        return list(dict.fromkeys(names))

    def readable(self, user_id: int) -> Sql:
        c = self.col
        return Sql(
            self.in_subquery(
                c("o.pool_id"),
                f"SELECT pool_id FROM {self.table('user_pool_rights')} WHERE {c('user_id')} = ?",
            )
            + " OR "
            + self.in_subquery(
                self.objecttype,
                f"SELECT objecttype_id FROM {self.table('user_objecttype_rights')}"
                f" WHERE {c('user_id')} = ?",
            ),
            (user_id, user_id),
        )

    def in_subquery(self, column: str, subquery: str) -> str:
        """`column` is one of the values of a (small) subquery's one column."""
        return f"{column} IN ({subquery})"

    def any_of(self, parts: list[Sql]) -> Sql:
        """At least one of the conditions holds."""
        return join(parts, " OR ")

    def since(self, since: Since) -> Sql:
        runs = self.value_list(sorted(since.exclude_runs))
        return self.object_in(
            "changelog",
            f"{self.col('time')} > ? AND (run_id IS NULL OR run_id NOT IN {runs.text})",
            (micros(since.instant), *runs.params),
        )

    def value_list(self, values: list[str]) -> Sql:
        """A subquery of the given strings, bound as one parameter."""
        return Sql("(SELECT value FROM json_each(?))", (json.dumps(values),))

    # --- elements -----------------------------------------------------------------------------

    def elements(self, elements: Sequence[Any], path: KeyPath) -> Sql:
        musts: list[Sql] = []
        shoulds: list[Sql] = []
        for i, element in enumerate(elements):
            part = self.element(element, (*path, i))
            if element.bool_ == "must_not":
                musts.append(Sql(f"NOT ({part.text})", part.params))
            else:
                (shoulds if element.bool_ == "should" else musts).append(part)
        if shoulds:
            musts.append(self.any_of(shoulds))
        return join(musts, " AND ") if musts else Sql(TRUE)

    def element(self, element: Any, path: KeyPath) -> Sql:
        if isinstance(element, InElement):
            return self.in_element(element, path)
        if isinstance(element, MatchElement):
            return self.match_element(element, path)
        if isinstance(element, RangeElement):
            return self.range_element(element, path)
        if isinstance(element, ChangelogRangeElement):
            return self.changelog_element(element, path)
        if isinstance(element, ComplexElement):
            return self.elements(element.search, (*path, "search"))
        raise SearchError(path, f"unsupported element {type(element).__name__}")

    # --- fields -------------------------------------------------------------------------------

    def resolve(self, name: str, path: KeyPath) -> Target:
        if name in _SYSTEM_KINDS:
            return Target(_SYSTEM_KINDS[name], SYSTEM_FIELDS[name], name)
        objecttype, _, rest = name.partition(".")
        ot_id = self.catalog.objecttype_ids.get(objecttype)
        if ot_id is not None and rest in _OBJECTTYPE_KINDS:
            return Target(_OBJECTTYPE_KINDS[rest], OBJECTTYPE_SYSTEM_FIELDS[rest], name, ot_id)
        info = self.catalog.fields.get(name)
        if info is None:
            raise SearchError(
                path, f"unknown field '{name}'" + suggest(name, self.model.field_names())
            )
        return Target("field", info.type, name, info.objecttype_id, info)

    # --- in -------------------------------------------------------------------------------------

    def in_element(self, element: InElement, path: KeyPath) -> Sql:
        targets = [self.resolve(f, (*path, "fields", i)) for i, f in enumerate(element.fields)]
        fitting: dict[int, list[Any]] = {i: [] for i in range(len(targets))}
        for j, value in enumerate(element.in_):
            if value is None:
                continue
            fits = [(i, self.in_value(t, value)) for i, t in enumerate(targets) if _fits(t, value)]
            if not fits:
                raise SearchError((*path, "in", j), _mismatch(value, targets))
            for i, converted in fits:
                if converted is not None:
                    fitting[i].append(converted)
        wants_null = None in element.in_
        parts = [self.in_target(t, fitting[i], wants_null) for i, t in enumerate(targets)]
        parts = [p for p in parts if p.text != FALSE]
        return self.any_of(parts) if parts else Sql(FALSE)

    def in_value(self, target: Target, value: Any) -> Any:
        if target.type == "date":
            return request_instant(value, self.zone, self.now)
        if target.type == "boolean":
            return int(value)
        if target.kind == "objecttype":
            return self.catalog.objecttype_ids.get(value)
        return value

    def in_target(self, target: Target, values: list[Any], wants_null: bool) -> Sql:
        parts = []
        if values:
            parts.append(self.in_values(target, tuple(dict.fromkeys(values))))
        if wants_null:
            parts.append(self.no_value(target))
        parts = [p for p in parts if p.text != FALSE]
        return self.any_of(parts) if parts else Sql(FALSE)

    def in_values(self, t: Target, values: tuple[Any, ...]) -> Sql:
        c, marks = self.col, _marks(values)
        columns = {"id": "o.id", "global_id": "o.global_id", "uuid": "o.uuid"}
        columns |= {"last_modified": "o.last_modified"}
        if t.kind in columns:
            return Sql(f"{c(columns[t.kind])} IN ({marks})", values)
        if t.kind == "objecttype":
            return Sql(f"{self.objecttype} IN ({marks})", values)
        if t.kind == "owner":
            return Sql(f"o.owner_id IS NOT NULL AND {c('o.owner_id')} IN ({marks})", values)
        if t.kind == "tags":
            return self.object_in("object_tags", f"{c('tag_id')} IN ({marks})", values)
        if t.kind == "changelog":
            return self.object_in("changelog", f"{c('time')} IN ({marks})", values)
        if t.kind in _OBJECTTYPE_COLUMNS:
            column = c(_OBJECTTYPE_COLUMNS[t.kind])
            return self.on_objecttype(t, Sql(f"{column} IN ({marks})", values))
        assert t.field is not None
        if t.field.indexed_value:
            return self.object_in(
                self.values_table(t.field),
                f"{c('field_id')} = ? AND {c('value')} IN ({marks})",
                (t.field.id, *values),
            )
        return self.json_values(t.field, values)

    def values_table(self, field: FieldInfo) -> str:
        """The table of a field's indexed values (`field_id`, `value`, `object_id`)."""
        return "field_values"

    def json_values(self, field: FieldInfo, values: tuple[Any, ...]) -> Sql:
        """Objects whose (not indexed) field holds one of `values` in their data JSON."""
        return Sql(
            f"{self.objecttype} = ? AND EXISTS (SELECT 1 FROM json_each({self.data}, ?) j"
            f" WHERE j.value IN ({_marks(values)}))",
            (field.objecttype_id, _json_path(field), *values),
        )

    def no_value(self, t: Target) -> Sql:
        if t.kind in ("id", "global_id", "uuid", "objecttype", "last_modified"):
            return Sql(FALSE)
        if t.kind == "owner":
            return Sql("o.owner_id IS NULL")
        if t.kind in ("tags", "changelog"):
            return self.object_not_in("object_tags" if t.kind == "tags" else "changelog")
        if t.kind in ("ot_id", "pool", "pool_path"):
            return Sql("o.objecttype_id <> ?", (t.objecttype_id,))
        assert t.field is not None
        if t.field.indexed_value:
            table = self.values_table(t.field)
            return self.object_not_in(table, Sql(f"{self.col('field_id')} = ?", (t.field.id,)))
        return self.json_no_value(t.field)

    def json_no_value(self, field: FieldInfo) -> Sql:
        """Objects without a value of a (not indexed) field in their data JSON."""
        return Sql(
            f"NOT (o.objecttype_id = ? AND EXISTS (SELECT 1 FROM json_each({self.data}, ?)))",
            (field.objecttype_id, _json_path(field)),
        )

    def object_in(self, table: str, condition: str, params: tuple[Any, ...]) -> Sql:
        """Objects with a row in `table` (by its `object_id`) that meets `condition`."""
        return Sql(
            f"{self.col('o.id')} IN (SELECT object_id FROM {self.table(table)} WHERE {condition})",
            params,
        )

    def object_not_in(self, table: str, condition: Sql | None = None) -> Sql:
        """Objects without a row in `table` (that meets `condition`)."""
        where = f" WHERE {condition.text}" if condition else ""
        return Sql(
            f"{self.col('o.id')} NOT IN (SELECT object_id FROM {self.table(table)}{where})",
            condition.params if condition else (),
        )

    # --- range ------------------------------------------------------------------------------

    def range_element(self, element: RangeElement, path: KeyPath) -> Sql:
        target = self.resolve(element.field, (*path, "field"))
        if target.type not in ("number", "date"):
            raise SearchError(
                (*path, "field"),
                f"field '{target.name}' is a {target.type} field; range needs a number or date"
                " field",
            )
        low = self.bound(target, element.from_, (*path, "from"), end=False)
        high = self.bound(target, element.to, (*path, "to"), end=True)
        return self.in_range(target, low, high)

    def bound(self, target: Target, value: Any, path: KeyPath, *, end: bool) -> Any:
        if value is None:
            return None
        if target.type == "number":
            if isinstance(value, str):
                raise SearchError(
                    path,
                    f"field '{target.name}' is a number field; the bound must be a number,"
                    f" found {value!r}",
                )
            return value
        if not isinstance(value, str):
            raise SearchError(
                path,
                f"field '{target.name}' is a date field; the bound must be a date, found {value!r}",
            )
        return request_instant(value, self.zone, self.now, end_of_day=end)

    def in_range(self, t: Target, low: Any, high: Any) -> Sql:
        def test(column: str) -> Sql:
            conditions, params = [], []
            for operator, bound in ((">=", low), ("<=", high)):
                if bound is not None:
                    conditions.append(f"{self.col(column)} {operator} ?")
                    params.append(bound)
            return Sql(" AND ".join(conditions), tuple(params))

        columns = {"id": "o.id", "last_modified": "o.last_modified"}
        if t.kind in columns:
            return test(columns[t.kind])
        if t.kind == "owner":  # no owner is no value, also under NOT: never NULL
            inner = test("o.owner_id")
            return Sql(f"o.owner_id IS NOT NULL AND {inner.text}", inner.params)
        if t.kind == "tags":
            inner = test("tag_id")
            return self.object_in("object_tags", inner.text, inner.params)
        if t.kind == "changelog":
            inner = test("time")
            return self.object_in("changelog", inner.text, inner.params)
        if t.kind in _OBJECTTYPE_COLUMNS:
            return self.on_objecttype(t, test(_OBJECTTYPE_COLUMNS[t.kind]))
        assert t.field is not None
        inner = test("value")
        return self.object_in(
            self.values_table(t.field),
            f"{self.col('field_id')} = ? AND {inner.text}",
            (t.field.id, *inner.params),
        )

    def on_objecttype(self, t: Target, inner: Sql) -> Sql:
        """A condition on `<ot>._id` or the pool, which only objects of `<ot>` have."""
        c = self.col
        condition = inner.text
        if t.kind == "pool_path":
            closure = self.table("pool_closure")
            below = f"SELECT descendant_id FROM {closure} WHERE {inner.text}"
            condition = self.in_subquery(c("o.pool_id"), below)
        # `<ot>._id` may use the (objecttype, _id) index; pools have an index of their own
        objecttype = c("o.objecttype_id") if t.kind == "ot_id" else self.objecttype
        return Sql(f"{objecttype} = ? AND {condition}", (t.objecttype_id, *inner.params))

    # --- changelog_range ------------------------------------------------------------------------

    def changelog_element(self, element: ChangelogRangeElement, path: KeyPath) -> Sql:
        target = Target("changelog", "date", "_changelog.date_created")
        conditions, params = [], []
        for key, value, operator, end in (
            ("from", element.from_, ">=", False),
            ("to", element.to, "<=", True),
        ):
            bound = self.bound(target, value, (*path, key), end=end)
            if bound is not None:
                conditions.append(f"{self.col('time')} {operator} ?")
                params.append(bound)
        if element.operation is not None:
            conditions.append(f"{self.col('operation')} = ?")
            params.append(element.operation)
        if element.user is not None:
            user = self.model.user_names.get(element.user)
            if user is None:
                raise SearchError(
                    (*path, "user"),
                    f"unknown user '{element.user}'" + suggest(element.user, self.model.user_names),
                )
            conditions.append(f"{self.col('user_id')} = ?")
            params.append(user.id)
        return self.object_in("changelog", " AND ".join(conditions) or TRUE, tuple(params))

    # --- match --------------------------------------------------------------------------------

    def match_element(self, element: MatchElement, path: KeyPath) -> Sql:
        fields = self.match_fields(element, path)
        words = patterns(element.string) if element.mode == "wildcard" else tokens(element.string)
        if not words:
            raise SearchError((*path, "string"), f"{element.string!r} holds no word to search for")
        if not fields:
            return Sql(FALSE)
        every = {f.id for f in self.catalog.fields.values() if f.searchable_text}
        restrict = None if {f.id for f in fields} == every else tuple(sorted(f.id for f in fields))
        groups = [words] if element.phrase else [[word] for word in words]
        parts = [self.text_query(element.mode, element.phrase, group, restrict) for group in groups]
        return join(parts, " AND ")

    def match_fields(self, element: MatchElement, path: KeyPath) -> list[FieldInfo]:
        if element.fields is None:
            return self.catalog.text_fields(self.in_play)
        found = []
        for i, name in enumerate(element.fields):
            target = self.resolve(name, (*path, "fields", i))
            if target.field is None:
                raise SearchError(
                    (*path, "fields", i),
                    f"'{name}' is a system field; match searches text and string fields (use 'in')",
                )
            if not target.field.searchable_text:
                raise SearchError(
                    (*path, "fields", i),
                    f"field '{name}' is a {target.type} field; match needs a text or string field",
                )
            found.append(target.field)
        return found

    def text_query(
        self, mode: str, phrase: bool, words: list[str], restrict: tuple[int, ...] | None
    ) -> Sql:
        if not self.indexes:
            condition = Sql(
                "runner_text_match(body, ?, ?, ?)", (mode, int(phrase), json.dumps(words))
            )
        else:
            condition = self.fts_condition(mode, phrase, words)
        if restrict is not None:
            assert max(restrict) <= MAX_FIELD_ID
            field = f"((rowid >> {INDEX_BITS}) & {MAX_FIELD_ID})"
            condition = Sql(
                f"{condition.text} AND {field} IN ({_marks(restrict)})", condition.params + restrict
            )
        return Sql(
            f"{self.col('o.id')} IN"
            f" (SELECT rowid >> {OBJECT_SHIFT} FROM text_fts WHERE {condition.text})",
            condition.params,
        )

    def fts_condition(self, mode: str, phrase: bool, words: list[str]) -> Sql:
        if mode != "wildcard":
            prefix = mode == "fulltext"
            query = (
                fts_phrase(words, prefix=prefix) if phrase else fts_term(words[0], prefix=prefix)
            )
            return Sql("text_fts MATCH ?", (query,))
        if not phrase:
            return Sql(
                f"text_fts MATCH {_pattern_sql(words[0]).text}", _pattern_sql(words[0]).params
            )
        # FTS5 phrases hold no alternatives: find values holding every pattern, then check
        # that they are adjacent and in order, value by value.
        pieces = [_pattern_sql(word) for word in words]
        query = " || ' AND ' || ".join(f"'(' || {p.text} || ')'" for p in pieces)
        params = tuple(v for p in pieces for v in p.params)
        check = "runner_text_match(body, 'wildcard', 1, ?)"
        return Sql(f"text_fts MATCH ({query}) AND {check}", (*params, json.dumps(words)))

    # --- sort ---------------------------------------------------------------------------------

    def order(self, items: list[SortItem]) -> Sql:
        keys = [self.sort_key(item, ("search", "sort", i, "field")) for i, item in enumerate(items)]
        keys.append(Sql("o.id"))
        return join_plain(keys)

    def sort_key(self, item: SortItem, path: KeyPath) -> Sql:
        t = self.resolve(item.field, path)
        pick = "min" if item.order == "ASC" else "max"
        key = self.sort_value(t, pick)
        return Sql(f"{key.text} {item.order} NULLS LAST", key.params)

    def sort_value(self, t: Target, pick: str) -> Sql:
        columns = {
            "id": "o.id",
            "global_id": "o.global_id",
            "uuid": "o.uuid",
            "owner": "o.owner_id",
        }
        columns["last_modified"] = "o.last_modified"
        if t.kind in columns:
            return Sql(columns[t.kind])
        if t.kind == "objecttype":
            return Sql("(SELECT name FROM objecttypes x WHERE x.id = o.objecttype_id)")
        if t.kind == "tags":
            return Sql(f"(SELECT {pick}(tag_id) FROM object_tags x WHERE x.object_id = o.id)")
        if t.kind == "changelog":
            return Sql(f"(SELECT {pick}(time) FROM changelog x WHERE x.object_id = o.id)")
        if t.kind in ("ot_id", "pool", "pool_path"):
            column = "o.ot_id" if t.kind == "ot_id" else "o.pool_id"
            return Sql(f"CASE WHEN o.objecttype_id = ? THEN {column} END", (t.objecttype_id,))
        assert t.field is not None
        if t.field.indexed_value:
            return Sql(
                f"(SELECT {pick}(value) FROM {self.values_table(t.field)} x"
                " WHERE x.object_id = o.id AND x.field_id = ?)",
                (t.field.id,),
            )
        return self.json_sort_value(t.field, pick)

    def json_sort_value(self, field: FieldInfo, pick: str) -> Sql:
        """The sort key of a (not indexed) field kept in the data JSON."""
        return Sql(
            f"CASE WHEN o.objecttype_id = ?"
            f" THEN (SELECT {pick}(j.value) FROM json_each({self.data}, ?) j) END",
            (field.objecttype_id, _json_path(field)),
        )


def join_plain(parts: Sequence[Sql]) -> Sql:
    return Sql(", ".join(p.text for p in parts), tuple(v for p in parts for v in p.params))


def _pattern_sql(pattern: str) -> Sql:
    """The FTS5 query for one wildcard pattern: a term, a prefix, or the matching terms."""
    if not has_wildcard(pattern):
        return Sql("?", (fts_term(pattern, prefix=False),))
    prefix = prefix_of(pattern)
    if prefix is not None:
        return Sql("?", (fts_term(prefix, prefix=True),))
    # Terms hold only letters and digits: quoting them cannot break the FTS5 query.
    return Sql(
        "(SELECT coalesce(group_concat('\"' || term || '\"', ' OR '), ?)"
        " FROM terms WHERE term GLOB ?)",
        (NO_TERM, pattern),
    )


def _json_path(field: FieldInfo) -> str:
    return f"$.{field.name}"


def _fits(target: Target, value: Any) -> bool:
    kind = target.type
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "date":
        return isinstance(value, str) and is_date_string(value)
    return isinstance(value, str)


def _mismatch(value: Any, targets: list[Target]) -> str:
    fields = ", ".join(f"'{t.name}' ({t.type})" for t in targets)
    return f"value {json.dumps(value)} fits none of the fields {fields}"
