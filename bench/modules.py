"""Benchmark: the `set_unset_tags` and `delete_objects` (trash) modules on 1,000,000 objects.

One store of the repository's datamodel.yaml is built (records from bench/store.py's
generator), of which ~10 % match the benchmark's search: images 400 to 1333 pixels wide.
Each measurement then starts from a fresh copy of that file and acts as root, so no object is
denied. Printed, each beside its baselines from the same run (times as ratios):

- runner: the module run through the run engine's `execute()`, the real path (search, guard,
  batches of the module's size, each one store transaction, checkpoints, the JSONL log), in
  objects/s;
- (a) one hand-written set-based SQL transaction doing the same writes (kept versions,
  `objects` version and last_modified, the trash marks, changelog, tags; the indexes on
  them follow): the practical limit (goal: runner at least 0.5x of it); that both wrote the
  same is checked;
- (b) a per-object loop calling the same store method once per object, each call its own
  transaction as the store's public methods are, what a naive implementation does, on a
  sample whose rate is extrapolated (goal: runner at least 10x);
- the peak RSS of `runner run` of a set_unset_tags task matching every object, in a
  subprocess started by a small launcher (ru_maxrss from os.wait4) (goal: under 300 MB),
  beside that of `runner --help`.

Both baselines write a run id of the runner's format, as long as its own. They used to write
`sql` and `loop`: trashing then grew each row less than the runner's run id does, so it split
fewer `objects` pages, and (a) and (b) were not quite the same writes. (a) removes tags with
the plan the store uses (each object's tags by primary key, a third of the work), so that it
stays the practical limit. The loop's default sample is 5,000 objects (it was 2,000): a few
seconds, so that a burst of load on a shared machine does not decide its rate.

Each of the three is measured --repeat times (default 3), interleaved, each time on a fresh
copy; the rates printed are the medians, with the range of the repetitions.

    python bench/modules.py [--objects 1000000] [--sample 5000] [--seed 7] [--repeat 3] [--dir DIR]

With --dir the built store is kept there and reused by the next run with the same
--objects and --seed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.store import NOW, Generator  # noqa: E402
from runner.clock import SystemClock  # noqa: E402
from runner.modules.registry import MODULES  # noqa: E402
from runner.runs.engine import Environment, RunRequest, execute  # noqa: E402
from runner.runs.ids import new_run_id  # noqa: E402
from runner.spec.datamodel import DataModel  # noqa: E402
from runner.spec.files import load_datamodel_file  # noqa: E402
from runner.spec.task import AnyTask, validate_task  # noqa: E402
from runner.state.sqlite import SqliteState  # noqa: E402
from runner.store.base import Store  # noqa: E402
from runner.store.dates import micros  # noqa: E402
from runner.store.sqlite import PRAGMAS, SqliteStore  # noqa: E402
from runner.store.sqlite_schema import SCHEMA_VERSION, schema_version  # noqa: E402

# The generator draws widths uniformly from 400..6000 for images (60 % of the objects):
# 934 of those 5601 values are 1/6 of the images, 10 % of all objects.
LOW, HIGH = 400, 1333
SEARCH = {
    "objecttypes": ["images"],
    "search": [{"type": "range", "field": "images.width", "from": LOW, "to": HIGH}],
}
SET_TAG, UNSET_TAG = 17, 20  # approved (choice group workflow: 15-18), favourite
REMOVED = (15, 16, 18, UNSET_TAG)  # what setting 17 and unsetting 20 takes away
ROOT_ID = 1
# The baselines write a run id as long as the runner's: the same row sizes, so the same pages.
BASELINE_RUN = new_run_id(NOW)
GOAL_SQL, GOAL_LOOP, GOAL_RSS_MB = 0.5, 10.0, 300


@dataclass(frozen=True)
class Timing:
    objects: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.objects / self.seconds


# --- the store ----------------------------------------------------------------------------


def build(model: DataModel, count: int, seed: int, directory: Path) -> Path:
    """The base store, checkpointed and closed (no WAL left), reused when it matches."""
    path, marker = directory / "base.db", directory / "base.json"
    wanted = {"objects": count, "seed": seed}
    if path.exists() and marker.exists() and json.loads(marker.read_text()) == wanted:
        print(f"  reusing {path}")
        upgrade(path)
        return path
    for stale in directory.glob("base.*"):
        stale.unlink()
    started = time.perf_counter()
    store = SqliteStore(path, directory / "assets")
    store.init(model)
    report = store.import_records(Generator(model, seed).lines(count), user="root", now=NOW)
    assert report.ok and report.imported == count, report.problems[:5]
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    marker.write_text(json.dumps(wanted))
    size = path.stat().st_size / 2**20
    print(f"  built the store in {time.perf_counter() - started:.0f} s ({size:,.0f} MiB)")
    return path


def upgrade(path: Path) -> None:
    """Bring a kept store to the current schema, as opening it does for a user."""
    conn = sqlite3.connect(path)
    found = schema_version(conn)
    conn.close()
    if found >= SCHEMA_VERSION:
        return
    started = time.perf_counter()
    store = SqliteStore(path)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    seconds = time.perf_counter() - started
    print(f"  upgraded it from schema version {found} to {SCHEMA_VERSION} in {seconds:.1f} s")


def fresh_copy(base: Path, name: str) -> Path:
    wal = base.with_name(base.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, f"{wal} is not checkpointed"
    target = base.with_name(name + ".db")
    for stale in base.parent.glob(name + ".db*"):
        stale.unlink()
    shutil.copyfile(base, target)
    return target


def remove(path: Path) -> None:
    for part in path.parent.glob(path.name + "*"):
        part.unlink()


def connect(path: Path) -> sqlite3.Connection:
    """A plain connection set up as the store sets up its own."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    return conn


