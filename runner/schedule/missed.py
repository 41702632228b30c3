"""The missed-fire policy: which of a task's due fires run, and which are dropped and why.

A fire is on time when the scheduler sees it within `grace` of its instant; older fires were
missed (the daemon was down or the machine asleep). Missed fires follow the task's policy:

- `skip`: none of them runs;
- `once`: the latest runs (as a catch-up), unless an on-time fire runs anyway;
- `all`: each runs, oldest first, at most `max_catchup` of them (the latest ones).

A missed fire older than `max_lateness` is dropped whatever the policy. Every dropped fire is
reported with its reason, for `fires.jsonl`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

GRACE = timedelta(seconds=60)


@dataclass(frozen=True)
class Due:
    """`run`: (instant, trigger) to run, in order; `dropped`: (instant, reason)."""

    run: list[tuple[datetime, str]] = field(default_factory=list)
    dropped: list[tuple[datetime, str]] = field(default_factory=list)


def due_fires(
    fires: Sequence[datetime],
    *,
    now: datetime,
    missed: str,
    max_lateness: timedelta | None,
    max_catchup: int,
    grace: timedelta = GRACE,
) -> Due:
    if not fires:
        return Due()
    if all(now - f <= grace for f in fires):  # the common case, a tick on time
        return Due(sorted(((f, "schedule") for f in fires), key=lambda item: item[0].timestamp()))
    on_time = [f for f in fires if now - f <= grace]
    late = [f for f in fires if now - f > grace]
    dropped = [
        (f, "max_lateness") for f in late if max_lateness is not None and now - f > max_lateness
    ]
    eligible = [f for f in late if max_lateness is None or now - f <= max_lateness]
    catchup = _catchup(eligible, missed, max_catchup, bool(on_time))
    reason = "max_catchup" if missed == "all" else f"missed ({missed})"
    dropped += [(f, reason) for f in eligible if f not in catchup]
    run = [(f, "catchup") for f in catchup] + [(f, "schedule") for f in on_time]
    return Due(
        sorted(run, key=lambda item: item[0].timestamp()),
        sorted(dropped, key=lambda d: d[0].timestamp()),
    )


def _catchup(late: list[datetime], missed: str, max_catchup: int, on_time: bool) -> list[datetime]:
    if not late or missed == "skip":
        return []
    if missed == "once":
        return [] if on_time else [max(late, key=lambda f: f.timestamp())]
    ordered = sorted(late, key=lambda f: f.timestamp())
    return ordered[-max_catchup:]
