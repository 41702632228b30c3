"""The contract every Store implementation passes: each method, against a real backend."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from store_support import (  # noqa: F401 (fixtures)
    NOW,
    document,
    empty_store_fixture,
    ids,
    image,
    lines,
    load,
    model_with,
    person,
    repo_model,
    request,
    store_fixture,
)

from runner.store.base import Since, Skipped, Store
from runner.store.errors import (
    DestructiveChange,
    InvalidChange,
    NotAllowed,
    SearchError,
    StoreNotInitialized,
    UnknownUser,
)

LATER = NOW + timedelta(hours=1)


# --- init -------------------------------------------------------------------------------------


def test_a_store_without_data_model_says_to_init(empty_store: Store) -> None:
    with pytest.raises(StoreNotInitialized, match="runner store init"):
        empty_store.search(request(), user="root", now=NOW)


def test_init_creates_then_reports_changes(empty_store: Store) -> None:
    first = empty_store.init(repo_model())
    assert first.created
    again = empty_store.init(repo_model())
    assert not again.created and again.changes == ()

    def add_rating(data: dict[str, Any]) -> None:
        data["objecttypes"][0]["fields"].append({"name": "rating", "type": "number"})

    changed = empty_store.init(model_with(add_rating))
    assert [str(c) for c in changed.changes] == ["added field images.rating (number)"]
    assert empty_store.model.objecttype_names["images"].field("rating") is not None


def test_init_keeps_data_through_harmless_changes(store: Store) -> None:
    load(store, image(1, title="Harbour"), document(2, title="Contract"))

    def harmless(data: dict[str, Any]) -> None:
        data["objecttypes"][1]["fields"] = [
            f for f in data["objecttypes"][1]["fields"] if f["name"] != "summary"
        ]
        data["pools"][0]["children"][2]["name"] = "persons"
        data["tag_groups"][1]["tags"].append({"_id": 24, "reference": "new", "name": "New"})
        data["users"].append({"_id": 6, "name": "intern"})

    report = store.init(model_with(harmless))
    assert {c.kind for c in report.changes} >= {"field", "pool", "tag", "user"}
    assert ids(store, search=[{"type": "match", "string": "harbour"}]) == [1]
    assert len(store.get([1, 2])) == 2


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (
            lambda d: d["objecttypes"].pop(1),
            "objecttype 'documents' is removed, but the store holds 1 object of it",
        ),
        (
            lambda d: d["objecttypes"][0]["fields"].pop(0),
            "field 'images.title' is removed, but it has values in 1 object",
        ),
        (
            lambda d: d["objecttypes"][0]["fields"].__setitem__(
                6, {"name": "width", "type": "text"}
            ),
            "field 'images.width' changes type from number to text",
        ),
        (
            lambda d: d["pools"][0]["children"][1]["children"].pop(0),
            "pool 'contracts' (_id 6) is removed, but it holds 1 object",
        ),
        (lambda d: d["tag_groups"][1]["tags"].pop(0), "tag 20 'favourite' is removed"),
        (
            lambda d: d["tag_groups"][1].__setitem__("type", "choice"),
            "tag group 'labels' would be a choice group (one tag per object), but more than one",
        ),
    ],
)
def test_init_refuses_destructive_changes(store: Store, edit: Any, reason: str) -> None:
    load(store, image(1, tags=(20, 21), title="Harbour", width=10), document(2, title="x"))
    with pytest.raises(DestructiveChange) as caught:
        store.init(model_with(edit))
    assert any(r.startswith(reason) for r in caught.value.reasons), caught.value.reasons
    assert "nothing was changed" in str(caught.value)
    assert store.model == repo_model()


def test_removing_an_unused_field_is_fine(store: Store) -> None:
    load(store, image(1, title="Harbour"))
    store.init(model_with(lambda d: d["objecttypes"][0]["fields"].pop(1)))  # description
    assert store.model.objecttype_names["images"].field("description") is None


# --- search, count, iter_ids, get -------------------------------------------------------------


def test_search_returns_count_and_records_sorted(store: Store) -> None:
    load(store, *(image(i, title=f"Boat {i}", width=100 - i) for i in range(1, 6)))
    result = store.search(
        request(sort=[{"field": "images.width", "order": "ASC"}]), user="root", now=NOW, limit=2
    )
    assert result.count == 5
    assert [r["_system_object_id"] for r in result.records] == [5, 4]
    record = result.records[0]
    assert record["_objecttype"] == "images"
    assert record["images"]["_pool"] == {"pool": {"_id": 3}}
    assert record["_global_object_id"] == "5@local"


def test_search_as_unknown_user_and_bad_field(store: Store) -> None:
    with pytest.raises(UnknownUser, match="'nobody'"):
        store.count(request(), user="nobody", now=NOW)
    bad = request(search=[{"type": "in", "fields": ["images.titel"], "in": ["x"]}])
    with pytest.raises(SearchError) as caught:
        store.search(bad, user="root", now=NOW)
    assert str(caught.value).startswith("search.search.0.fields.0: unknown field 'images.titel'")


def test_count_and_trash_visibility(store: Store) -> None:
    load(store, image(1), image(2), image(3))
    store.trash([2], user="root", now=NOW)
    assert store.count(request(), user="root", now=NOW) == 2
    assert store.count(request(include_deleted=True), user="root", now=NOW) == 3


def test_iter_ids_streams_batches_from_a_fixed_snapshot(store: Store) -> None:
    load(store, *(image(i, tags=(15,)) for i in range(1, 11)))
    tagged = request(search=[{"type": "in", "fields": ["_tags._id"], "in": [15]}])
    batches = store.iter_ids(tagged, user="root", now=NOW, batch_size=4)
    first = next(batches)
    assert first == [1, 2, 3, 4]
    # the run's own writes (untagging) must not move the remaining batches
    store.set_tags([*first, 5, 6], [], [15], user="root", now=NOW)
    assert list(batches) == [[5, 6, 7, 8], [9, 10]]
    resumed = store.iter_ids(tagged, user="root", now=NOW, batch_size=4, after_id=8)
    assert list(resumed) == [[9, 10]]


def test_since_selects_changes_made_by_others_after_an_instant(store: Store) -> None:
    load(store, image(1), image(2), image(3))
    store.set_tags([1], [20], [], user="root", now=LATER, run_id="own-run")
    store.set_tags([2], [20], [], user="editor", now=LATER, run_id="other-run")
    store.set_tags([3], [20], [], user="root", now=NOW - timedelta(days=1))
    since = Since(NOW, frozenset({"own-run"}))
    assert list(store.iter_ids(request(), user="root", now=LATER, since=since)) == [[2]]
    assert store.count(request(), user="root", now=LATER, since=since) == 1


def test_get_returns_records_by_id_leaving_out_unknown(store: Store) -> None:
    load(store, image(2), document(1))
    records = store.get([2, 1, 99])
    assert [r["_system_object_id"] for r in records] == [1, 2]
    assert store.get([]) == []


# --- rights -----------------------------------------------------------------------------------


def test_allowed_splits_ids_by_right(store: Store) -> None:
    load(store, image(1, pool=3), image(2, pool=6), image(3, pool=8))
    check = store.allowed([1, 2, 3, 4], "photographer", "write")
    assert (check.allowed, check.denied, check.missing) == ((1,), (2, 3), (4,))
    assert store.allowed([1, 2, 3], "photographer", "read").allowed == (1, 2, 3)
    assert store.allowed([1, 2, 3], "editor", "delete").allowed == (3,)


# --- tags -------------------------------------------------------------------------------------


def test_set_tags_keeps_one_tag_per_choice_group(store: Store) -> None:
    load(store, image(1, tags=(15, 20)), image(2, tags=(16,)), image(3, tags=(16, 21)))
    result = store.set_tags([1, 2, 3], [16], [21], user="root", now=LATER, run_id="r1")
    assert result.changed == (1, 3) and result.unchanged == (2,)
    tags = {r["_system_object_id"]: [t["_id"] for t in r["_tags"]] for r in store.get([1, 2, 3])}
    assert tags == {1: [16, 20], 2: [16], 3: [16]}


def test_set_tags_refuses_two_tags_of_one_choice_group(store: Store) -> None:
    load(store, image(1))
    with pytest.raises(InvalidChange, match="choice group 'workflow'"):
        store.set_tags([1], [15, 16], [], user="root", now=NOW)
    with pytest.raises(InvalidChange, match="no tag with _id 99"):
        store.set_tags([1], [99], [], user="root", now=NOW)


def test_set_tags_reports_denied_and_skipped(store: Store) -> None:
    load(store, image(1, pool=3), image(2, pool=6), person(3), image(4, pool=3))
    store.trash([4], user="root", now=NOW)
    result = store.set_tags([1, 2, 3, 4, 5], [20], [], user="editor", now=LATER)
    assert result.changed == (1,)
    assert result.denied == (2, 3)  # documents/ is read-only for editors, people/ not granted
    assert result.skipped == (Skipped(4, "trashed"), Skipped(5, "missing"))
    assert store.set_tags([3], [20], [], user="root", now=LATER).skipped == (Skipped(3, "no_tags"),)


def test_every_write_keeps_a_version_and_a_changelog_entry(store: Store) -> None:
    load(store, image(1, tags=(15,), title="Harbour"))
    store.set_tags([1], [16], [], user="editor", now=LATER, run_id="run-1", comment="review")
    record = store.get([1])[0]
    assert record["images"]["_version"] == 2
    assert record["_last_modified"] == "2026-03-04T13:00:00.000Z"
    assert record["images"]["title"] == "Harbour"  # nothing else changed
    entry = record["_changelog"][-1]
    assert entry == {
        "_version": 2,
        "comment": "review",
        "date_created": "2026-03-04T13:00:00.000Z",
        "operation": "update",
        "run": "run-1",
        "user": {"user": {"_id": 2}},
    }
    versions = store.versions(1)
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].record["_tags"] == [{"_id": 15}]
    assert versions[1].record["_tags"] == [{"_id": 16}]


def test_dry_run_computes_the_result_and_writes_nothing(store: Store) -> None:
    load(store, image(1, tags=(15,)))
    result = store.set_tags([1], [16], [], user="root", now=LATER, dry_run=True)
    assert result.changed == (1,)
    assert store.get([1])[0]["_tags"] == [{"_id": 15}]
    assert store.versions(1)[-1].version == 1


def test_writes_report_each_id_once_in_id_order(store: Store) -> None:
    # editors may delete in pool 8 (incoming), only read in pool 6 (documents)
    load(store, image(1, pool=8, tags=(20,)), image(2, pool=6), image(3, pool=8))
    load(store, image(4, pool=6), image(5, pool=8))
    store.trash([4, 5], user="root", now=NOW)
    result = store.set_tags([5, 3, 9, 1, 3, 4, 2, 1], [20], [], user="editor", now=LATER)
    assert (result.changed, result.unchanged, result.denied) == ((3,), (1,), (2, 4))
    assert result.skipped == (Skipped(5, "trashed"), Skipped(9, "missing"))
    dry = store.trash([3, 9, 2, 3, 1, 5], user="editor", now=LATER, dry_run=True)
    assert (dry.changed, dry.unchanged, dry.denied, dry.skipped) == (
        (1, 3),
        (5,),
        (2,),
        (Skipped(9, "missing"),),
    )
    assert store.versions(1)[-1].version == 1


# --- fields -----------------------------------------------------------------------------------


def test_update_fields_writes_a_new_version_and_reindexes(store: Store) -> None:
    load(store, image(1, title="Harbour", width=10), image(2, title="Boat"))
    result = store.update_fields(
        {1: {"title": "Lighthouse", "width": None}, 2: {"title": "Boat"}},
        user="root",
        now=LATER,
        run_id="meta-1",
    )
    assert (result.changed, result.unchanged) == ((1,), (2,))
    body = store.get([1])[0]["images"]
    assert body["title"] == "Lighthouse" and "width" not in body
    assert ids(store, search=[{"type": "match", "string": "lighthouse"}]) == [1]
    assert ids(store, search=[{"type": "match", "string": "harbour"}]) == []
    assert ids(store, search=[{"type": "in", "fields": ["images.width"], "in": [None]}]) == [1, 2]


def test_update_fields_refuses_unknown_fields_and_bad_values(store: Store) -> None:
    load(store, image(1))
    with pytest.raises(InvalidChange, match="object 1 \\(images\\) has no field 'titel'"):
        store.update_fields({1: {"titel": "x"}}, user="root", now=NOW)
    with pytest.raises(InvalidChange, match=r"images\.width: expected a number"):
        store.update_fields({1: {"width": "wide"}}, user="root", now=NOW)


# --- trash, restore, purge, revert ------------------------------------------------------------


def test_trash_and_restore_a_run(store: Store) -> None:
    load(store, image(1, pool=8), image(2, pool=8), image(3, pool=3))
    trashed = store.trash([1, 2, 3], user="editor", now=LATER, run_id="del-1")  # write on 3 only
    assert trashed.changed == (1, 2) and trashed.denied == (3,)
    record = store.get([1])[0]
    assert record["_latest_version_deleted_at"] == "2026-03-04T13:00:00.000Z"
    assert record["_changelog"][-1]["operation"] == "delete"
    assert store.trash([1], user="root", now=LATER).unchanged == (1,)
    restored = store.restore_run("del-1", user="root", now=LATER, run_id="undo-1")
    assert restored.changed == (1, 2)
    assert "_latest_version_deleted_at" not in store.get([1])[0]
    assert store.restore([1], user="root", now=LATER).unchanged == (1,)


def test_purge_needs_the_right_and_removes_everything(store: Store, tmp_path: Path) -> None:
    file = {"path": "images/1.jpg", "sha256": "a" * 64, "size": 3, "mime": "image/jpeg"}
    load(store, image(1, title="Harbour", file=file), image(2))
    asset = store.asset(1, "file")
    assert asset is not None and asset.size == 3 and asset.mime == "image/jpeg"
    asset.path.parent.mkdir(parents=True)
    asset.path.write_bytes(b"jpg")
    with pytest.raises(NotAllowed, match="'editor' may not purge objects"):
        store.purge([1], user="editor", now=LATER)
    assert store.purge([1, 3], user="archivist", now=LATER).skipped == (Skipped(3, "missing"),)
    assert store.get([1]) == [] and store.versions(1) == []
    assert ids(store, include_deleted=True, search=[{"type": "match", "string": "harbour"}]) == []
    assert store.asset(1, "file") is None and not asset.path.exists()


def test_changes_by_run_and_revert(store: Store) -> None:
    load(store, image(1, tags=(15,)), image(2, tags=(15,)), image(3, tags=(17,)))
    store.set_tags([1, 2], [16], [], user="root", now=LATER, run_id="tag-1")
    store.update_fields({2: {"title": "changed later"}}, user="root", now=LATER)
    changes = store.changes_by_run("tag-1")
    assert [(c.object_id, c.version_before, c.version_after) for c in changes] == [
        (1, 1, 2),
        (2, 1, 2),
    ]
    assert changes[0].previous is not None and changes[0].previous["_tags"] == [{"_id": 15}]
    result = store.revert(changes, user="root", now=LATER, run_id="undo-tag-1")
    assert result.changed == (1,) and result.skipped == (Skipped(2, "changed_since_run"),)
    assert store.get([1])[0]["_tags"] == [{"_id": 15}]
    assert store.get([1])[0]["images"]["_version"] == 3


def test_revert_of_a_trashing_run_restores(store: Store) -> None:
    load(store, image(1))
    store.trash([1], user="root", now=LATER, run_id="del-2")
    result = store.revert(store.changes_by_run("del-2"), user="root", now=LATER, run_id="u")
    assert result.changed == (1,)
    record = store.get([1])[0]
    assert "_latest_version_deleted_at" not in record
    assert record["_changelog"][-1]["operation"] == "restore"


# --- assets, import, export -------------------------------------------------------------------


def test_asset_of_a_file_field(store: Store) -> None:
    load(store, image(1, file={"path": "a/b.jpg", "sha256": "b" * 64}), image(2))
    asset = store.asset(1, "file")
    assert asset is not None and asset.path.parts[-2:] == ("a", "b.jpg")
    assert asset.sha256 == "b" * 64 and asset.size is None
    assert store.asset(2, "file") is None


def test_import_export_round_trips_byte_for_byte(store: Store) -> None:
    load(
        store,
        image(2, tags=(20, 15), title="Straße ünd Café", keywords=["b", "a"], shot_at="2020-01-01"),
        document(1, pages=3, issued_at="2021-05-01T10:00:00+02:00"),
        person(3, name="Anna", email="anna@example.org"),
    )
    store.trash([3], user="root", now=LATER, run_id="t")
    exported = list(store.export())
    assert [json.loads(line)["_system_object_id"] for line in exported] == [1, 2, 3]
    assert json.loads(exported[1])["_tags"] == [{"_id": 15}, {"_id": 20}]
    assert exported[0] == json.dumps(
        json.loads(exported[0]), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    again = store.import_records(exported, user="root", now=LATER)
    assert again.ok and again.imported == 3 and again.replaced == 3
    assert list(store.export()) == exported
    assert ids(store, include_deleted=True) == [1, 2, 3]
    assert store.restore_run("t", user="root", now=LATER).changed == (3,)


def test_a_bad_line_rejects_its_batch_with_the_line_number(store: Store) -> None:
    good = lines(*(image(i) for i in range(1, 6)))
    bad = json.dumps(image(6, width="wide"))
    report = store.import_records(
        [*good[:3], bad, good[3], "{not json", "", good[4]], user="root", now=NOW, batch_size=3
    )
    assert [str(p) for p in report.problems] == [
        'line 4: images.width: expected a number, found "wide"',
        "line 6: invalid JSON: key must be a string at line 1 column 2",
    ]
    assert (report.imported, report.rejected) == (4, 3)
    assert ids(store) == [1, 2, 3, 5]  # the batch of lines 4-6 is not stored, the others are


def test_close(empty_store: Store) -> None:
    empty_store.close()
