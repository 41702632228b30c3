"""What only the PostgreSQL backend has: schema versions, fencing, concurrent writers, the
limits of a tsvector, query plans, and DSNs in messages (the contract suite covers the rest)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from store_support import NOW, ids, image, lines, load, repo_model, request

from runner.pg import LeaseLost, SchemaOutdated
from runner.runs.ids import new_run_id
from runner.state.base import Lease, RunRecord
from runner.state.postgres import PostgresState
from runner.state.postgres import migrate as migrate_state
from runner.store.errors import StoreError
from runner.store.postgres import PostgresStore, masked
from runner.store.postgres_search import pg_query
from runner.store.sqlite import SqliteStore

LATER = NOW + timedelta(hours=1)


@pytest.fixture
def pg_store(pg_dsn: str, tmp_path: Path) -> Iterator[PostgresStore]:
    """A store of its own database, initialised with the repository's data model."""
    store = PostgresStore(pg_dsn, tmp_path / "assets", upgrade=True)
    store.init(repo_model())
    yield store
    store.close()


# --- schema versions --------------------------------------------------------------------------


def test_an_empty_database_is_refused_until_init(pg_dsn: str, tmp_path: Path) -> None:
    with pytest.raises(SchemaOutdated, match=r"version 0, this runner needs 1: run `runner store"):
        PostgresStore(pg_dsn, tmp_path)
    store = PostgresStore(pg_dsn, tmp_path, upgrade=True)
    assert store.init(repo_model()).created
    store.close()
    with psycopg.connect(pg_dsn) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version")]
    assert versions == [1]
    reopened = PostgresStore(pg_dsn, tmp_path)
    assert reopened.model == repo_model() and reopened.count(request(), user="root", now=NOW) == 0
    reopened.close()


