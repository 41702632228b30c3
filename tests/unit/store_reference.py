"""A plain in-Python evaluation of search requests over record dicts: the oracle for the store.

Written from DESIGN section 5 and the decisions in `runner.store.compiler`'s docstring, without
SQL, indexes or the store's own helpers. It shares only `resolve_relative` (relative dates,
tested on their own in test_store_dates.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from runner.spec.datamodel import DataModel
from runner.spec.search import (
    ChangelogRangeElement,
    ComplexElement,
    InElement,
    MatchElement,
    RangeElement,
    SearchRequest,
)
from runner.store.base import Since
from runner.store.dates import resolve_relative

WORD = re.compile(r"[^\W_]+")
PATTERN_WORD = re.compile(r"(?:[^\W_]|[*?])+")
Record = dict[str, Any]


def evaluate(
    model: DataModel,
    records: Iterable[Record],
    request: SearchRequest,
    *,
    user: str,
    now: datetime,
    timezone: str = "UTC",
    since: Since | None = None,
) -> list[int]:
    """The ids the request finds for the user, in the request's order."""
    ctx = _Context(model, request, user, now, ZoneInfo(timezone))
    found = [
        r for r in records if ctx.visible(r) and _since(r, since) and ctx.all_of(r, request.search)
    ]
    return [r["_system_object_id"] for r in ctx.ordered(found)]


def readable(model: DataModel, user: str) -> tuple[bool, set[int], set[str]]:
    """Root, and the pools (sub-pools included) and objecttypes a user's grants cover."""
    if "system.root" in model.system_rights(user):
        return True, set(), set()
    groups = set(model.user_names[user].groups)
    grants = [g for g in model.grants if g.user == user or g.group in groups]
    pools: set[int] = set()
    for grant in grants:
        if grant.pool is not None:
            pools |= _below(model, grant.pool)
    return False, pools, {g.objecttype for g in grants if g.objecttype is not None}


def _below(model: DataModel, name: str) -> set[int]:
    found: set[int] = set()
    for pool, parent, _ in model.pool_entries():
        if pool.name == name or (parent is not None and parent.id in found):
            found.add(pool.id)
    return found


def _ancestors(model: DataModel, pool_id: int) -> list[int]:
    parents = {p.id: (q.id if q else None) for p, q, _ in model.pool_entries()}
    chain: list[int] = []
    current: int | None = pool_id
    while current is not None:
        chain.append(current)
        current = parents[current]
    return chain


def _since(record: Record, since: Since | None) -> bool:
    if since is None:
        return True
    limit = since.instant
    return any(
        _stored(entry["date_created"]) > limit and entry["run"] not in since.exclude_runs
        for entry in record.get("_changelog", [])
    )


