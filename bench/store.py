"""Benchmark: the SQLite store on 1,000,000 objects of the repository's datamodel.yaml.

Prints, each beside its baseline from the same run:

- import rate: `import_records` (validation, index rows, FTS) against a raw `executemany` of
  the very rows it wrote, table by table, into a fresh store (goal: at least 0.5x);
- five searches with fixed match shares (a tag ~1 %, a pool with its sub-pools ~5 %, a date
  range ~2 %, a fulltext word ~0.5 %, a `complex` of three ~1 %), timing the fetch of all
  matching ids (best of three), against the same request compiled with `indexes=False`
  (every table scanned, no index searched) (goal: at least 20x each);
- the database size per object.

The records are generated here, quickly and deterministically: titles and descriptions of
real words, dates over 16 years, tags of both group kinds, objects in every pool, owners
among the users. Match shares come from fixed probabilities, so they hold at any size.

    python bench/store.py [--objects 1000000] [--batch 1000] [--dir DIR] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.spec.datamodel import DataModel  # noqa: E402
from runner.spec.files import load_datamodel_file  # noqa: E402
from runner.spec.search import SearchRequest  # noqa: E402
from runner.store.base import Store  # noqa: E402
from runner.store.catalog import OBJECT_SHIFT  # noqa: E402
from runner.store.sqlite import SqliteStore  # noqa: E402

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
WORDS = (  # noqa: SIM905 (a word list reads better as text)
    "harbour boat sea river bridge tower castle garden forest meadow mountain valley lake "
    "island beach cliff market square street station train tram bicycle festival concert "
    "theatre museum library school church cathedral chapel palace village city town winter "
    "spring summer autumn morning evening night sunrise sunset storm rain snow fog portrait "
    "family children crowd worker farmer fisherman dancer musician painter writer mayor "
    "minister visitor tourist student teacher doctor nurse architect engineer old new "
    "historic modern wooden stone glass golden silver red blue green white black quiet busy "
    "empty crowded ancient famous hidden distant northern southern eastern western opening "
    "ceremony parade exhibition conference meeting election protest celebration construction "
    "restoration harvest flood fire anniversary visit award competition match archive "
    "collection photograph document letter contract report map poster postcard view detail "
    "overview interior exterior aerial panorama close harbourside windmill orchard vineyard "
    "quarry factory warehouse canal dock ferry airport runway highway tunnel viaduct "
    "fountain statue monument cemetery hospital prison courthouse townhall library stadium "
    "arena circus zoo aquarium observatory greenhouse "
).split()
FIRST = "Anna Ben Clara David Eva Felix Greta Hugo Ida Jonas Karla Lukas Mia Noah".split()  # noqa: SIM905
LAST = "Albers Brandt Claussen Dietrich Engel Fischer Graf Hoffmann Jansen Keller".split()  # noqa: SIM905
RARE_WORD = "lighthouse"  # in ~0.5 % of the objects: the fulltext search
OTHER_RARE = "zeppelin"  # in ~0.33 %: one branch of the complex search
SHOT_FROM = date(2010, 1, 1)
SHOT_DAYS = 16 * 365
IMAGE_SHARE, DOCUMENT_SHARE = 0.6, 0.3  # people: the rest


@dataclass(frozen=True)
class Search:
    name: str
    share: float
    request: dict[str, Any]


def shot_window() -> tuple[str, str]:
    """Images are 60 % of the objects: 2 % of all is 1/30 of the shooting days."""
    days = round(SHOT_DAYS * 0.02 / IMAGE_SHARE)
    start = SHOT_FROM + timedelta(days=3000)
    return start.isoformat(), (start + timedelta(days=days - 1)).isoformat()


SEARCHES = [
    Search("tag (1 %)", 0.01, {"search": [{"type": "in", "fields": ["_tags._id"], "in": [23]}]}),
    Search(
        "pool with sub-pools (5 %)",
        0.05,
        {"search": [{"type": "in", "fields": ["images._pool._path.pool._id"], "in": [2]}]},
    ),
    Search(
        "date range (2 %)",
        0.02,
        {
            "search": [
                {
                    "type": "range",
                    "field": "images.shot_at",
                    "from": shot_window()[0],
                    "to": shot_window()[1],
                }
            ]
        },
    ),
    Search("fulltext word (0.5 %)", 0.005, {"search": [{"type": "match", "string": RARE_WORD}]}),
    Search(
        "complex of three (1 %)",
        0.01,
        {
            "search": [
                {
                    "type": "complex",
                    "search": [
                        {"type": "in", "fields": ["_tags._id"], "in": [21], "bool": "should"},
                        {"type": "match", "string": OTHER_RARE, "mode": "token", "bool": "should"},
                        {
                            "type": "range",
                            "field": "documents.pages",
                            "from": 991,
                            "bool": "should",
                        },
                    ],
                }
            ]
        },
    ),
]


# --- data -----------------------------------------------------------------------------------


class Generator:
    """Deterministic record lines with the match shares the searches rely on."""

    def __init__(self, model: DataModel, seed: int) -> None:
        self.model = model
        self.rng = random.Random(seed)
        self.users = [u.id for u in model.users]

    def lines(self, count: int) -> Iterator[str]:
        for sid in range(1, count + 1):
            yield json.dumps(self.record(sid), separators=(",", ":"))

    def record(self, sid: int) -> dict[str, Any]:
        r = self.rng.random()
        if r < IMAGE_SHARE:
            objecttype, body, tags = "images", self.image(), self.tags()
        elif r < IMAGE_SHARE + DOCUMENT_SHARE:
            objecttype, body, tags = "documents", self.document(), self.tags()
        else:
            objecttype, body, tags = "people", self.person(), None
        created = NOW - timedelta(seconds=self.rng.randrange(16 * 365 * 86400))
        modified = created + (NOW - created) * self.rng.random()
        record: dict[str, Any] = {
            "_objecttype": objecttype,
            "_system_object_id": sid,
            "_global_object_id": f"{sid}@local",
            "_uuid": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "_created": _iso(created),
            "_last_modified": _iso(modified),
            "_owner": {"user": {"_id": self.rng.choice(self.users)}},
            objecttype: {"_id": sid, "_version": 1, **body},
        }
        if tags is not None:
            record["_tags"] = [{"_id": t} for t in tags]
        return record

    def tags(self) -> list[int]:
        """Shares among objects with tags (90 % of all): 23 at 1 % of all, 21 at 0.4 %."""
        chosen = [self.rng.choice((15, 16, 17, 18))] if self.rng.random() < 0.7 else []
        chosen += [20] if self.rng.random() < 0.1 else []
        chosen += [21] if self.rng.random() < 0.004 / 0.9 else []
        chosen += [22] if self.rng.random() < 0.1 else []
        chosen += [23] if self.rng.random() < 0.01 / 0.9 else []
        return chosen

    def words(self, low: int, high: int) -> str:
        return " ".join(self.rng.choices(WORDS, k=self.rng.randint(low, high))).capitalize()

    def title(self) -> str:
        """Titles (one per object) carry the rare words: 0.5 % and 0.33 % of all objects."""
        words = self.rng.choices(WORDS, k=self.rng.randint(2, 6))
        for rare, share in ((RARE_WORD, 0.005), (OTHER_RARE, 0.0033)):
            if self.rng.random() < share:
                words.insert(self.rng.randrange(len(words) + 1), rare)
        return " ".join(words).capitalize()

    def image(self) -> dict[str, Any]:
        # 1/12 of the images (5 % of all objects) are under photos/ (pools 2, 3, 4)
        pool = self.rng.choice((2, 3, 4)) if self.rng.random() < 1 / 12 else self.rng.choice((1, 8))
        shot = SHOT_FROM + timedelta(days=self.rng.randrange(SHOT_DAYS))
        body: dict[str, Any] = {
            "_pool": {"pool": {"_id": pool}},
            "title": self.title(),
            "description": self.words(6, 14),
            "keywords": sorted(set(self.rng.choices(WORDS, k=self.rng.randint(0, 4)))),
            "creator": f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}",
            "shot_at": f"{shot}T{self.rng.randrange(24):02d}:{self.rng.randrange(60):02d}:00",
            "width": self.rng.randint(400, 6000),
            "height": self.rng.randint(300, 4000),
            "published": self.rng.random() < 0.5,
        }
        if self.rng.random() < 0.3:
            body["file"] = {
                "path": f"images/{self.rng.getrandbits(40):010x}.jpg",
                "mime": "image/jpeg",
            }
        return body

    def document(self) -> dict[str, Any]:
        return {
            "_pool": {"pool": {"_id": self.rng.choice((5, 6, 1, 8))}},
            "title": self.title(),
            "summary": self.words(8, 16),
            "doc_number": f"DOC-{self.rng.randrange(10**6):06d}",
            # pages 991-1000 on 1 % of the documents: 0.3 % of all objects
            "pages": self.rng.randint(991, 1000)
            if self.rng.random() < 0.01
            else self.rng.randint(1, 990),
            "issued_at": (SHOT_FROM + timedelta(days=self.rng.randrange(SHOT_DAYS))).isoformat(),
        }

    def person(self) -> dict[str, Any]:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        if self.rng.random() < 0.005:  # the fulltext word is a family name here
            last = RARE_WORD.capitalize()
        return {
            "_pool": {"pool": {"_id": self.rng.choice((7, 1))}},
            "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}{self.rng.randrange(1000)}@example.org",
            "born_at": (
                date(1940, 1, 1) + timedelta(days=self.rng.randrange(60 * 365))
            ).isoformat(),
        }


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- measurements ---------------------------------------------------------------------------

TABLES = ("objects", "object_tags", "field_values", "changelog", "assets")


def raw_copy(source: SqliteStore, target: SqliteStore, low: int, high: int) -> float:
    """Seconds to executemany the rows `source` holds for objects low..high-1 into `target`,
    in one transaction as the import does; reading them is not timed."""
    read, write = source.conn, target.conn
    rows = {
        table: read.execute(
            f"SELECT * FROM {table} WHERE {_key(table)} >= ? AND {_key(table)} < ?", (low, high)
        ).fetchall()
        for table in TABLES
    }
    texts = read.execute(
        "SELECT rowid, body FROM text_fts WHERE rowid >= ? AND rowid < ?",
        (low << OBJECT_SHIFT, high << OBJECT_SHIFT),
    ).fetchall()
    started = time.perf_counter()
    write.execute("BEGIN IMMEDIATE")
    for table, found in rows.items():
        if found:
            marks = ", ".join("?" * len(found[0]))
            write.executemany(f"INSERT INTO {table} VALUES ({marks})", found)
    write.executemany("INSERT INTO text_fts (rowid, body) VALUES (?, ?)", texts)
    write.execute("COMMIT")
    return time.perf_counter() - started


def raw_terms(source: SqliteStore, target: SqliteStore) -> float:
    """The vocabulary, in one go (the import adds each batch's new words)."""
    terms = source.conn.execute("SELECT term FROM terms").fetchall()
    started = time.perf_counter()
    target.conn.execute("BEGIN IMMEDIATE")
    target.conn.executemany("INSERT INTO terms VALUES (?)", terms)
    target.conn.execute("COMMIT")
    return time.perf_counter() - started


def import_beside_raw(
    model: DataModel, lines: list[str], batch: int, directory: Path
) -> tuple[SqliteStore, float, float]:
    """Import batch by batch, each followed by the raw insert of the rows it wrote: load from
    other processes on the machine then slows both sides alike."""
    store = SqliteStore(directory / "import.db", directory / "assets")
    raw = SqliteStore(directory / "raw.db", directory / "assets")
    store.init(model)
    raw.init(model)
    imported = copied = 0.0
    for start in range(0, len(lines), batch):
        chunk = lines[start : start + batch]
        imported += import_batch(store, chunk, batch)
        copied += raw_copy(store, raw, start + 1, start + 1 + len(chunk))
    copied += raw_terms(store, raw)
    raw.close()
    return store, imported, copied


def import_batch(store: Store, chunk: list[str], batch: int) -> float:
    """Seconds `import_records` takes to store one batch of lines (all of them, checked)."""
    started = time.perf_counter()
    report = store.import_records(chunk, user="root", now=NOW, batch_size=batch)
    seconds = time.perf_counter() - started
    assert report.ok and report.imported == len(chunk), report.problems[:5]
    return seconds


def _key(table: str) -> str:
    return "id" if table == "objects" else "object_id"


def fetch_ids(store: SqliteStore, request: SearchRequest, indexes: bool) -> tuple[int, float]:
    """All matching ids, as one JSON array (Python's row-by-row fetching would dominate)."""
    query = store.compile(request, user="root", now=NOW, indexes=indexes).id_list()
    started = time.perf_counter()
    found = json.loads(store.conn.execute(query.text, query.params).fetchone()[0])
    return len(found), time.perf_counter() - started


def best_of(fetch: Callable[[], tuple[int, float]], times: int = 3) -> tuple[int, float]:
    """(matches, best seconds) of `times` runs of a fetch."""
    timings = [fetch() for _ in range(times)]
    return timings[0][0], min(seconds for _, seconds in timings)


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=None, help="keep the databases here")
    args = parser.parse_args()
    model = load_datamodel_file(ROOT / "datamodel.yaml").value
    assert model is not None, "datamodel.yaml does not validate: run 'runner check'"
    directory = args.dir or Path(tempfile.mkdtemp(prefix="runner-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        run(model, args.objects, args.batch, args.seed, directory)
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)


def run(model: DataModel, count: int, batch: int, seed: int, directory: Path) -> None:
    print(
        f"store benchmark: {count:,} objects, batches of {batch}, SQLite {sqlite3.sqlite_version}"
    )
    started = time.perf_counter()
    lines = list(Generator(model, seed).lines(count))
    print(f"  generated {count:,} record lines in {time.perf_counter() - started:.1f} s")

    for stale in directory.glob("*.db*"):
        stale.unlink()
    store, imported, raw_seconds = import_beside_raw(model, lines, batch, directory)
    del lines
    rate, raw_rate = count / imported, count / raw_seconds
    print(
        f"import: {rate:,.0f} records/s ({imported:.1f} s); raw executemany of the same rows: "
        f"{raw_rate:,.0f} records/s ({raw_seconds:.1f} s); ratio {rate / raw_rate:.2f} "
        "(goal >= 0.5)"
    )

    print("searches (all matching ids, best of 3; baseline: the same query using no index):")
    for search in SEARCHES:
        request = SearchRequest.model_validate(search.request)
        found, best = best_of(partial(fetch_ids, store, request, True))
        unindexed, baseline = fetch_ids(store, request, False)
        assert unindexed == found, (search.name, unindexed, found)
        print(
            f"  {search.name:<26} {found:>8,} ids = {found / count:6.2%}"
            f"   indexed {best * 1000:9.1f} ms   baseline {baseline * 1000:10.1f} ms"
            f"   {baseline / best:8.0f}x (goal >= 20x)"
        )
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    total = size_of(store.path)
    print(f"database size: {total / 2**20:,.0f} MiB = {total / count:,.0f} bytes per object")
    store.close()


if __name__ == "__main__":
    main()