def test_a_newer_schema_is_refused(pg_store: PostgresStore, pg_dsn: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (99)")
    for upgrade in (False, True):
        with pytest.raises(SchemaOutdated, match="version 99, newer than this runner knows"):
            PostgresStore(pg_dsn, tmp_path, upgrade=upgrade)


def test_init_says_when_the_role_may_not_create_pg_trgm(pg_dsn: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS runner_limited")
        conn.execute("CREATE ROLE runner_limited LOGIN")
        conn.execute("GRANT CREATE ON SCHEMA public TO runner_limited")
        limited = psycopg.conninfo.make_conninfo(pg_dsn, user="runner_limited")
        try:
            with (
                PostgresStore(limited, tmp_path, upgrade=True) as store,
                pytest.raises(StoreError, match="run `CREATE EXTENSION pg_trgm`"),
            ):
                store.init(repo_model())
        finally:
            conn.execute("DROP OWNED BY runner_limited")
            conn.execute("DROP ROLE runner_limited")


def test_init_with_the_same_model_writes_nothing(pg_store: PostgresStore) -> None:
    again = pg_store.init(repo_model())
    assert not again.created and again.changes == ()


# --- fencing ------------------------------------------------------------------------------------


def claimed_run(state: PostgresState, lease: timedelta) -> str:
    """A running run in the state, its lease `lease` long from the database's clock."""
    started = datetime.now(UTC)
    run = RunRecord(
        run_id=new_run_id(started),
        task_id="review/tag",
        trigger="manual",
        started=started,
        spec_hash="a" * 64,
        run_as="editor",
        dry_run=False,
        log_path="/logs/review/tag/run.jsonl",
        lease=Lease("host-a:1:1", "host-a", 1, started + lease),
    )
    claim = state.claim_run(run, now=started, exclusive=False)
    assert claim.run is not None
    return claim.run.run_id


@pytest.fixture
def state(pg_store: PostgresStore, pg_dsn: str) -> Iterator[PostgresState]:
    migrate_state(pg_dsn)
    opened = PostgresState(pg_dsn)
    yield opened
    opened.close()


def test_writes_of_a_run_holding_its_lease_commit(
    pg_store: PostgresStore, state: PostgresState
) -> None:
    load(pg_store, image(1))
    run_id = claimed_run(state, timedelta(minutes=5))
    assert pg_store.set_tags([1], [20], [], user="root", now=LATER, run_id=run_id).changed == (1,)
    assert pg_store.get([1])[0]["_changelog"][-1]["run"] == run_id


@pytest.mark.parametrize("how", ["expired", "finished"])
def test_writes_of_a_run_that_lost_its_lease_are_rejected(
    pg_store: PostgresStore, state: PostgresState, how: str
) -> None:
    load(pg_store, image(1), image(2))
    run_id = claimed_run(state, timedelta(seconds=-1 if how == "expired" else 300))
    if how == "finished":
        state.close_expired(run_id, now=datetime.now(UTC), dead=True)
    with pytest.raises(LeaseLost, match=f"run {run_id} no longer holds its lease"):
        pg_store.set_tags([1], [20], [], user="root", now=LATER, run_id=run_id)
    with pytest.raises(LeaseLost):
        pg_store.trash([1, 2], user="root", now=LATER, run_id=run_id)
    with pytest.raises(LeaseLost):
        pg_store.import_records(lines(image(3)), user="root", now=LATER, run_id=run_id)
    assert [r["images"]["_version"] for r in pg_store.get([1, 2, 3])] == [1, 1]


def test_writes_without_a_run_or_of_unknown_runs_are_not_fenced(
    pg_store: PostgresStore, state: PostgresState
) -> None:
    load(pg_store, image(1))
    assert pg_store.set_tags([1], [20], [], user="root", now=LATER).changed == (1,)
    result = pg_store.set_tags([1], [21], [], user="root", now=LATER, run_id="elsewhere-1")
    assert result.changed == (1,)


# --- concurrency --------------------------------------------------------------------------------


def test_concurrent_writers_of_the_same_objects_take_turns(
    pg_store: PostgresStore, pg_dsn: str, tmp_path: Path
) -> None:
    load(pg_store, *(image(i) for i in range(1, 21)))
    other = PostgresStore(pg_dsn, tmp_path / "assets")
    rounds = 8

    def toggle(store: PostgresStore, tag: int) -> None:
        for n in range(rounds):
            adding, removing = ([tag], []) if n % 2 == 0 else ([], [tag])
            store.set_tags(range(1, 21), adding, removing, user="root", now=LATER)

    threads = [
        threading.Thread(target=toggle, args=(store, tag))
        for store, tag in ((pg_store, 20), (other, 21))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()
    for record in pg_store.get(range(1, 21)):
        versions = [v.version for v in pg_store.versions(record["_system_object_id"])]
        assert versions == list(range(1, 2 * rounds + 2))
        assert [e["_version"] for e in record["_changelog"]] == versions
        assert record["_tags"] == []


def test_a_session_idle_in_a_transaction_past_the_lease_is_ended_by_the_server(
    pg_store: PostgresStore, pg_dsn: str, tmp_path: Path
) -> None:
    """A paused process must not keep its run's row locked (the fence) past its lease."""
    import psycopg.errors

    leased = PostgresStore(pg_dsn, tmp_path / "assets", lease=timedelta(seconds=1))
    try:
        with leased.pool.connection() as conn:
            assert conn.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("1s",)
            with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout), conn.transaction():
                conn.execute("SELECT 1")
                time.sleep(2.5)  # paused mid-transaction, longer than the lease
                conn.execute("SELECT 1")
    finally:
        leased.close()


# --- text values beyond a tsvector's limits -----------------------------------------------------

LONG_TOKEN = "x" * 3000  # a lexeme holds 2046 bytes at most
MANY = " ".join(["sea"] * 300 + ["lighthouse", "keeper"])  # 256 positions per lexeme at most
HUGE = " ".join(f"w{i}" for i in range(17000)) + " end of text"  # positions up to 16383


@pytest.fixture(scope="module")
def long_texts(
    pg_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[PostgresStore, SqliteStore]]:
    """The same values, some beyond a tsvector's limits, in both backends."""
    records = [
        image(1, title=f"start {LONG_TOKEN} end"),
        image(2, description=MANY),
        image(3, description=HUGE),
        image(4, title="harbour sea lighthouse keeper", description="xxxx w16999 end of"),
    ]
    directory = tmp_path_factory.mktemp("long")
    dsn = pg_server.create_database()
    postgres = PostgresStore(dsn, directory, upgrade=True)
    sqlite = SqliteStore(directory / "store.db")
    for store in (postgres, sqlite):
        store.init(repo_model())
        load(store, *records)
    yield postgres, sqlite
    postgres.close()
    sqlite.close()
    pg_server.drop_database(dsn)


def test_values_too_long_for_a_tsvector_keep_their_tokens(
    long_texts: tuple[PostgresStore, SqliteStore],
) -> None:
    with psycopg.connect(long_texts[0].pool.conninfo) as conn:
        kept = conn.execute("SELECT DISTINCT object_id FROM texts WHERE tokens IS NOT NULL")
        assert sorted(row[0] for row in kept) == [1, 2, 3]


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ({"type": "match", "string": LONG_TOKEN, "mode": "token"}, [1]),
        ({"type": "match", "string": "xxxx"}, [1, 4]),
        ({"type": "match", "string": "x*x", "mode": "wildcard"}, [1, 4]),
        ({"type": "match", "string": "sea lighthouse keeper", "phrase": True}, [2, 4]),
        ({"type": "match", "string": "sea keeper", "phrase": True}, []),
        ({"type": "match", "string": "w16999 end of", "phrase": True, "mode": "token"}, [3, 4]),
        ({"type": "match", "string": "w1699? e*", "phrase": True, "mode": "wildcard"}, [3, 4]),
        ({"type": "match", "string": "w42 w4"}, [3]),
        ({"type": "match", "string": "harbour", "bool": "must_not"}, [1, 2, 3]),
    ],
)
def test_values_too_long_for_a_tsvector_are_found_as_in_sqlite(
    long_texts: tuple[PostgresStore, SqliteStore], search: dict[str, Any], found: list[int]
) -> None:
    postgres, sqlite = long_texts
    assert ids(postgres, search=[search]) == ids(sqlite, search=[search]) == found


