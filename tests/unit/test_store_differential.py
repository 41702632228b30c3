"""Differential: random records and random search requests; the SQL result of each backend
(SQLite also without indexes) equals the plain Python evaluation in store_reference.py, order
included."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_reference import evaluate
from store_support import BACKENDS

from runner.spec.datamodel import DataModel
from runner.spec.search import SearchRequest
from runner.store.base import Since, Store
from runner.store.sqlite import SqliteStore

MODEL = DataModel.model_validate(
    {
        "objecttypes": [
            {
                "name": "a",
                "fields": [
                    {"name": "t", "type": "text"},
                    {"name": "tm", "type": "text", "multiple": True},
                    {"name": "s", "type": "string"},
                    {"name": "sm", "type": "string", "multiple": True},
                    {"name": "n", "type": "number"},
                    {"name": "nm", "type": "number", "multiple": True},
                    {"name": "d", "type": "date"},
                    {"name": "dm", "type": "date", "multiple": True},
                    {"name": "b", "type": "boolean"},
                    {"name": "f", "type": "file"},
                ],
            },
            {
                "name": "b",
                "has_tags": False,
                "fields": [
                    {"name": "t", "type": "text"},
                    {"name": "s", "type": "string"},
                    {"name": "n", "type": "number"},
                    {"name": "d", "type": "date"},
                ],
            },
        ],
        "pools": [
            {
                "_id": 1,
                "name": "top",
                "children": [{"_id": 2, "name": "mid", "children": [{"_id": 3, "name": "low"}]}],
            },
            {"_id": 4, "name": "side"},
        ],
        "tag_groups": [
            {
                "name": "state",
                "type": "choice",
                "tags": [{"_id": i, "reference": f"s{i}", "name": f"S{i}"} for i in (1, 2, 3)],
            },
            {
                "name": "labels",
                "type": "checkbox",
                "tags": [{"_id": i, "reference": f"l{i}", "name": f"L{i}"} for i in (4, 5)],
            },
        ],
        "groups": [{"name": "readers"}],
        "users": [
            {"_id": 1, "name": "root", "system_rights": ["system.root"]},
            {"_id": 2, "name": "reader", "groups": ["readers"]},
            {"_id": 3, "name": "typed"},
            {"_id": 4, "name": "nobody"},
        ],
        "grants": [
            {"group": "readers", "rights": ["read"], "pool": "mid"},
            {"user": "typed", "rights": ["write"], "objecttype": "b"},
            {"user": "typed", "rights": ["read"], "pool": "side"},
        ],
    }
)
FIELDS = {name: MODEL.field_type(name) for name in MODEL.field_names()}
TEXT_FIELDS = [
    n for n, kind in FIELDS.items() if kind in ("text", "string") and not n.startswith("_")
]
RANGE_FIELDS = [n for n, kind in FIELDS.items() if kind in ("number", "date")]
USERS = ["root", "reader", "typed", "nobody"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York"]
BASE = datetime(2024, 3, 1, tzinfo=UTC)

WORDS = ["ab", "abc", "Ab", "ABC", "bab", "b", "éa", "Éa", "a1", "12", "x"]
PHRASES = ["ab abc", "Ab-bab", "éa Éa", "a1 12", "x", "abc", "ab_abc"]
SEPARATORS = [" ", "-", ", ", "_", "."]
PATHS = ["p/1.jpg", "p/2.jpg", "q.png"]

# --- values ---------------------------------------------------------------------------------

numbers = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, 1.0, 2.5]))
days = st.integers(-3, 3).map(lambda d: (BASE + timedelta(days=d)).date().isoformat())
times = st.sampled_from(["00:00:00", "01:00:00", "05:30:00", "12:00:00", "22:15:00", "23:59:59"])
offsets = st.sampled_from(["", "Z", "+02:00", "-05:00"])
stored_dates = st.one_of(days, st.builds(lambda d, t, o: f"{d}T{t}{o}", days, times, offsets))
relative = st.sampled_from(
    [
        "$now",
        "$now-1d",
        "$now+2h",
        "$startOfDay",
        "$startOfWeek+1d",
        "$startOfMonth",
        "$startOfDay-36h",
    ]
)
request_dates = st.one_of(stored_dates, relative)
joined = st.builds(
    lambda words, seps: "".join(w + s for w, s in zip(words, seps, strict=False)).strip(),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
    st.lists(st.sampled_from(SEPARATORS), min_size=4, max_size=4),
)
texts = st.one_of(st.sampled_from(PHRASES), joined)
strings = st.sampled_from(WORDS + PHRASES)


def field_value(kind: str, multiple: bool) -> st.SearchStrategy[Any]:
    single = {
        "text": texts,
        "string": strings,
        "number": numbers,
        "date": stored_dates,
        "boolean": st.booleans(),
        "file": st.sampled_from(PATHS).map(lambda p: {"path": p}),
    }[kind]
    return st.lists(single, max_size=3) if multiple else single


@st.composite
def records(draw: Any) -> list[dict[str, Any]]:
    count = draw(st.integers(0, 14))
    return [draw(record(sid)) for sid in range(1, count + 1)]


@st.composite
def record(draw: Any, sid: int) -> dict[str, Any]:
    objecttype = draw(st.sampled_from(MODEL.objecttypes))
    body: dict[str, Any] = {"_id": sid, "_pool": {"pool": {"_id": draw(st.integers(1, 4))}}}
    for f in objecttype.fields:
        if draw(st.booleans()):
            body[f.name] = draw(field_value(f.type, f.multiple))
    result: dict[str, Any] = {
        "_objecttype": objecttype.name,
        "_system_object_id": sid,
        "_last_modified": draw(stored_dates),
        "_changelog": draw(st.lists(changelog_entry(), max_size=3)),
        objecttype.name: body,
    }
    owner = draw(st.sampled_from([None, 1, 2, 3, 4]))
    if owner is not None:
        result["_owner"] = {"user": {"_id": owner}}
    if objecttype.has_tags:
        tags = draw(st.sampled_from([[], [1], [2], [3]])) + draw(
            st.sampled_from([[], [4], [5], [4, 5]])
        )
        result["_tags"] = [{"_id": t} for t in tags]
    if draw(st.integers(0, 6)) == 0:
        result["_latest_version_deleted_at"] = draw(stored_dates)
    return result


def changelog_entry() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "_version": st.just(1),
            "date_created": stored_dates,
            "operation": st.sampled_from(["insert", "update", "delete"]),
            "user": st.sampled_from([None, 1, 2]).map(lambda u: u and {"user": {"_id": u}}),
            "run": st.sampled_from([None, "r1", "r2"]),
        }
    )


# --- requests -------------------------------------------------------------------------------


def in_value(name: str) -> st.SearchStrategy[Any]:
    kind = FIELDS[name]
    special = {
        "_objecttype": st.sampled_from(["a", "b", "zz"]),
        "_global_object_id": st.integers(1, 15).map(lambda i: f"{i}@local"),
        "_tags._id": st.integers(1, 5),
        "_owner.user._id": st.integers(1, 4),
        "_system_object_id": st.integers(1, 15),
    }
    if name in special:
        return special[name]
    if name.endswith("pool._id"):
        return st.integers(1, 4)
    if name.endswith("._id"):
        return st.integers(1, 15)
    if name.endswith(".f"):
        return st.sampled_from(PATHS)
    if kind == "date":
        return request_dates
    return field_value(kind or "string", False)


@st.composite
def in_element(draw: Any) -> dict[str, Any]:
    fields = draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=2, unique=True))
    values = draw(
        st.lists(
            st.one_of(st.none(), st.sampled_from(fields).flatmap(in_value)), min_size=1, max_size=3
        )
    )
    return {"type": "in", "fields": fields, "in": values}


@st.composite
def match_element(draw: Any) -> dict[str, Any]:
    mode = draw(st.sampled_from(["fulltext", "token", "wildcard"]))
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
    if mode == "wildcard":
        words = [
            draw(st.sampled_from([w, f"{w}*", f"*{w}", f"{w[:1]}?{w[2:]}", f"?{w}*", "*"]))
            for w in words
        ]
    else:
        words = [draw(st.sampled_from([w, w[:1], w.upper()])) for w in words]
    element = {
        "type": draw(st.sampled_from(["match", "text"])),
        "string": " ".join(words),
        "mode": mode,
    }
    element["phrase"] = draw(st.booleans())
    if draw(st.booleans()):
        element["fields"] = draw(
            st.lists(st.sampled_from(TEXT_FIELDS), min_size=1, max_size=2, unique=True)
        )
    return element


@st.composite
def range_element(draw: Any) -> dict[str, Any]:
    name = draw(st.sampled_from(RANGE_FIELDS))
    bound = request_dates if FIELDS[name] == "date" else st.one_of(numbers, st.integers(0, 16))
    low, high = draw(st.one_of(st.none(), bound)), draw(st.one_of(st.none(), bound))
    element: dict[str, Any] = {"type": "range", "field": name}
    if low is None and high is None:
        low = draw(bound)
    element |= {k: v for k, v in (("from", low), ("to", high)) if v is not None}
    return element


@st.composite
def changelog_element(draw: Any) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "changelog_range"}
    for key, value in (
        ("from", st.one_of(st.none(), request_dates)),
        ("to", st.one_of(st.none(), request_dates)),
        ("operation", st.sampled_from([None, "insert", "update"])),
        ("user", st.sampled_from([None, "root", "reader"])),
    ):
        chosen = draw(value)
        if chosen is not None:
            element[key] = chosen
    return element


def elements(depth: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    kinds = [in_element(), match_element(), range_element(), changelog_element()]
    if depth > 0:
        kinds.append(elements(depth - 1).map(lambda search: {"type": "complex", "search": search}))
    with_bool = st.tuples(st.one_of(*kinds), st.sampled_from([None, "must", "should", "must_not"]))
    return st.lists(
        with_bool.map(lambda p: p[0] if p[1] is None else {**p[0], "bool": p[1]}), max_size=3
    )


@st.composite
def requests(draw: Any) -> SearchRequest:
    data: dict[str, Any] = {"search": draw(elements(2))}
    data["objecttypes"] = draw(st.sampled_from([[], ["a"], ["b"], ["a", "b"]]))
    data["include_deleted"] = draw(st.booleans())
    sort = st.fixed_dictionaries(
        {"field": st.sampled_from(sorted(FIELDS)), "order": st.sampled_from(["ASC", "DESC"])}
    )
    data["sort"] = draw(st.lists(sort, max_size=2))
    return SearchRequest.model_validate(data)


@st.composite
def queries(draw: Any) -> tuple[SearchRequest, str, str, datetime, Since | None]:
    since = draw(
        st.sampled_from([None, Since(BASE, frozenset({"r1"})), Since(BASE - timedelta(days=2))])
    )
    now = BASE + timedelta(hours=draw(st.integers(-30, 60)))
    return draw(requests()), draw(st.sampled_from(USERS)), draw(st.sampled_from(ZONES)), now, since


# --- the comparison -----------------------------------------------------------------------


@pytest.fixture(name="open_store", scope="session")
def open_store_fixture(request: pytest.FixtureRequest) -> Callable[[str, Path], Store]:
    """Opens a store of MODEL on a backend (session-scoped: hypothesis reruns the test)."""
    return lambda backend, directory: BACKENDS[backend](request, directory, MODEL)


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted(BACKENDS))
@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=records(), batch=st.lists(queries(), min_size=1, max_size=8))
def test_sql_search_equals_the_reference(
    backend: str,
    open_store: Callable[[str, Path], Store],
    data: list[dict[str, Any]],
    batch: list[Any],
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = open_store(backend, Path(directory))
        try:
            compare(store, data, batch)
        finally:
            store.close()


def compare(store: Store, data: list[dict[str, Any]], batch: list[Any]) -> None:
    report = store.import_records([json.dumps(r) for r in data], user="root", now=BASE)
    assert report.ok, report.problems
    stored = [json.loads(line) for line in store.export()]
    for request, user, zone, now, since in batch:
        expected = evaluate(MODEL, stored, request, user=user, now=now, timezone=zone, since=since)
        found = store.search(request, user=user, now=now, timezone=zone, limit=1000, since=since)
        got = [r["_system_object_id"] for r in found.records]
        asked = request.model_dump_json(by_alias=True, exclude_none=True)
        context = f"{asked} as {user} in {zone} at {now}"
        assert got == expected, context
        assert found.count == len(expected), context
        assert unindexed(store, request, user, zone, now, since) in (None, expected), context


def unindexed(
    store: Store, request: SearchRequest, user: str, zone: str, now: datetime, since: Since | None
) -> list[int] | None:
    """The same request compiled to use no index (the benchmark's baseline), on SQLite."""
    if not isinstance(store, SqliteStore):
        return None
    compiled = store.compile(request, user=user, now=now, timezone=zone, since=since, indexes=False)
    query = compiled.select_ids()
    return [row[0] for row in store.conn.execute(query.text, query.params)]
