"""Search semantics on the example data model, and errors that name the element's path."""

from __future__ import annotations

from typing import Any

import pytest
from store_support import (  # noqa: F401 (fixtures)
    NOW,
    document,
    empty_store_fixture,
    ids,
    image,
    load,
    person,
    request,
    store_fixture,
)

from runner.store.base import Store
from runner.store.errors import SearchError


@pytest.fixture
def sample(store: Store) -> Store:
    load(
        store,
        image(
            1,
            pool=3,
            tags=(15, 20),
            title="Harbour at night",
            keywords=["sea", "Boat"],
            width=640,
            shot_at="2024-05-01T23:30:00",
            published=True,
        ),
        image(
            2,
            pool=4,
            tags=(16,),
            title="Night harbours",
            keywords=["boat"],
            width=1024,
            shot_at="2024-05-02",
            published=False,
        ),
        image(3, pool=8, title="Market square", description="crowd at the harbour"),
        document(4, title="Contract 2024-05", doc_number="DOC-0042", pages=3),
        person(5, name="Anna Albers", email="anna.albers@example.org", born_at="1990-01-01"),
    )
    return store


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ([{"type": "match", "string": "harb"}], [1, 2, 3]),  # prefixes, all text fields
        ([{"type": "match", "string": "harbour", "mode": "token"}], [1, 3]),
        ([{"type": "match", "string": "HARBOUR night"}], [1, 2]),  # words may be in any order
        ([{"type": "match", "string": "harbour night", "phrase": True}], []),
        ([{"type": "match", "string": "night harb", "phrase": True}], [2]),
        ([{"type": "match", "string": "h?rbour*", "mode": "wildcard"}], [1, 2, 3]),
        ([{"type": "match", "string": "*bour", "mode": "wildcard"}], [1, 3]),
        ([{"type": "match", "string": "at n*", "mode": "wildcard", "phrase": True}], [1]),
        ([{"type": "text", "string": "harbour", "fields": ["images.title"]}], [1, 2]),
        (
            [{"type": "match", "string": "boat", "fields": ["images.keywords"], "mode": "token"}],
            [1, 2],
        ),
        ([{"type": "match", "string": "albers example"}], [5]),
        ([{"type": "match", "string": "0042"}], [4]),
        ([{"type": "in", "fields": ["images.keywords"], "in": ["boat"]}], [2]),  # case-sensitive
        ([{"type": "in", "fields": ["images.width"], "in": [640.0]}], [1]),
        ([{"type": "in", "fields": ["images.published"], "in": [False]}], [2]),
        ([{"type": "in", "fields": ["images.width"], "in": [None]}], [3, 4, 5]),
        ([{"type": "in", "fields": ["images.title"], "in": ["Market square"]}], [3]),
        ([{"type": "in", "fields": ["_tags._id"], "in": [None]}], [3, 4, 5]),
        ([{"type": "in", "fields": ["images._pool._path.pool._id"], "in": [2]}], [1, 2]),
        ([{"type": "in", "fields": ["images._pool.pool._id"], "in": [2]}], []),
        ([{"type": "in", "fields": ["_objecttype"], "in": ["documents", "people"]}], [4, 5]),
        (
            [
                {
                    "type": "in",
                    "fields": ["documents.doc_number", "images.width"],
                    "in": ["DOC-0042", 640],
                }
            ],
            [1, 4],
        ),
        ([{"type": "in", "fields": ["_tags._id"], "in": [20], "bool": "must_not"}], [2, 3, 4, 5]),
        ([{"type": "range", "field": "images.width", "from": 700}], [2]),
        ([{"type": "range", "field": "images.shot_at", "to": "2024-05-01"}], [1]),  # whole day
        (
            [
                {
                    "type": "range",
                    "field": "images.shot_at",
                    "from": "2024-05-02T00:00:00+02:00",
                    "to": "2024-05-02",
                }
            ],
            [1, 2],
        ),
        ([{"type": "range", "field": "_last_modified", "from": "$now-1h"}], [1, 2, 3, 4, 5]),
        ([{"type": "changelog_range", "operation": "update"}], []),
        (
            [{"type": "changelog_range", "operation": "insert", "user": "root", "to": "$now"}],
            [1, 2, 3, 4, 5],
        ),
        (
            [
                {
                    "type": "complex",
                    "bool": "should",
                    "search": [
                        {"type": "in", "fields": ["_tags._id"], "in": [15]},
                        {"type": "match", "string": "night"},
                    ],
                },
                {"type": "in", "fields": ["_objecttype"], "in": ["people"], "bool": "should"},
            ],
            [1, 5],
        ),
        ([{"type": "complex", "search": []}], [1, 2, 3, 4, 5]),
    ],
)
def test_semantics(sample: Store, search: list[dict[str, Any]], found: list[int]) -> None:
    assert ids(sample, search=search) == found