# --- queries ------------------------------------------------------------------------------------


def test_values_are_parameters_never_sql(pg_store: PostgresStore) -> None:
    hostile = "x'); DROP TABLE objects; --"
    data = request(search=[{"type": "in", "fields": ["images.creator"], "in": [hostile]}])
    text, params = pg_query(pg_store.compile(data, user="editor", now=NOW).select_ids())
    assert hostile not in text and hostile in params
    assert pg_store.search(data, user="editor", now=NOW).count == 0


@pytest.fixture(scope="module")
def planned(pg_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresStore]:
    """600 varied objects with planner statistics: enough for plans that pick indexes."""
    dsn = pg_server.create_database()
    store = PostgresStore(dsn, tmp_path_factory.mktemp("assets"), upgrade=True)
    store.init(repo_model())
    words = ["harbour", "boat", "market", "night", "bridge", "tower"]
    load(
        store,
        *(
            image(
                i,
                pool=3 if i % 50 == 0 else (1, 8)[i % 2],
                tags=((15, 16, 17, 18)[i % 4], *((20,) if i % 50 == 0 else ())),
                title=f"{words[i % 6]} {words[(i // 6) % 6]} {i}",
                keywords=[words[i % 5]],
                shot_at=f"{2000 + i % 25}-01-{1 + i % 28:02d}",
            )
            for i in range(1, 601)
        ),
    )
    store.analyze()
    yield store
    store.close()
    pg_server.drop_database(dsn)


@pytest.mark.parametrize(
    ("search", "index"),
    [
        ([{"type": "in", "fields": ["_tags._id"], "in": [20]}], "object_tags_tag"),
        ([{"type": "in", "fields": ["images._pool._path.pool._id"], "in": [2]}], "objects_pool"),
        ([{"type": "range", "field": "images.shot_at", "from": "2024-01-01"}], "field_numbers"),
        ([{"type": "in", "fields": ["images.keywords"], "in": ["boat"]}], "field_strings_value"),
        ([{"type": "match", "string": "brid"}], "texts_body"),
        ([{"type": "match", "string": "*ridg?", "mode": "wildcard"}], "terms_trigrams"),
        (
            [
                {"type": "in", "fields": ["_tags._id"], "in": [20], "bool": "should"},
                {"type": "match", "string": "brid", "bool": "should"},
            ],
            "texts_body",  # both parts by their index, not object by object
        ),
    ],
)
def test_searches_use_an_index(
    planned: PostgresStore, search: list[dict[str, Any]], index: str
) -> None:
    query = planned.compile(request(search=search), user="root", now=NOW).count()
    text, params = pg_query(query)
    with planned.pool.connection() as conn, conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")  # small tables are read whole otherwise
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + text, params))
    assert index in plan and "hashed SubPlan" not in plan, plan


# --- DSNs in messages -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://runner:s3cret-pw@db.example.org/dam",
        "host=db.example.org user=runner password=s3cret-pw dbname=dam",
        "postgresql://db.example.org/dam?user=runner&password=s3cret-pw",
    ],
)
def test_a_dsn_is_shown_without_its_password(dsn: str) -> None:
    shown = masked(dsn)
    assert "s3cret-pw" not in shown and "db.example.org" in shown and "***" in shown


def test_a_failed_connection_names_the_store_without_the_password(tmp_path: Path) -> None:
    dsn = "postgresql://runner:s3cret-pw@127.0.0.1:1/dam?connect_timeout=2"
    with pytest.raises(StoreError) as caught:
        PostgresStore(dsn, tmp_path)
    assert "cannot be used" in str(caught.value) and "s3cret-pw" not in str(caught.value)
