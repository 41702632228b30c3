"""Import: every problem of a line, with its line number and the key it concerns."""

from __future__ import annotations

import json
from typing import Any

import pytest
from store_support import (  # noqa: F401 (fixtures)
    NOW,
    empty_store_fixture,
    ids,
    image,
    load,
    person,
    store_fixture,
)

from runner.store.base import Store


def with_(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**record, **changes}


@pytest.mark.parametrize(
    ("line", "messages"),
    [
        ("[1, 2]", ["a record is a JSON object"]),
        (
            '{"_objecttype": "imagez", "_system_object_id": 1}',
            ["_objecttype: unknown objecttype 'imagez'; did you mean 'images'?"],
        ),
        ('{"_system_object_id": 1}', ["_objecttype: missing (one of: images, documents, people)"]),
        (
            json.dumps(image(1, titel="x")),
            ["images.titel: unknown field of objecttype 'images'; did you mean 'title'?"],
        ),
        (json.dumps(with_(image(1), _tagz=[])), ["_tagz: unknown key; did you mean '_tags'?"]),
        (
            json.dumps(image(1, keywords="sea")),
            ['images.keywords: field is multiple: expected a list of values, found "sea"'],
        ),
        (
            json.dumps(image(1, shot_at="yesterday")),
            ['images.shot_at: expected an ISO 8601 date or date-time, found "yesterday"'],
        ),
        (json.dumps(image(1, published=1)), ["images.published: expected true or false, found 1"]),
        (
            json.dumps(image(1, file={"path": "../x.jpg"})),
            [
                "images.file: a file value needs 'path', relative to the asset directory,"
                " without '..'"
            ],
        ),
        (json.dumps(image(1, pool=99)), ["images._pool.pool._id: no pool with _id 99"]),
        (
            json.dumps(image(1, tags=(15, 16, 99))),
            [
                "_tags: no tag with _id 99",
                "_tags: tags 15 and 16 are both in choice group 'workflow', which holds one tag"
                " at most",
            ],
        ),
        (
            json.dumps(with_(person(1), _tags=[{"_id": 20}])),
            ["_tags: objecttype 'people' has no tags"],
        ),
        (
            json.dumps(with_(image(1), _owner={"user": {"_id": 9}})),
            ["_owner.user._id: no user with _id 9"],
        ),
        (
            json.dumps(with_(image(1), _uuid="not-a-uuid")),
            [
                "_uuid: String should match pattern '^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?"
                "[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$'"
            ],
        ),
        (
            json.dumps(with_(image(1), _created="soon")),
            ["_created: 'soon' is not an ISO 8601 date-time"],
        ),
        (
            json.dumps({"_objecttype": "images", "_system_object_id": 0, "images": {"_id": 1}}),
            [
                "_system_object_id: Input should be greater than or equal to 1",
                "images._pool: missing",
            ],
        ),
    ],
)
def test_problems_of_a_line(store: Store, line: str, messages: list[str]) -> None:
    report = store.import_records([line], user="root", now=NOW)
    assert [p.message for p in report.problems] == messages
    assert all(p.line == 1 for p in report.problems)
    assert (report.imported, report.rejected) == (0, 1)


def test_identifiers_must_be_unique(store: Store) -> None:
    load(store, with_(image(1), _uuid="00000000-0000-4000-8000-000000000001"))
    batch = [
        with_(image(2), _uuid="00000000-0000-4000-8000-000000000001"),
        image(3),
        with_(image(3), images={"_id": 4, "_pool": {"pool": {"_id": 3}}}),
        with_(image(5), images={"_id": 1, "_pool": {"pool": {"_id": 3}}}),
    ]
    report = store.import_records([json.dumps(r) for r in batch], user="root", now=NOW)
    assert [str(p) for p in report.problems] == [
        "line 1: _uuid '00000000-0000-4000-8000-000000000001' is taken by object 1",
        "line 3: _system_object_id 3 is also on line 2",
        "line 4: images._id 1 is taken by object 1",
    ]
    assert ids(store) == [1]


def test_reimporting_replaces_and_is_idempotent(store: Store) -> None:
    load(store, image(1, title="first"), image(2))
    exported = list(store.export())
    load(store, image(1, title="second"))
    assert store.get([1])[0]["images"]["title"] == "second"
    report = store.import_records(exported, user="root", now=NOW)
    assert report.replaced == 2 and list(store.export()) == exported
    assert ids(store, search=[{"type": "match", "string": "second"}]) == []