def test_a_date_without_offset_is_in_the_requests_timezone(sample: Store) -> None:
    wanted = request(
        search=[{"type": "range", "field": "images.shot_at", "from": "2024-05-02T00:00:00"}]
    )
    berlin = sample.search(wanted, user="root", now=NOW, timezone="Europe/Berlin")
    utc = sample.search(wanted, user="root", now=NOW)
    assert [r["_system_object_id"] for r in berlin.records] == [1, 2]  # 23:30 UTC is 01:30 there
    assert [r["_system_object_id"] for r in utc.records] == [2]


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ([{"field": "images.width", "order": "DESC"}], [2, 1, 3, 4, 5]),
        ([{"field": "images.keywords"}], [1, 2, 3, 4, 5]),  # "Boat" < "boat"; no value last
        (
            [
                {"field": "_objecttype", "order": "DESC"},
                {"field": "_system_object_id", "order": "DESC"},
            ],
            [5, 3, 2, 1, 4],
        ),
        ([{"field": "images.title"}], [1, 3, 2, 4, 5]),
    ],
)
def test_sort(sample: Store, sort: list[dict[str, str]], order: list[int]) -> None:
    assert ids(sample, sort=sort) == order


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {
                "search": [
                    {"type": "in", "fields": ["_uuid"], "in": ["x"]},
                    {"type": "match", "string": "a", "fields": ["images.titel"]},
                ]
            },
            "search.search.1.fields.0: unknown field 'images.titel'; did you mean 'images.title'?",
        ),
        (
            {"objecttypes": ["imagez"]},
            "search.objecttypes.0: unknown objecttype 'imagez'; did you mean 'images'?",
        ),
        (
            {"search": [{"type": "match", "string": "a", "fields": ["images.width"]}]},
            "search.search.0.fields.0: field 'images.width' is a number field; match needs a"
            " text or string field",
        ),
        (
            {"search": [{"type": "match", "string": "a", "fields": ["_uuid"]}]},
            "search.search.0.fields.0: '_uuid' is a system field; match searches text and"
            " string fields (use 'in')",
        ),
        (
            {
                "search": [
                    {
                        "type": "complex",
                        "search": [{"type": "range", "field": "images.title", "from": 1}],
                    }
                ]
            },
            "search.search.0.search.0.field: field 'images.title' is a text field; range needs"
            " a number or date field",
        ),
        (
            {"search": [{"type": "range", "field": "images.shot_at", "from": 3}]},
            "search.search.0.from: field 'images.shot_at' is a date field; the bound must be a"
            " date, found 3",
        ),
        (
            {"search": [{"type": "in", "fields": ["images.width"], "in": [1, "wide"]}]},
            "search.search.0.in.1: value \"wide\" fits none of the fields 'images.width' (number)",
        ),
        (
            {"search": [{"type": "changelog_range", "user": "editr"}]},
            "search.search.0.user: unknown user 'editr'; did you mean 'editor'?",
        ),
        (
            {"search": [{"type": "match", "string": "--"}]},
            "search.search.0.string: '--' holds no word to search for",
        ),
        ({"sort": [{"field": "images.size"}]}, "search.sort.0.field: unknown field 'images.size'"),
    ],
)
def test_errors_name_the_elements_path(store: Store, data: dict[str, Any], message: str) -> None:
    with pytest.raises(SearchError) as caught:
        store.search(request(**data), user="root", now=NOW)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("element", "found"),
    [
        ({"type": "range", "field": "_owner.user._id", "to": 5, "bool": "must_not"}, [1]),
        ({"type": "in", "fields": ["_owner.user._id"], "in": [2], "bool": "must_not"}, [1]),
        ({"type": "range", "field": "images.width", "from": 0, "bool": "must_not"}, [1, 2]),
        ({"type": "in", "fields": ["_owner.user._id"], "in": [None]}, [1]),
    ],
)
def test_must_not_matches_objects_without_a_value(
    store: Store, element: dict[str, Any], found: list[int]
) -> None:
    orphan = image(1)
    del orphan["_owner"]
    load(store, orphan, image(2))
    assert ids(store, search=[element]) == found