FINGERPRINT = (
    "SELECT count(*), total(object_id * 100 + tag_id) FROM object_tags",
    "SELECT count(*), total(object_id * version), count(deleted_at) FROM object_versions",
    "SELECT count(*), total(object_id * version), group_concat(DISTINCT operation) FROM changelog",
    "SELECT total(version), count(deleted_at), count(deleted_by_run) FROM objects",
)


def fingerprint(path: Path) -> tuple[Any, ...]:
    """What the writes left, times and run ids aside."""
    conn = connect(path)
    try:
        return tuple(conn.execute(query).fetchone() for query in FINGERPRINT)
    finally:
        conn.close()


# --- runner: the run engine -----------------------------------------------------------------


def task(module: str, search: dict[str, Any]) -> AnyTask:
    params: dict[str, Any] = {"mode": "trash"}
    if module == "set_unset_tags":
        params = {"tags": [{"_id": SET_TAG, "set": True}, {"_id": UNSET_TAG, "set": False}]}
    data = {
        "version": 1,
        "description": f"benchmark: {module}",
        "module": module,
        "run_as": "root",
        "search": search,
        "params": params,
    }
    return validate_task(data, f"bench/{module}")


def run_engine(
    path: Path, module: str, open_store: Callable[[Path], Store] | None = None
) -> tuple[Timing, dict[str, int]]:
    """`open_store(assets_dir)` opens another backend's store (default: SQLite at `path`)."""
    work = path.parent / f"{path.stem}-run"
    shutil.rmtree(work, ignore_errors=True)
    store = (open_store or partial(SqliteStore, path))(work / "assets")
    state = SqliteState(work / "state.db")
    env = Environment(
        store=store,
        state=state,
        clock=SystemClock(),
        logs_dir=work / "logs",
        mappings_dir=ROOT / "mappings",
    )
    request = RunRequest(f"bench/{module}", task(module, SEARCH))
    try:
        started = time.perf_counter()
        outcome = execute(request, env)
        seconds = time.perf_counter() - started
    finally:
        store.close()
        state.close()
    shutil.rmtree(work, ignore_errors=True)
    assert outcome.run.status == "success", outcome.run
    counts = outcome.run.counts.as_dict()
    return Timing(counts["matched"], seconds), counts


