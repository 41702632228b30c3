"""Shared by the store tests: the backends every contract test runs against, and record builders.

A new backend (PostgreSQL) is one more entry in BACKENDS: every test taking the `store`
fixture then runs against it too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from runner.spec.datamodel import DataModel
from runner.spec.files import load_datamodel_file
from runner.spec.search import SearchRequest
from runner.store.base import Store
from runner.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def open_sqlite(directory: Path) -> Store:
    return SqliteStore(directory / "store.db", directory / "assets")


BACKENDS: dict[str, Callable[[Path], Store]] = {"sqlite": open_sqlite}


@pytest.fixture(name="empty_store", params=sorted(BACKENDS))
def empty_store_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = BACKENDS[request.param](tmp_path)
    yield store
    store.close()


@pytest.fixture(name="store")
def store_fixture(empty_store: Store) -> Store:
    """A store holding the repository's datamodel.yaml and no objects."""
    empty_store.init(repo_model())
    return empty_store


@cache
def repo_model() -> DataModel:
    loaded = load_datamodel_file(ROOT / "datamodel.yaml")
    assert loaded.value is not None, loaded.diagnostics
    return loaded.value


def model_with(changes: Callable[[dict[str, Any]], None]) -> DataModel:
    """The repository's data model with an edit applied to its JSON form."""
    data = repo_model().model_dump(mode="json", by_alias=True)
    changes(data)
    return DataModel.model_validate(data)


def image(sid: int, pool: int = 3, tags: tuple[int, ...] = (), **fields: Any) -> dict[str, Any]:
    return _record("images", sid, pool, tags, fields)


def document(sid: int, pool: int = 6, tags: tuple[int, ...] = (), **fields: Any) -> dict[str, Any]:
    return _record("documents", sid, pool, tags, fields)


def person(sid: int, pool: int = 7, **fields: Any) -> dict[str, Any]:
    record = _record("people", sid, pool, (), fields)
    del record["_tags"]
    return record


def _record(
    objecttype: str, sid: int, pool: int, tags: tuple[int, ...], fields: dict[str, Any]
) -> dict[str, Any]:
    return {
        "_objecttype": objecttype,
        "_system_object_id": sid,
        "_tags": [{"_id": tag} for tag in tags],
        "_owner": {"user": {"_id": 2}},
        objecttype: {"_id": sid, "_pool": {"pool": {"_id": pool}}, **fields},
    }


def lines(*records: dict[str, Any]) -> list[str]:
    return [json.dumps(record) for record in records]


def load(store: Store, *records: dict[str, Any]) -> None:
    report = store.import_records(lines(*records), user="root", now=NOW)
    assert report.ok, report.problems


def request(**data: Any) -> SearchRequest:
    return SearchRequest.model_validate(data)


def ids(store: Store, user: str = "root", **data: Any) -> list[int]:
    result = store.search(request(**data), user=user, now=NOW, limit=100_000)
    found = [r["_system_object_id"] for r in result.records]
    assert result.count == len(found)
    return found
