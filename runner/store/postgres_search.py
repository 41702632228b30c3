"""The search compiler's PostgreSQL dialect: the hooks of `SearchCompiler` that differ.

The semantics are the compiler's (its docstring); only the SQL differs:

- An object's rows are tested by `EXISTS (... WHERE x.object_id = o.id AND ...)`, which the
  planner turns into a semi- or anti-join, or a hashed or per-object probe under OR and NOT,
  where `o.id IN (subquery)` would have to hold the subquery's whole result in memory.
  Several such tests joined by OR become one EXISTS over the UNION ALL of their rows, each
  part read by its own index. Small subqueries (a pool's sub-pools from the closure table,
  the pools a user may read) are arrays (`= ANY(ARRAY(...))`), which an index can take.
- Indexed values are in `field_numbers` (numbers, dates, booleans) and `field_strings`.
- Text fields are read from the `json` data: `->>` for one value, the array's elements for a
  multiple field (an empty list is no value, as in SQLite).
- Full-text: a `texts` row's `body` is a tsvector of the value's tokens (`runner.store.text`,
  so no stemming or folding) with their positions. A word is a lexeme (`token`), a prefix
  (`fulltext`, `'word':*`) or, for a wildcard pattern, the terms of the vocabulary that match
  it (`LIKE`, with a trigram index); a phrase joins them with `<->` (followed by). Values too
  long for a tsvector keep their tokens in `tokens`, tested one by one (`postgres_rows`).

Queries are written with `?` like SQLite's; `pg_query` makes them psycopg's `%s`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from runner.store.catalog import FieldInfo
from runner.store.compiler import SearchCompiler, Sql
from runner.store.postgres_rows import MAX_LEXEME_BYTES
from runner.store.text import has_wildcard, prefix_of

NUMERIC_TYPES = ("number", "date", "boolean")
EXPANSION = "(SELECT string_agg('''' || term || '''', ' | ') FROM terms WHERE term LIKE ?)"


def _marks(values: tuple[Any, ...]) -> str:
    return ", ".join("?" * len(values))


def pg_query(query: Sql) -> tuple[str, tuple[Any, ...]]:
    """The query with psycopg placeholders; floats bound as `numeric`, so that comparisons
    with `field_numbers.value` stay exact and use its index."""
    assert "%" not in query.text, query.text
    params = tuple(Decimal(repr(v)) if isinstance(v, float) else v for v in query.params)
    return query.text.replace("?", "%s"), params


def like_pattern(pattern: str) -> str:
    """A wildcard pattern as LIKE's: tokens hold only letters and digits, nothing to escape."""
    return pattern.replace("*", "%").replace("?", "_")


def lexeme(word: str, *, prefix: bool) -> str:
    """A tsquery operand; tokens hold only letters and digits, so quoting cannot break."""
    return f"'{word}'" + (":*" if prefix else "")


@dataclass(frozen=True)
class ObjectRows(Sql):
    """A condition that the object has rows in a table, with those rows' query (`rows`:
    `SELECT object_id ...`), so that several such conditions combine into one."""

    rows: Sql = field(default_factory=lambda: Sql(""))