# --- (a): one hand-written set-based transaction --------------------------------------------

SELECT_HITS = """
INSERT INTO temp.hit SELECT v.object_id FROM field_values v JOIN objects o ON o.id = v.object_id
WHERE v.field_id = (SELECT f.id FROM fields f JOIN objecttypes t ON t.id = f.objecttype_id
        WHERE t.name = 'images' AND f.name = 'width')
    AND v.value BETWEEN :low AND :high AND o.deleted_at IS NULL
"""
KEEP_CHANGING = """
DELETE FROM temp.hit WHERE EXISTS
        (SELECT 1 FROM object_tags t WHERE t.object_id = hit.id AND t.tag_id = :set)
    AND NOT EXISTS (SELECT 1 FROM object_tags t WHERE t.object_id = hit.id
        AND t.tag_id IN (SELECT value FROM json_each(:removed)))
"""
SNAPSHOT = """
INSERT INTO object_versions
    (object_id, version, pool_id, owner_id, last_modified, deleted_at, deleted_by_run, tags, data)
SELECT o.id, o.version, o.pool_id, o.owner_id, o.last_modified, o.deleted_at, o.deleted_by_run,
    (SELECT json_group_array(tag_id) FROM
        (SELECT tag_id FROM object_tags x WHERE x.object_id = o.id ORDER BY tag_id)),
    d.data
FROM temp.hit h JOIN objects o ON o.id = h.id JOIN object_data d ON d.object_id = h.id
"""
TAG_WRITES = (
    SELECT_HITS,
    KEEP_CHANGING,
    SNAPSHOT,
    # the store's plan: each object's tags read by the primary key (`+tag_id`)
    "DELETE FROM object_tags WHERE object_id IN temp.hit"
    " AND +tag_id IN (SELECT value FROM json_each(:removed))",
    "INSERT OR IGNORE INTO object_tags SELECT id, :set FROM temp.hit",
    "UPDATE objects SET version = version + 1, last_modified = :now WHERE id IN temp.hit",
    "INSERT INTO changelog (object_id, version, operation, user_id, time, run_id)"
    " SELECT id, version, 'update', :user, :now, :run FROM objects WHERE id IN temp.hit",
)
TRASH_WRITES = (
    SELECT_HITS,
    SNAPSHOT,
    "UPDATE objects SET version = version + 1, last_modified = :now, deleted_at = :now,"
    " deleted_by_run = :run WHERE id IN temp.hit",
    "INSERT INTO changelog (object_id, version, operation, user_id, time, run_id)"
    " SELECT id, version, 'delete', :user, :now, :run FROM objects WHERE id IN temp.hit",
)


def run_sql(path: Path, statements: tuple[str, ...]) -> Timing:
    """The writes in one transaction; the rate counts the objects the search matched."""
    conn = connect(path)
    params = {
        "low": LOW,
        "high": HIGH,
        "set": SET_TAG,
        "removed": json.dumps(REMOVED),
        "now": micros(NOW),
        "run": BASELINE_RUN,
        "user": ROOT_ID,
    }
    try:
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TEMP TABLE hit (id INTEGER PRIMARY KEY)")
        matched = 0
        for statement in statements:
            names = {k: v for k, v in params.items() if f":{k}" in statement}
            conn.execute(statement, names)
            if statement is SELECT_HITS:
                matched = conn.execute("SELECT count(*) FROM temp.hit").fetchone()[0]
        conn.execute("COMMIT")
        return Timing(matched, time.perf_counter() - started)
    finally:
        conn.close()


# --- (b): one store call per object -------------------------------------------------------


