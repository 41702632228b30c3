"""Benchmark: fire claims on a PostgreSQL state from 1, 2 and 4 replica processes.

Each replica is a process with its own `PostgresState` (its own connection pool) that claims
the same sequence of fires `(task, scheduled_for)` through `claim_fire` as fast as it can, in
the same order, as daemons sharing one database do when the same fires come due on all of
them. Reported: fires settled per second of wall time (from the replicas' common start to the
last one's end) and claim attempts per second, beside a baseline from the same run: the same
fires inserted by one bare connection with `INSERT ... ON CONFLICT DO NOTHING`. Verified: each
fire was claimed exactly once (the winners' lists are disjoint and cover the sequence, and the
database holds one row per fire, by the replica that reported winning it).

    python bench/claims.py [--fires 2000]

`claim_section(server)` returns the report's lines (bench/postgres.py prints them too).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from runner.state.base import FireRecord  # noqa: E402
from runner.state.postgres import SCHEMA_VERSION, PostgresState, migrate  # noqa: E402
from tests.pg_server import PgServer, server  # noqa: E402

FIRES = 2000
TASKS = 20
REPLICAS = (1, 2, 4)
T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def fire_sequence(count: int) -> list[tuple[str, datetime]]:
    """`count` fires over TASKS tasks, a minute apart per task: what every replica claims."""
    return [
        (f"bench/task-{n % TASKS:02d}", T0 + timedelta(minutes=n // TASKS)) for n in range(count)
    ]


@dataclass(frozen=True)
class Outcome:
    replica: str
    won: list[int]  # indexes into the fire sequence
    started: float
    ended: float


def _replica(dsn: str, name: str, count: int, barrier: Any, results: Any) -> None:
    state = PostgresState(dsn)
    try:
        fires = [FireRecord(task, at, at, name, "run") for task, at in fire_sequence(count)]
        barrier.wait()
        started = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes
        won = [n for n, fire in enumerate(fires) if state.claim_fire(fire)]
        results.put(Outcome(name, won, started, time.monotonic()))
    finally:
        state.close()


def _race(dsn: str, replicas: int, count: int) -> list[Outcome]:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(replicas), context.Queue()
    processes = [
        context.Process(target=_replica, args=(dsn, f"replica-{n}", count, barrier, results))
        for n in range(replicas)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        if process.exitcode != 0:
            raise RuntimeError(f"a replica exited with {process.exitcode}")
    return outcomes


def _verdict(dsn: str, outcomes: list[Outcome], count: int) -> str:
    """'yes', or what went wrong: fires nobody won, fires won twice, rows that disagree."""
    winners = Counter(n for outcome in outcomes for n in outcome.won)
    lost = sum(1 for n in range(count) if winners[n] == 0)
    doubled = sum(1 for n in range(count) if winners[n] > 1)
    sequence = fire_sequence(count)
    reported = {sequence[n]: o.replica for o in outcomes for n in o.won}
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT task_id, scheduled_for, claimed_by FROM state_fires").fetchall()
    stored = {(task, at): by for task, at, by in rows}
    if lost == doubled == 0 and len(rows) == count and stored == reported:
        return "yes"
    return (
        f"NO: {lost} lost, {doubled} won twice, {len(rows)} rows, rows match: {stored == reported}"
    )


def _baseline(dsn: str, count: int) -> float:
    """Seconds for one bare autocommit connection to insert the same fires."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.monotonic()
        for task, at in fire_sequence(count):
            conn.execute(
                """INSERT INTO state_fires (task_id, scheduled_for, claimed_at, claimed_by,
                       outcome) VALUES (%s, %s, %s, 'baseline', 'run')
                   ON CONFLICT (task_id, scheduled_for) DO NOTHING RETURNING 1""",
                (task, at, at),
            )
        return time.monotonic() - started


def _fresh(server: PgServer) -> str:
    dsn = server.create_database("claims")
    migrate(dsn)
    return dsn


def claim_section(server: PgServer, fires: int = FIRES) -> list[str]:
    """The report: one line per replica count beside the baseline; raises if a fire was lost
    or claimed twice (after building every line, which the error carries)."""
    dsn = _fresh(server)
    try:
        baseline = fires / _baseline(dsn, fires)
        with psycopg.connect(dsn) as conn:
            version = conn.execute("SHOW server_version").fetchone()
    finally:
        server.drop_database(dsn)
    lines = [
        f"fire claims, PostgreSQL {version[0] if version else '?'} state (schema {SCHEMA_VERSION}):"
        f" {fires:,} fires over {TASKS} tasks, every replica claiming all of them in one order",
        f"  {'baseline: one bare connection, INSERT ON CONFLICT':<52} {baseline:>9,.0f} fires/s",
    ]
    failed = False
    for replicas in REPLICAS:
        dsn = _fresh(server)
        try:
            outcomes = _race(dsn, replicas, fires)
            verdict = _verdict(dsn, outcomes, fires)
        finally:
            server.drop_database(dsn)
        wall = max(o.ended for o in outcomes) - min(o.started for o in outcomes)
        split = " + ".join(str(len(o.won)) for o in sorted(outcomes, key=lambda o: o.replica))
        label = f"{replicas} replica process{'es' if replicas > 1 else ''}"
        lines.append(
            f"  {label:<52} {fires / wall:>9,.0f} fires/s"
            f"  ({replicas * fires / wall:,.0f} attempts/s, {wall:.2f} s,"
            f" {fires / wall / baseline:.2f}x baseline; won {split}); exactly once: {verdict}"
        )
        failed = failed or verdict != "yes"
    if failed:
        raise AssertionError("fires lost or claimed twice:\n" + "\n".join(lines))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fires", type=int, default=FIRES)
    args = parser.parse_args()
    with server() as started:
        for line in claim_section(started, args.fires):
            print(line)


if __name__ == "__main__":
    main()
