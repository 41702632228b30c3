"""The `Store` protocol and the values it returns: what the CLI, the modules and runs use.

Every write is one transaction per call (the run engine calls it once per batch), takes the
acting user's name, the run's id and `now`, keeps the previous version of each object it
changes, bumps `<ot>._version` and `_last_modified`, and appends a changelog entry. Writes
check rights themselves and report what they did not do (`denied`, `skipped`) instead of
failing the batch; `dry_run=True` computes the same result and rolls it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from runner.spec.datamodel import DataModel
from runner.spec.search import SearchRequest

Record = dict[str, Any]
Right = Literal["read", "write", "delete"]
Operation = Literal["insert", "update", "delete", "restore"]


@dataclass(frozen=True)
class ModelChange:
    """One difference `init` applied, e.g. ('added', 'field', 'images.rating')."""

    action: Literal["added", "removed", "changed"]
    kind: str
    name: str
    detail: str = ""

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.action} {self.kind} {self.name}{detail}"


@dataclass(frozen=True)
class InitReport:
    created: bool
    schema_version: int
    changes: tuple[ModelChange, ...] = ()


@dataclass(frozen=True)
class SearchResult:
    count: int
    records: tuple[Record, ...]


@dataclass(frozen=True)
class Since:
    """Only objects with a changelog entry after `instant` that no run in `exclude_runs` made.

    The run engine builds it for `incremental: true`: the start of the task's last successful
    run, and the ids of all the task's runs, so that a task does not select its own changes.
    """

    instant: datetime
    exclude_runs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Skipped:
    """An object a write left alone, and why: missing, trashed, no_tags, changed_since_run,
    inserted (a run's insert cannot be reverted)."""

    id: int
    reason: str


@dataclass(frozen=True)
class WriteResult:
    changed: tuple[int, ...] = ()
    unchanged: tuple[int, ...] = ()
    denied: tuple[int, ...] = ()
    skipped: tuple[Skipped, ...] = ()

    @property
    def total(self) -> int:
        return len(self.changed) + len(self.unchanged) + len(self.denied) + len(self.skipped)


@dataclass(frozen=True)
class RightsCheck:
    """`allowed()`: ids the user holds the right on, ids it does not, ids that do not exist."""

    allowed: tuple[int, ...]
    denied: tuple[int, ...]
    missing: tuple[int, ...] = ()


@dataclass(frozen=True)
class Version:
    """An object as it was at `version` (the last one is the current state)."""

    version: int
    record: Record


@dataclass(frozen=True)
class RunChange:
    """What one run did to one object: from `version_before` to `version_after`."""

    object_id: int
    operations: tuple[Operation, ...]
    version_before: int
    version_after: int
    previous: Record | None


@dataclass(frozen=True)
class Asset:
    """A file field's value: `path` is absolute (under the store's asset directory)."""

    object_id: int
    field: str
    path: Path
    size: int | None
    sha256: str | None
    mime: str | None


@dataclass(frozen=True)
class ImportProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class ImportReport:
    """`imported` lines were stored (`replaced` of them replaced an existing object);
    `rejected` lines were in batches with a problem, of which nothing was stored."""

    imported: int = 0
    replaced: int = 0
    rejected: int = 0
    problems: tuple[ImportProblem, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems


class Store(Protocol):
    """The objects the modules act on. Users are data-model user names."""

    @property
    def model(self) -> DataModel:
        """The data model the store holds (raises StoreNotInitialized before `init`)."""
        ...

    def init(self, model: DataModel) -> InitReport:
        """Create the store, or apply a changed data model keeping all data.

        Raises DestructiveChange, listing every reason, when the change would remove
        something objects use or reinterpret stored values; nothing is changed then."""
        ...

    def search(
        self,
        request: SearchRequest,
        *,
        user: str,
        now: datetime,
        timezone: str = "UTC",
        limit: int = 1000,
        since: Since | None = None,
    ) -> SearchResult:
        """Total matches and the first `limit` records, by the request's sort, else by id."""
        ...

    def count(
        self,
        request: SearchRequest,
        *,
        user: str,
        now: datetime,
        timezone: str = "UTC",
        since: Since | None = None,
    ) -> int: ...

    def iter_ids(
        self,
        request: SearchRequest,
        *,
        user: str,
        now: datetime,
        timezone: str = "UTC",
        batch_size: int = 1000,
        after_id: int = 0,
        since: Since | None = None,
    ) -> Iterator[list[int]]:
        """The matching ids above `after_id`, ascending, in batches.

        The matches are fixed when iteration starts, so writes between batches (the run's
        own) do not shift them; resume a run with `after_id` = its checkpoint."""
        ...

    def get(self, ids: Iterable[int]) -> list[Record]:
        """Records by id, ascending, trashed included; unknown ids are left out. No rights
        check: the ids come from a search as a user, or from `allowed`."""
        ...

    def allowed(self, ids: Iterable[int], user: str, right: Right) -> RightsCheck: ...

    def set_tags(
        self,
        ids: Iterable[int],
        set_ids: Iterable[int] = (),
        unset_ids: Iterable[int] = (),
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        comment: str | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        """Needs `write`. Setting a tag of a `choice` group removes the group's others."""
        ...

    def update_fields(
        self,
        changes: Mapping[int, Mapping[str, Any]],
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        comment: str | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        """Needs `write`. Per object, field name (of its objecttype) to value; None removes."""
        ...

    def trash(
        self,
        ids: Iterable[int],
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        comment: str | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        """Needs `delete`. Keeps the object, marked with the time and the trashing run."""
        ...

    def restore(
        self,
        ids: Iterable[int],
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        comment: str | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        """Needs `delete`. Takes objects out of the trash."""
        ...

    def restore_run(
        self,
        trashed_by: str,
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        comment: str | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        """Restores the objects that run `trashed_by` trashed and that are still in the trash."""
        ...

    def purge(
        self,
        ids: Iterable[int],
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        """Needs `delete` and system.purge or system.root (NotAllowed otherwise): removes the
        objects with their versions, changelog and assets for good."""
        ...

    def revert(
        self,
        changes: Sequence[RunChange],
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        comment: str | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        """Needs `write` (`delete` where it trashes or restores). Puts each object back to
        `version_before` as a new version, if it is still at `version_after`; otherwise it is
        skipped as `changed_since_run`. For `runner undo` with `changes_by_run()`."""
        ...

    def versions(self, object_id: int) -> list[Version]:
        """Every kept version, oldest first, ending with the current state."""
        ...

    def changes_by_run(self, run_id: str) -> list[RunChange]:
        """What a run changed, per object, with the record before the run."""
        ...

    def asset(self, object_id: int, field: str, index: int = 0) -> Asset | None:
        """A file field's value (`field` is the name within the object's objecttype)."""
        ...

    def import_records(
        self,
        lines: Iterable[str],
        *,
        user: str,
        now: datetime,
        run_id: str | None = None,
        batch_size: int = 1000,
    ) -> ImportReport:
        """fylr record JSON lines; each batch is stored whole or, with any bad line, not at
        all. An existing `_system_object_id` is replaced, so re-running is idempotent."""
        ...

    def export(self) -> Iterator[str]:
        """Every record, trashed included, by id, as canonical JSON lines (no newline)."""
        ...

    def close(self) -> None: ...