def sample_ids(path: Path, size: int) -> list[int]:
    """`size` of the matched ids, spread evenly over them."""
    store = SqliteStore(path)
    try:
        request = task("delete_objects", SEARCH).search
        ids = [i for batch in store.iter_ids(request, user="root", now=NOW) for i in batch]
    finally:
        store.close()
    step = max(1, len(ids) // size)
    return ids[::step][:size]


def run_loop(
    path: Path,
    ids: list[int],
    write: Callable[[Store, int], object],
    open_store: Callable[[], Store] | None = None,
) -> Timing:
    store = open_store() if open_store else SqliteStore(path)
    try:
        started = time.perf_counter()
        for object_id in ids:
            write(store, object_id)
        return Timing(len(ids), time.perf_counter() - started)
    finally:
        store.close()


def tag_one(store: Store, object_id: int) -> object:
    return store.set_tags(
        [object_id], [SET_TAG], [UNSET_TAG], user="root", now=NOW, run_id=BASELINE_RUN
    )


def trash_one(store: Store, object_id: int) -> object:
    return store.trash([object_id], user="root", now=NOW, run_id=BASELINE_RUN)


# --- peak RSS of `runner run` -------------------------------------------------------------

RUNNER_YAML = """version: 1
tasks_dir: tasks.d
datamodel: datamodel.yaml
logs_dir: logs
state: sqlite:state.db
store: {type: sqlite, path: store.db, assets: assets}
"""


def workspace(base: Path, directory: Path) -> Path:
    """A throwaway repository whose task bench/all tags every object of a store copy."""
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "tasks.d" / "bench").mkdir(parents=True)
    (directory / "runner.yaml").write_text(RUNNER_YAML)
    shutil.copyfile(ROOT / "datamodel.yaml", directory / "datamodel.yaml")
    shutil.move(fresh_copy(base, "rss"), directory / "store.db")
    spec = {
        "version": 1,
        "description": "benchmark: tag every object",
        "module": "set_unset_tags",
        "run_as": "root",
        "search": {},
        "params": {"tags": [{"_id": SET_TAG, "set": True}, {"_id": UNSET_TAG, "set": False}]},
    }
    (directory / "tasks.d" / "bench" / "all.yaml").write_text(json.dumps(spec, indent=2))
    return directory