class PostgresCompiler(SearchCompiler):
    objecttype = "o.objecttype_id"
    data = "o.data"

    def object_in(self, table: str, condition: str, params: tuple[Any, ...]) -> Sql:
        return ObjectRows(
            f"EXISTS (SELECT 1 FROM {table} x WHERE x.object_id = o.id AND {condition})",
            params,
            Sql(f"SELECT object_id FROM {table} WHERE {condition}", params),
        )

    def any_of(self, parts: list[Sql]) -> Sql:
        # EXISTS ... OR EXISTS ... is tested object by object; one EXISTS over the union of
        # the rows is a semi-join fed by each part's index.
        rows = [part for part in parts if isinstance(part, ObjectRows)]
        if len(rows) < 2:
            return super().any_of(parts)
        union = Sql(
            " UNION ALL ".join(part.rows.text for part in rows),
            tuple(v for part in rows for v in part.rows.params),
        )
        merged = ObjectRows(
            f"EXISTS (SELECT 1 FROM ({union.text}) u WHERE u.object_id = o.id)",
            union.params,
            union,
        )
        return super().any_of([merged, *(p for p in parts if not isinstance(p, ObjectRows))])

    def in_subquery(self, column: str, subquery: str) -> str:
        # an array the planner can take to an index (`IN (subquery)` becomes a join)
        return f"{column} = ANY(ARRAY({subquery}))"

    def object_not_in(self, table: str, condition: Sql | None = None) -> Sql:
        inner = self.object_in(table, condition.text if condition else "TRUE", ())
        return Sql(f"NOT {inner.text}", condition.params if condition else ())

    def value_list(self, values: list[str]) -> Sql:
        return Sql("(SELECT unnest(?::text[]))", (values,))

    def values_table(self, field: FieldInfo) -> str:
        return "field_numbers" if field.type in NUMERIC_TYPES else "field_strings"

    def json_values(self, field: FieldInfo, values: tuple[Any, ...]) -> Sql:
        marks = _marks(values)
        if field.multiple:
            test = (
                "EXISTS (SELECT 1 FROM json_array_elements_text(o.data -> ?) j (value)"
                f" WHERE j.value IN ({marks}))"
            )
        else:  # never NULL, also under NOT
            test = f"coalesce((o.data ->> ?) IN ({marks}), FALSE)"
        return Sql(f"o.objecttype_id = ? AND {test}", (field.objecttype_id, field.name, *values))

    def json_no_value(self, field: FieldInfo) -> Sql:
        if field.multiple:
            test = "coalesce(json_array_length(o.data -> ?), 0) > 0"
        else:
            test = "(o.data -> ?) IS NOT NULL"
        return Sql(f"NOT (o.objecttype_id = ? AND {test})", (field.objecttype_id, field.name))

    def json_sort_value(self, field: FieldInfo, pick: str) -> Sql:
        value = (
            f'(SELECT {pick}(j.value COLLATE "C")'
            " FROM json_array_elements_text(o.data -> ?) j (value))"
            if field.multiple
            else '(o.data ->> ?) COLLATE "C"'
        )
        return Sql(
            f"CASE WHEN o.objecttype_id = ? THEN {value} END", (field.objecttype_id, field.name)
        )

    # --- full-text ------------------------------------------------------------------------------

    def text_query(
        self, mode: str, phrase: bool, words: list[str], restrict: tuple[int, ...] | None
    ) -> Sql:
        fields = Sql(f" AND field_id IN ({_marks(restrict)})", restrict) if restrict else Sql("")
        if mode == "wildcard" and len(words) == 1 and set(words[0]) == {"*"}:
            return self.object_in("texts", f"TRUE{fields.text}", fields.params)  # any token
        query, exact = self.tsquery(mode, words), self.token_check(mode, words)
        return self.object_in(
            "texts",
            f"(body @@ {query.text} OR tokens IS NOT NULL AND {exact.text}){fields.text}",
            query.params + exact.params + fields.params,
        )

    def tsquery(self, mode: str, words: list[str]) -> Sql:
        """The words as a tsquery, adjacent and in order when there are several."""
        operands = [self.operand(mode, word) for word in words]
        if all(op.text == "?" for op in operands):
            return Sql("?::tsquery", (" <-> ".join(op.params[0] for op in operands),))
        text = " || ' <-> ' || ".join(f"'(' || {op.text} || ')'" for op in operands)
        return Sql(f"({text})::tsquery", tuple(v for op in operands for v in op.params))

    def operand(self, mode: str, word: str) -> Sql:
        """One word as tsquery text: a lexeme, a prefix, or the vocabulary's matching terms;
        NULL (the query then matches no tsvector) when none matches, or when the word is
        too long for a lexeme: then only values kept as `tokens` can hold it."""
        prefix = mode == "fulltext"
        if mode == "wildcard" and has_wildcard(word):
            start = prefix_of(word)
            if start is None:
                return Sql(EXPANSION, (like_pattern(word),))
            word, prefix = start, True
        if len(word.encode()) > MAX_LEXEME_BYTES:
            return Sql("NULL")
        return Sql("?", (lexeme(word, prefix=prefix),))

    def token_check(self, mode: str, words: list[str]) -> Sql:
        """The same test on a `tokens` array: any token, or adjacent ones for several words
        (the next tokens by `lead`: one pass, where subscripts would walk the array anew)."""
        if len(words) == 1:
            test = self.token_test(mode, words[0], "t")
            return Sql(f"EXISTS (SELECT 1 FROM unnest(tokens) t WHERE {test.text})", test.params)
        tests = [self.token_test(mode, w, f"t{k}") for k, w in enumerate(words)]
        following = "".join(f", lead(t0, {k}) OVER (ORDER BY n) t{k}" for k in range(1, len(words)))
        return Sql(
            f"EXISTS (SELECT 1 FROM (SELECT t0{following}"
            " FROM unnest(tokens) WITH ORDINALITY AS u (t0, n)) w WHERE "
            + " AND ".join(t.text for t in tests)
            + ")",
            tuple(v for t in tests for v in t.params),
        )

    def token_test(self, mode: str, word: str, token: str) -> Sql:
        if mode == "token":
            return Sql(f"{token} = ?", (word,))
        if mode == "fulltext":
            return Sql(f"starts_with({token}, ?)", (word,))
        return Sql(f"{token} LIKE ?", (like_pattern(word),))