def _stored(value: str) -> datetime:
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Context:
    def __init__(
        self, model: DataModel, request: SearchRequest, user: str, now: datetime, zone: ZoneInfo
    ) -> None:
        self.model = model
        self.request = request
        self.now = now
        self.zone = zone
        self.root, self.pools, self.objecttypes = readable(model, user)
        self.in_play = request.objecttypes or [ot.name for ot in model.objecttypes]

    def visible(self, record: Record) -> bool:
        ot = record["_objecttype"]
        if "_latest_version_deleted_at" in record and not self.request.include_deleted:
            return False
        if self.request.objecttypes and ot not in self.request.objecttypes:
            return False
        pool = record[ot]["_pool"]["pool"]["_id"]
        return self.root or pool in self.pools or ot in self.objecttypes

    def all_of(self, record: Record, elements: list[Any]) -> bool:
        musts = [e for e in elements if e.bool_ == "must"]
        shoulds = [e for e in elements if e.bool_ == "should"]
        nots = [e for e in elements if e.bool_ == "must_not"]
        return (
            all(self.holds(record, e) for e in musts)
            and not any(self.holds(record, e) for e in nots)
            and (not shoulds or any(self.holds(record, e) for e in shoulds))
        )

    def holds(self, record: Record, element: Any) -> bool:
        if isinstance(element, ComplexElement):
            return self.all_of(record, element.search)
        if isinstance(element, InElement):
            return any(self.field_in(record, name, element.in_) for name in element.fields)
        if isinstance(element, RangeElement):
            return self.in_range(record, element)
        if isinstance(element, MatchElement):
            return self.matches(record, element)
        assert isinstance(element, ChangelogRangeElement)
        return self.changelog(record, element)

    # --- values -------------------------------------------------------------------------------

    def field_type(self, name: str) -> str:
        kind = self.model.field_type(name)
        assert kind is not None, name
        return kind

    def values(self, record: Record, name: str) -> list[Any]:
        """The record's values of a field, as comparable Python values."""
        ot = record["_objecttype"]
        body = record[ot]
        system = {
            "_system_object_id": [record["_system_object_id"]],
            "_global_object_id": [record["_global_object_id"]],
            "_uuid": [record["_uuid"]],
            "_objecttype": [ot],
            "_tags._id": [t["_id"] for t in record.get("_tags", [])],
            "_owner.user._id": [record["_owner"]["user"]["_id"]] if "_owner" in record else [],
            "_last_modified": [_stored(record["_last_modified"])],
            "_changelog.date_created": [
                _stored(e["date_created"]) for e in record.get("_changelog", [])
            ],
        }
        if name in system:
            return system[name]
        owner, _, field = name.partition(".")
        if owner != ot:
            return []
        if field == "_id":
            return [body["_id"]]
        if field == "_pool.pool._id":
            return [body["_pool"]["pool"]["_id"]]
        if field == "_pool._path.pool._id":
            return _ancestors(self.model, body["_pool"]["pool"]["_id"])
        if field not in body:
            return []
        raw = body[field] if isinstance(body[field], list) else [body[field]]
        kind = self.field_type(name)
        if kind == "date":
            return [_stored(v) for v in raw]
        if kind == "file":
            return [v["path"] for v in raw]
        return list(raw)

    def request_date(self, value: str, *, end: bool = False) -> datetime:
        if value.startswith("$"):
            return resolve_relative(value, self.now, self.zone)
        if len(value) == 10:
            day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            start = (
                datetime.combine(day, datetime.min.time()).replace(tzinfo=self.zone).astimezone(UTC)
            )
            return start - timedelta(microseconds=1) if end else start
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=self.zone).astimezone(UTC)

    # --- elements -----------------------------------------------------------------------------

    def field_in(self, record: Record, name: str, wanted: list[Any]) -> bool:
        kind = self.field_type(name)
        have = self.values(record, name)
        if None in wanted and not have:
            return True
        for value in wanted:
            if value is None or not _fits(kind, value):
                continue
            target = self.request_date(value) if kind == "date" else value
            if any(_same(kind, v, target) for v in have):
                return True
        return False

    def in_range(self, record: Record, element: RangeElement) -> bool:
        kind = self.field_type(element.field)
        low, high = element.from_, element.to
        if kind == "date":
            low = None if low is None else self.request_date(low)
            high = None if high is None else self.request_date(high, end=True)
        return any(
            (low is None or v >= low) and (high is None or v <= high)
            for v in self.values(record, element.field)
        )

    def changelog(self, record: Record, element: ChangelogRangeElement) -> bool:
        low = None if element.from_ is None else self.request_date(element.from_)
        high = None if element.to is None else self.request_date(element.to, end=True)
        user = self.model.user_names[element.user].id if element.user else None
        for entry in record.get("_changelog", []):
            when = _stored(entry["date_created"])
            who = entry["user"]["user"]["_id"] if entry["user"] else None
            if (
                (low is None or when >= low)
                and (high is None or when <= high)
                and (element.operation is None or entry["operation"] == element.operation)
                and (user is None or who == user)
            ):
                return True
        return False

    def matches(self, record: Record, element: MatchElement) -> bool:
        names = element.fields or [
            f"{ot.name}.{f.name}"
            for ot in self.model.objecttypes
            if ot.name in self.in_play
            for f in ot.fields
            if f.type in ("text", "string")
        ]
        texts = [v for name in names for v in self.values(record, name)]
        splitter = PATTERN_WORD if element.mode == "wildcard" else WORD
        words = [w.lower() for w in splitter.findall(element.string)]
        test = {"fulltext": str.startswith, "token": str.__eq__}.get(element.mode, _wildcard)
        if element.phrase:
            return any(_phrase(text, words, test) for text in texts)
        return all(
            any(test(token, word) for text in texts for token in _tokens(text)) for word in words
        )

    # --- order --------------------------------------------------------------------------------

    def ordered(self, records: list[Record]) -> list[Record]:
        result = sorted(records, key=lambda r: r["_system_object_id"])
        for item in reversed(self.request.sort):
            pick = min if item.order == "ASC" else max
            keyed = [(self.sort_value(r, item.field, pick), r) for r in result]
            present = [pair for pair in keyed if pair[0] is not None]
            absent = [r for value, r in keyed if value is None]
            present.sort(key=lambda pair: pair[0], reverse=item.order == "DESC")
            result = [r for _, r in present] + absent
        return result

    def sort_value(self, record: Record, name: str, pick: Any) -> Any:
        values = self.values(record, name)
        if name == "_pool._path.pool._id" or name.endswith("._pool._path.pool._id"):
            values = values[:1]  # the object's own pool
        return pick(values) if values else None


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in WORD.findall(text)]


def _wildcard(token: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, token, re.DOTALL) is not None


def _phrase(text: str, words: list[str], test: Any) -> bool:
    tokens = _tokens(text)
    return any(
        all(test(tokens[i + k], word) for k, word in enumerate(words))
        for i in range(len(tokens) - len(words) + 1)
    )


def _fits(kind: str, value: Any) -> bool:
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "date":
        return isinstance(value, str) and _is_date(value)
    return isinstance(value, str)


def _is_date(value: str) -> bool:
    if value.startswith("$"):
        return True
    try:
        _stored(value)
    except ValueError:
        return False
    return True


def _same(kind: str, have: Any, wanted: Any) -> bool:
    if kind == "boolean":
        return isinstance(have, bool) and have is wanted
    if isinstance(have, bool):
        return False
    return bool(have == wanted)