# Linux keeps a process's peak RSS across exec, and a child started with vfork (as subprocess
# does) shares its parent's memory until then: measured directly, the child would report this
# benchmark's own peak. A small launcher process starts the command and reports its usage.
LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=sys.stderr, stderr=sys.stderr)
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - started
print(json.dumps([os.waitstatus_to_exitcode(status), seconds, usage.ru_maxrss * 1024]))
"""


def peak_rss(args: list[str], cwd: Path) -> tuple[int, float, int]:
    """(exit status, seconds, max RSS in bytes) of `python -m runner ARGS` run in `cwd`."""
    command = [sys.executable, "-c", LAUNCHER, sys.executable, "-m", "runner", *args]
    output = cwd / f"{args[0].lstrip('-')}.out"
    with output.open("wb") as sink:
        done = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=sink, check=True)
    status, seconds, rss = json.loads(done.stdout)
    return int(status), float(seconds), int(rss)  # ru_maxrss: KiB on Linux, made bytes above


# --- report -------------------------------------------------------------------------------


def line(label: str, timings: list[Timing], note: str = "") -> None:
    rates = sorted(t.rate for t in timings)
    first = timings[0]
    spread = f", {rates[0]:,.0f}-{rates[-1]:,.0f}" if len(rates) > 1 else ""
    print(
        f"  {label:<44} {median_rate(timings):>10,.0f} objects/s"
        f"  ({first.objects:,} in {first.seconds:.2f} s{spread}){note}"
    )


def median_rate(timings: list[Timing]) -> float:
    return statistics.median(t.rate for t in timings)


def compare(
    name: str,
    module: str,
    base: Path,
    sql: tuple[str, ...],
    write: Callable[[Store, int], object],
    sample: list[int],
    repeat: int,
) -> None:
    """Each measurement `repeat` times, the three interleaved so that a burst of load on the
    machine falls on all of them; each rate is the median of its repetitions."""
    runner: list[Timing] = []
    direct: list[Timing] = []
    loop: list[Timing] = []
    same = True
    for round_ in range(repeat):
        engine_copy = fresh_copy(base, f"{module}-runner")
        timing, counts = run_engine(engine_copy, module)
        runner.append(timing)
        if round_ == 0:
            runner_print = fingerprint(engine_copy)
        remove(engine_copy)
        sql_copy = fresh_copy(base, f"{module}-sql")
        direct.append(run_sql(sql_copy, sql))
        if round_ == 0:
            same = fingerprint(sql_copy) == runner_print
        remove(sql_copy)
        loop_copy = fresh_copy(base, f"{module}-loop")
        loop.append(run_loop(loop_copy, sample, write))
        remove(loop_copy)
    rate = median_rate(runner)
    times = f"median of {repeat}, range" if repeat > 1 else "one run"
    print(
        f"{name} ({counts['changed']:,} of {counts['matched']:,} matched objects changed; {times}):"
    )
    line(f"runner (engine, batches of {MODULES[module]().batch_size:,})", runner)
    line(
        "(a) one set-based SQL transaction",
        direct,
        f"   runner/(a) = {rate / median_rate(direct):.2f}x (goal >= {GOAL_SQL}x)",
    )
    line(
        f"(b) per-object loop, {len(sample):,} sampled",
        loop,
        f"   runner/(b) = {rate / median_rate(loop):.1f}x (goal >= {GOAL_LOOP:.0f}x)",
    )
    print(f"  runner and (a) wrote the same rows: {'yes' if same else 'NO'}")
    assert direct[0].objects == runner[0].objects, (direct[0].objects, runner[0].objects)


def report_rss(base: Path, count: int) -> None:
    repo = workspace(base, base.parent / "rss-repo")
    status, seconds, rss = peak_rss(["run", "bench/all", "--yes"], repo)
    _, _, idle = peak_rss(["--help"], repo)
    assert status == 0, (repo / "run.out").read_text()[-2000:]
    print(
        f"peak RSS of `runner run` tagging all {count:,} objects: {rss / 1e6:,.0f} MB"
        f" (goal < {GOAL_RSS_MB} MB; `runner --help`: {idle / 1e6:,.0f} MB);"
        f" the run took {seconds:.0f} s = {count / seconds:,.0f} objects/s"
    )
    shutil.rmtree(repo, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=5000, help="objects of the loops (b)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=None, help="keep the base store here")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak RSS run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    args = parser.parse_args()
    model = load_datamodel_file(ROOT / "datamodel.yaml").value
    assert model is not None, "datamodel.yaml does not validate: run 'runner check'"
    directory = args.dir or Path(tempfile.mkdtemp(prefix="runner-bench-modules-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        run(model, args, directory)
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)


def run(model: DataModel, args: argparse.Namespace, directory: Path) -> None:
    print(
        f"modules benchmark: {args.objects:,} objects, search: images {LOW}-{HIGH} px wide"
        f" (~10 %), as root; SQLite {sqlite3.sqlite_version}"
    )
    base = build(model, args.objects, args.seed, directory)
    sample = sample_ids(base, args.sample)
    compare(
        "set_unset_tags (set 17, unset 20)",
        "set_unset_tags",
        base,
        TAG_WRITES,
        tag_one,
        sample,
        args.repeat,
    )
    compare(
        "delete_objects (trash)",
        "delete_objects",
        base,
        TRASH_WRITES,
        trash_one,
        sample,
        args.repeat,
    )
    if not args.no_rss:
        report_rss(base, args.objects)


if __name__ == "__main__":
    main()
