"""Rights with the repository's datamodel.yaml: each example user sees exactly what its grants
allow (sub-pools included), and may write and delete exactly where they say."""

from __future__ import annotations

import pytest
from store_support import (  # noqa: F401 (fixtures)
    NOW,
    empty_store_fixture,
    ids,
    load,
    repo_model,
    store_fixture,
)

from runner.store.base import Store

POOLS = {
    "archive": 1,
    "photos": 2,
    "press": 3,
    "events": 4,
    "documents": 5,
    "contracts": 6,
    "people": 7,
    "incoming": 8,
}
OBJECTTYPES = ("images", "documents", "people")
EVERYWHERE = set(POOLS)


def everything(pools: set[str]) -> set[tuple[str, str]]:
    return {(pool, ot) for pool in pools for ot in OBJECTTYPES}


# What datamodel.yaml's grants mean, written out by hand: (pool, objecttype) pairs.
READ = {
    "root": everything(EVERYWHERE),
    "editor": everything({"photos", "press", "events", "incoming", "documents", "contracts"}),
    "archivist": everything(EVERYWHERE),
    "photographer": everything({"press", "events"}) | {(pool, "images") for pool in POOLS},
    "guest": everything({"events"}),
}
WRITE = {
    "root": everything(EVERYWHERE),
    "editor": everything({"photos", "press", "events", "incoming"}),
    "archivist": everything(EVERYWHERE),
    "photographer": everything({"press"}),
    "guest": set(),
}
DELETE = {
    "root": everything(EVERYWHERE),
    "editor": everything({"incoming"}),
    "archivist": everything(EVERYWHERE),
    "photographer": set(),
    "guest": set(),
}
PLACES = sorted(everything(EVERYWHERE))
ID_OF = {place: i for i, place in enumerate(PLACES, start=1)}


def one_object_per_place(store: Store) -> None:
    records = []
    for (pool, objecttype), sid in ID_OF.items():
        body = {"_id": sid, "_pool": {"pool": {"_id": POOLS[pool]}}}
        records.append({"_objecttype": objecttype, "_system_object_id": sid, objecttype: body})
    load(store, *records)


def expected(places: set[tuple[str, str]]) -> list[int]:
    return sorted(ID_OF[place] for place in places)


def test_the_table_covers_every_user() -> None:
    assert set(READ) == set(repo_model().user_names)


@pytest.mark.parametrize("user", sorted(READ))
def test_each_user_reads_exactly_what_its_grants_allow(store: Store, user: str) -> None:
    one_object_per_place(store)
    assert ids(store, user) == expected(READ[user])
    check = store.allowed(list(ID_OF.values()), user, "read")
    assert list(check.allowed) == expected(READ[user])


@pytest.mark.parametrize("user", sorted(READ))
def test_each_user_writes_and_deletes_exactly_where_allowed(store: Store, user: str) -> None:
    one_object_per_place(store)
    every = list(ID_OF.values())
    assert list(store.allowed(every, user, "write").allowed) == expected(WRITE[user])
    assert list(store.allowed(every, user, "delete").allowed) == expected(DELETE[user])


def test_writes_follow_the_same_rights(store: Store) -> None:
    one_object_per_place(store)
    every = list(ID_OF.values())
    tagged = store.set_tags(every, [20], [], user="photographer", now=NOW)
    writable = expected(WRITE["photographer"])
    people = {ID_OF[p] for p in PLACES if p[1] == "people"}
    assert list(tagged.changed) == [i for i in writable if i not in people]
    assert sorted(tagged.denied) == sorted(set(every) - set(writable))
    trashed = store.trash(every, user="editor", now=NOW)
    assert list(trashed.changed) == expected(DELETE["editor"])
