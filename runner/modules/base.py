"""What every module gets (a RunContext) and gives back per batch (a BatchOutcome).

A module is applied to one batch of object ids at a time; the engine calls `apply` once per
batch, each batch being one store transaction, and sums the outcomes; the module sets the
batch size (`batch_size`, below). Modules honour `ctx.dry_run` by asking the store for the
same writes with `dry_run=True` (computed, then rolled back), so a dry run counts exactly
what a real run would change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from runner.errors import RunnerError
from runner.runs.log import RunLog
from runner.spec.task import AnyTask
from runner.store.base import Skipped, Store, WriteResult

# Objects per batch of a module that works on each object outside the database (reads its
# file, renders its record): a batch then takes seconds, and must end well within the run's
# lease, with its records in memory.
BATCH_SIZE = 1000
# Objects per batch of a module whose batch is one set-based store write. That costs mostly
# per page written, and a transaction writes every page it touches, also those of indexes
# whose entries for the batch lie far apart: `objects` by last modification, whose old values
# are scattered, loses an entry on most of its pages in each batch. On 1,000,000 objects,
# batches of 25,000 rather than 1,000 write those pages a fifth as often, and 40 % fewer
# pages per object in all; 25,000 objects still fit in the store's page cache and take a
# few seconds. (A run too small for four of them takes smaller ones: engine.MIN_BATCHES.)
SET_BASED_BATCH_SIZE = 25_000


@dataclass
class RunContext:
    task_id: str
    spec: AnyTask | None  # None for an undo run, which acts on a past run's changes
    user: str
    store: Store
    run_id: str
    started: datetime
    now: Callable[[], datetime]
    dry_run: bool
    log: RunLog
    run_dir: Path
    mappings_dir: Path
    timezone: str


@dataclass(frozen=True)
class Failure:
    id: int
    reason: str
    error: str


@dataclass
class BatchOutcome:
    changed: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    denied: list[int] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)

    @classmethod
    def of(cls, result: WriteResult) -> BatchOutcome:
        return cls(
            list(result.changed), list(result.unchanged), list(result.skipped), list(result.denied)
        )

    def merge(self, other: BatchOutcome) -> BatchOutcome:
        return BatchOutcome(
            self.changed + other.changed,
            self.unchanged + other.unchanged,
            self.skipped + other.skipped,
            self.denied + other.denied,
            self.failed + other.failed,
        )


class Module(Protocol):
    batch_size: int  # objects per batch (BATCH_SIZE or SET_BASED_BATCH_SIZE)

    def start(self, ctx: RunContext) -> None:
        """Prepare before the first batch; raise ModuleError for what makes the run impossible."""
        ...

    def apply(self, ctx: RunContext, ids: list[int]) -> BatchOutcome: ...

    def finish(self, ctx: RunContext) -> dict[str, Any]:
        """Extra data for the run's summary (the search module's CSV and hits)."""
        ...


class ModuleError(RunnerError):
    """What makes a run impossible before it touches anything (e.g. an unknown tag)."""
