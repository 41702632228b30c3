"""Shared by the store tests: the backends every contract test runs against, and record builders.

Each backend in BACKENDS opens a store, given the test's request, a directory for its files and
the data model it should hold (None: none yet); every test taking the `store` or `empty_store`
fixture runs against each. SQLite makes a new file in the directory. PostgreSQL reuses one
database of the session's server (started only when a PostgreSQL test runs): migrated once,
then emptied by DELETE for each test (a new database or TRUNCATE takes a second on a busy
machine), keeping the data-model tables when they already hold the model asked for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
import pytest
from psycopg.conninfo import conninfo_to_dict

from runner.spec.datamodel import DataModel
from runner.spec.files import load_datamodel_file
from runner.spec.search import SearchRequest
from runner.store.base import Store
from runner.store.postgres import PostgresStore
from runner.store.postgres_schema import V1, load_catalog, migrate
from runner.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
OpenStore = Callable[[pytest.FixtureRequest, Path, DataModel | None], Store]
# children before parents (the order of creation, reversed), so that DELETE meets no reference
STORE_TABLES = re.findall(r"CREATE TABLE (\w+)", V1)[::-1]
MODEL_TABLES = STORE_TABLES[STORE_TABLES.index("objects") + 1 :]


def open_sqlite(request: pytest.FixtureRequest, directory: Path, model: DataModel | None) -> Store:
    store = SqliteStore(directory / "store.db", directory / "assets")
    if model is not None:
        store.init(model)
    return store


def open_postgres(
    request: pytest.FixtureRequest, directory: Path, model: DataModel | None
) -> Store:
    dsn: str = request.getfixturevalue("pg_store_dsn")
    empty_postgres_store(dsn, model)
    store = PostgresStore(dsn, directory / "assets")
    if model is not None:
        store.init(model)
    return store


def empty_postgres_store(dsn: str, keep: DataModel | None) -> None:
    """Delete every row of the store, except the data model's when it is `keep`."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        migrate(conn)
        catalog = load_catalog(conn)
        kept = catalog is not None and catalog.model == keep
        tables = [t for t in STORE_TABLES if not (kept and t in MODEL_TABLES)]
        conn.execute(";".join(f"DELETE FROM {table}" for table in tables))


BACKENDS: dict[str, OpenStore] = {"sqlite": open_sqlite, "postgres": open_postgres}


@pytest.fixture(scope="session")
def pg_store_dsn(pg_server: Any) -> Iterator[str]:
    """The database the PostgreSQL store tests share (see the module's docstring)."""
    dsn = pg_server.create_database("store")
    name = psycopg.sql.Identifier(conninfo_to_dict(dsn)["dbname"])
    with psycopg.connect(dsn, autocommit=True) as conn:  # tests need no durability
        conn.execute(psycopg.sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(name))
    yield dsn
    pg_server.drop_database(dsn)


@pytest.fixture(name="empty_store", params=sorted(BACKENDS))
def empty_store_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store without data model."""
    store = BACKENDS[request.param](request, tmp_path, None)
    yield store
    store.close()


@pytest.fixture(name="store", params=sorted(BACKENDS))
def store_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store holding the repository's datamodel.yaml and no objects."""
    store = BACKENDS[request.param](request, tmp_path, repo_model())
    yield store
    store.close()


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
