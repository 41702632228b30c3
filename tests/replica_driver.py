"""One daemon replica in its own process, driven through simulated time.

    python -m tests.replica_driver ROOT NAME END [--step SECONDS] [--offset SECONDS]

The real `Daemon` (real state and store, as ROOT's runner.yaml says) with a fake clock that
starts at this host's time plus `--offset` (so the start-up clock check sees a real clock, or
one that is off) and moves `--step` seconds per tick until END (ISO 8601), running what is
due at each tick. Leases use the database's clock, so they are real. Prints one JSON line on
stdout at the end: the replica's name, its start and end instants, and how many runs it did;
its daemon events go to stderr. Exit 1 with the error on stderr when the daemon refuses to start.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runner.daemon.events import EventSink
from runner.daemon.scheduler import Daemon, DaemonOptions
from runner.errors import RunnerError
from tests.fake_clock import FakeClock


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("name")
    parser.add_argument("end")
    parser.add_argument("--step", type=float, default=60.0)
    parser.add_argument("--offset", type=float, default=0.0)
    args = parser.parse_args()
    end = datetime.fromisoformat(args.end)
    clock = FakeClock(datetime.now(UTC) + timedelta(seconds=args.offset))
    start = clock.now()
    events = EventSink(args.name, clock.now, sys.stderr)
    try:
        daemon = Daemon(DaemonOptions(None, args.root, daemon_id=args.name), clock, events)
        daemon.start()
    except RunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        while True:  # ticks every `step` seconds, and a last one at END itself
            daemon.tick()
            daemon.wait_for_runs()
            if clock.now() >= end:
                break
            clock.advance(min(args.step, (end - clock.now()).total_seconds()))
    finally:
        daemon.close()
    runs = sum(1 for line in events.seen if line["event"] == "run_finished")
    print(json.dumps({"name": args.name, "start": start.isoformat(), "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
