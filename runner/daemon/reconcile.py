"""Reconcile: compare `tasks.d/` with the state and apply the difference (DESIGN section 8).

- a new valid file is added; a new invalid file schedules nothing (its error is recorded);
- a changed valid file replaces the spec, from the next fire on;
- a changed invalid file keeps the last-known-good spec running and records the error;
- a deleted file unschedules its task (a running run finishes);
- when the tasks directory holds no valid task while tasks are scheduled, nothing is pruned
  unless runner.yaml has `allow_empty: true` (a half-finished checkout or an unmounted volume
  must not unschedule everything).

`plan()` is pure: it only compares; `apply()` writes the plan to the state, in one
transaction. `runner plan` shows the same plan the daemon applies. The daemon plans only what
an edit touched: the Scanner re-reads the files the watcher named, and `plan()` compares those
tasks alone (told whether the rest of the directory holds a valid task).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.commands.check import task_id_for
from runner.commands.config import Workspace
from runner.spec.diagnostics import Diagnostic
from runner.spec.semantic import CheckContext, load_task_file
from runner.spec.task import AnyTask, canonical_hash, validate_task
from runner.state.base import StateStore, TaskState

SUFFIXES = (".yaml", ".yml")


Stamp = tuple[int, int, int]  # mtime_ns, size, inode
GONE: Stamp = (0, 0, 0)
# More named paths than this (a large checkout; or events lost to an inotify overflow, which
# arrive with a burst) are rescanned by a walk, which is cheap next to re-reading the files.
MAX_NAMED_PATHS = 64


@dataclass(frozen=True)
class FileTask:
    """A task file as it is now: its spec when valid, else its errors."""

    task_id: str
    path: Path
    spec: AnyTask | None
    errors: tuple[Diagnostic, ...] = ()

    @functools.cached_property
    def canonical(self) -> dict[str, Any] | None:
        return self.spec.model_dump(mode="json", by_alias=True) if self.spec else None

    @functools.cached_property
    def spec_hash(self) -> str | None:
        """Computed once per scan of a changed file (the scanner reuses unchanged ones)."""
        return canonical_hash(self.canonical) if self.canonical is not None else None

    @property
    def first_error(self) -> str | None:
        return f"{self.path.name}:{self.errors[0]}" if self.errors else None


@dataclass
class Scanner:
    """Reads the task files, re-parsing only those whose stat changed since the last scan.

    `scan()` walks the whole directory; `rescan()` looks only at the files the watcher named,
    so that an edit costs the work of the files it changed. Named rescans are refused (None)
    when paths alias: after a walk met a symbolic link below the tasks directory.
    """

    cache: dict[str, tuple[Stamp, FileTask]] = field(default_factory=dict)
    root: str | None = None  # the tasks directory with links resolved, as the watcher sees it
    linked: bool = False

    def scan(self, workspace: Workspace, now: datetime, *, force: bool = False) -> list[FileTask]:
        tasks_dir = workspace.config.tasks_dir
        contexts = _Contexts(workspace, now)
        found: dict[str, tuple[Stamp, FileTask]] = {}
        walked, self.linked = _walk(tasks_dir)
        for relative, stamp, via_link in walked:
            key = os.path.join(tasks_dir, relative)
            cached = self.cache.get(key)
            if cached and cached[0] == stamp and not force:
                found[key] = cached
                continue
            path = Path(key)
            task_id = task_id_for(path, tasks_dir) if via_link else _task_id(relative)
            found[key] = (stamp, read_task(path, task_id, contexts.get()))
        self.cache, self.root = found, os.path.realpath(tasks_dir)
        return _duplicates_refused([entry for _, entry in found.values()])

    def rescan(
        self, paths: Collection[str], workspace: Workspace, now: datetime
    ) -> list[str] | None:
        """Re-read the named files; the ids of the tasks whose files changed, or None when
        only a walk can tell (paths outside the tasks directory, links, too many paths)."""
        named = self._named(paths)
        if named is None:
            return None
        tasks_dir = workspace.config.tasks_dir
        contexts = _Contexts(workspace, now)
        changed = set()
        for relative in named:
            key = os.path.join(tasks_dir, relative)
            stamp, cached = _stamp(key), self.cache.get(key)
            if cached is not None and cached[0] == stamp:
                continue
            changed.add(_task_id(relative))
            if stamp == GONE:
                self.cache.pop(key, None)
            else:
                task = read_task(Path(key), _task_id(relative), contexts.get())
                self.cache[key] = (stamp, task)
        return sorted(changed)

    def _named(self, paths: Collection[str]) -> list[str] | None:
        """The named paths relative to the tasks directory, those a walk skips left out."""
        if self.root is None or self.linked or len(paths) > MAX_NAMED_PATHS:
            return None
        prefix = self.root + os.sep
        named = []
        for path in paths:
            if not path.startswith(prefix):
                return None
            relative = path.removeprefix(prefix)
            if any(part.startswith(".") for part in relative.split(os.sep)):
                continue  # hidden, as the walk has it
            if not relative.endswith(SUFFIXES) or os.path.islink(path):
                return None
            named.append(relative)
        return named

    def files(self, task_ids: Iterable[str], workspace: Workspace) -> list[FileTask]:
        """The files of these tasks as last scanned (after `rescan()`: no links)."""
        tasks_dir = workspace.config.tasks_dir
        found = []
        for task_id in task_ids:
            for suffix in SUFFIXES:
                cached = self.cache.get(os.path.join(tasks_dir, task_id + suffix))
                if cached is not None:
                    found.append(cached[1])
        return _duplicates_refused(found)

    def any_valid(self) -> bool:
        """Whether the tasks directory holds a valid task (a duplicated id is not one)."""
        if self.linked:
            return any(file.spec for file in _duplicates_refused(self._files()))
        return any(
            file.spec is not None and not self._duplicated(key)
            for key, (_, file) in self.cache.items()
        )

    def _files(self) -> list[FileTask]:
        return [file for _, file in self.cache.values()]

    def _duplicated(self, key: str) -> bool:
        stem, suffix = os.path.splitext(key)
        return stem + (".yml" if suffix == ".yaml" else ".yaml") in self.cache


class _Contexts:
    """The check context, made only when a file is actually read."""

    def __init__(self, workspace: Workspace, now: datetime) -> None:
        self.workspace, self.now = workspace, now
        self.made: CheckContext | None = None

    def get(self) -> CheckContext:
        if self.made is None:
            self.made = self.workspace.check_context(self.now)
        return self.made


def _stamp(path: str) -> Stamp:
    try:
        info = os.stat(path)
    except OSError:
        return GONE
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def _task_id(relative: str) -> str:
    """The id of a file reached without links: its path below tasks_dir without the suffix
    (what `task_id_for` finds, without resolving the path)."""
    return os.path.splitext(relative)[0].replace(os.sep, "/")


def _walk(tasks_dir: Path) -> tuple[list[tuple[str, Stamp, bool]], bool]:
    """(path relative to tasks_dir, stat, reached through a link) of every task file, in path
    order, skipping hidden files and directories; and whether any link was met."""
    found: list[tuple[str, Stamp, bool]] = []
    if tasks_dir.is_dir():
        _walk_into(str(tasks_dir), "", False, found)
    found.sort(key=lambda item: item[0].split(os.sep))
    return found, any(via_link for _, _, via_link in found)


def _walk_into(
    directory: str, prefix: str, via_link: bool, found: list[tuple[str, Stamp, bool]]
) -> None:
    try:
        with os.scandir(directory) as scanned:
            entries = sorted(scanned, key=lambda entry: entry.name)
    except OSError:
        return  # unreadable: skipped, as os.walk does
    for entry in entries:
        if entry.name.startswith("."):
            continue
        linked = via_link or entry.is_symlink()
        if _is_dir(entry):
            _walk_into(entry.path, prefix + entry.name + os.sep, linked, found)
        elif entry.name.endswith(SUFFIXES):
            found.append((prefix + entry.name, _entry_stamp(entry), linked))


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _entry_stamp(entry: os.DirEntry[str]) -> Stamp:
    try:
        info = entry.stat()
    except OSError:
        return GONE
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def read_task(path: Path, task_id: str, ctx: CheckContext) -> FileTask:
    loaded = load_task_file(path, task_id, ctx)
    errors = tuple(loaded.errors)
    return FileTask(task_id, path, loaded.value if not errors else None, errors)


def _duplicates_refused(files: list[FileTask]) -> list[FileTask]:
    """A `.yaml` and a `.yml` with the same id: both are invalid, neither is guessed."""
    by_id: dict[str, list[FileTask]] = {}
    for file in files:
        by_id.setdefault(file.task_id, []).append(file)
    result = []
    for task_id, group in sorted(by_id.items()):
        if len(group) == 1:
            result.append(group[0])
            continue
        names = " and ".join(f.path.name for f in group)
        problem = Diagnostic(1, 1, "", f"task id '{task_id}' is defined by both {names}")
        result.append(FileTask(task_id, group[0].path, None, (problem,)))
    return result


@dataclass(frozen=True)
class DiffEntry:
    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Plan:
    added: list[FileTask]
    changed: list[tuple[FileTask, TaskState, list[DiffEntry]]]
    removed: list[TaskState]
    invalid: list[tuple[FileTask, TaskState | None]]
    unchanged: list[tuple[FileTask, TaskState]]
    pruning_blocked: bool = False

    @property
    def changes(self) -> bool:
        new_errors = any(
            known is None or known.error != file.first_error for file, known in self.invalid
        )
        cleared = any(known.error is not None for _, known in self.unchanged)
        return bool(self.added or self.changed or self.removed or new_errors or cleared)


def plan(
    files: Iterable[FileTask],
    known: Iterable[TaskState],
    *,
    allow_empty: bool,
    any_valid: bool | None = None,
) -> Plan:
    """Compare files with the state's tasks. Both may be the part an edit touched (the same
    task ids on each side): then `any_valid` says whether the whole tasks directory holds a
    valid task, which decides whether removals are blocked."""
    files = list(files)
    state = {task.task_id: task for task in known if not task.removed}
    on_disk = {file.task_id for file in files}
    added, changed, invalid, unchanged = [], [], [], []
    for file in files:
        previous = state.get(file.task_id)
        if file.spec is None:
            invalid.append((file, previous))
        elif previous is None or previous.spec is None:
            added.append(file)
        elif previous.spec_hash != file.spec_hash:
            changed.append((file, previous, diff(previous.spec, file.canonical)))
        else:
            unchanged.append((file, previous))
    removed = [task for task_id, task in state.items() if task_id not in on_disk]
    no_valid = not (any(file.spec for file in files) if any_valid is None else any_valid)
    blocked = bool(removed) and no_valid and not allow_empty
    return Plan(added, changed, [] if blocked else removed, invalid, unchanged, blocked)


def diff(old: Any, new: Any, prefix: str = "") -> list[DiffEntry]:
    """Key-level differences between two JSON values, as dotted paths."""
    if isinstance(old, dict) and isinstance(new, dict):
        entries: list[DiffEntry] = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            entries += diff(old.get(key), new.get(key), path)
        return entries
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            e
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for e in diff(a, b, f"{prefix}.{i}")
        ]
    return [] if old == new else [DiffEntry(prefix, old, new)]


def apply(result: Plan, state: StateStore, now: datetime) -> list[TaskState]:
    """Write the plan in one transaction: new and changed specs, recorded errors, removed
    tasks. Returns the rows written."""
    rows = [_row(file, None, now) for file in result.added]
    rows += [_row(file, before, now) for file, before, _ in result.changed]
    rows += [
        _row(file, known, now)
        for file, known in result.unchanged
        if known.error is not None or str(file.path) != known.path
    ]
    rows += [
        _error_row(file, maybe, now)
        for file, maybe in result.invalid
        if not _error_recorded(file, maybe)
    ]
    rows += [_replace(task, removed=True, updated=now) for task in result.removed]
    if rows:
        state.put_tasks(rows)
    return rows


def _row(file: FileTask, previous: TaskState | None, now: datetime) -> TaskState:
    assert file.spec is not None
    return TaskState(
        task_id=file.task_id,
        spec=file.canonical,
        spec_hash=file.spec_hash,
        path=str(file.path),
        error=None,
        enabled=file.spec.enabled,
        first_seen=previous.first_seen if previous else now,
        updated=now,
        evaluated_until=_evaluated_until(previous, now),
    )


def _evaluated_until(previous: TaskState | None, now: datetime) -> datetime | None:
    """A disabled task considers no fires: enabled again, it starts from now, not with the
    fires it would have had while disabled."""
    if previous is None or not previous.enabled:
        return now
    return previous.evaluated_until


def _error_recorded(file: FileTask, previous: TaskState | None) -> bool:
    return (
        previous is not None
        and previous.error == file.first_error
        and previous.path == str(file.path)
    )


def _error_row(file: FileTask, previous: TaskState | None, now: datetime) -> TaskState:
    return TaskState(
        task_id=file.task_id,
        spec=previous.spec if previous else None,
        spec_hash=previous.spec_hash if previous else None,
        path=str(file.path),
        error=file.first_error,
        enabled=previous.enabled if previous else False,
        first_seen=previous.first_seen if previous else now,
        updated=now,
        evaluated_until=previous.evaluated_until if previous else now,
    )


def _replace(task: TaskState, **changes: Any) -> TaskState:
    return dataclasses.replace(task, **changes)


def live_spec(task: TaskState) -> AnyTask | None:
    """The spec a task runs with: its last-known-good one (valid or not, the file now)."""
    if task.spec is None or task.removed:
        return None
    return validate_task(task.spec, task.task_id)
