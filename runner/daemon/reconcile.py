"""Reconcile: compare `tasks.d/` with the state and apply the difference (DESIGN section 8).

- a new valid file is added; a new invalid file schedules nothing (its error is recorded);
- a changed valid file replaces the spec, from the next fire on;
- a changed invalid file keeps the last-known-good spec running and records the error;
- a deleted file unschedules its task (a running run finishes);
- when the tasks directory holds no valid task while tasks are scheduled, nothing is pruned
  unless runner.yaml has `allow_empty: true` (a half-finished checkout or an unmounted volume
  must not unschedule everything).

`plan()` is pure: it only compares; `apply()` writes the plan to the state. `runner plan`
shows the same plan the daemon applies.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.commands.check import task_id_for
from runner.commands.config import Workspace
from runner.spec.diagnostics import Diagnostic
from runner.spec.semantic import CheckContext, load_task_file
from runner.spec.task import AnyTask, validate_task
from runner.state.base import StateStore, TaskState

SUFFIXES = (".yaml", ".yml")


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
        return self.spec.spec_hash() if self.spec else None

    @property
    def first_error(self) -> str | None:
        return f"{self.path.name}:{self.errors[0]}" if self.errors else None


@dataclass
class Scanner:
    """Reads the task files, re-parsing only those whose stat changed since the last scan."""

    cache: dict[str, tuple[tuple[int, int, int], FileTask]] = field(default_factory=dict)

    def scan(self, workspace: Workspace, now: datetime, *, force: bool = False) -> list[FileTask]:
        ctx = workspace.check_context(now)
        tasks_dir = workspace.config.tasks_dir
        found: dict[str, tuple[tuple[int, int, int], FileTask]] = {}
        for path in _task_paths(tasks_dir):
            key = str(path)
            stamp = _stamp(path)
            cached = self.cache.get(key)
            if cached and cached[0] == stamp and not force:
                found[key] = cached
                continue
            found[key] = (stamp, read_task(path, task_id_for(path, tasks_dir), ctx))
        self.cache = found
        return _duplicates_refused([entry for _, entry in found.values()])


def _stamp(path: Path) -> tuple[int, int, int]:
    try:
        info = path.stat()
    except OSError:
        return (0, 0, 0)
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def _task_paths(tasks_dir: Path) -> list[Path]:
    if not tasks_dir.is_dir():
        return []
    paths: list[Path] = []
    for root, dirs, files in os.walk(tasks_dir, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        paths += [Path(root) / f for f in files if f.endswith(SUFFIXES) and not f.startswith(".")]
    return sorted(paths)


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


def plan(files: Iterable[FileTask], known: Iterable[TaskState], *, allow_empty: bool) -> Plan:
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
    no_valid = not any(file.spec for file in files)
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


def apply(result: Plan, state: StateStore, now: datetime) -> None:
    """Write the plan: new and changed specs, recorded errors, removed tasks."""
    for file in result.added:
        _put(state, file, None, now)
    for file, before, _ in result.changed:
        _put(state, file, before, now)
    for file, known in result.unchanged:
        if known.error is not None or str(file.path) != known.path:
            _put(state, file, known, now)
    for file, maybe in result.invalid:
        _record_error(state, file, maybe, now)
    for task in result.removed:
        state.put_task(_replace(task, removed=True, updated=now))


def _put(state: StateStore, file: FileTask, previous: TaskState | None, now: datetime) -> None:
    assert file.spec is not None
    state.put_task(
        TaskState(
            task_id=file.task_id,
            spec=file.canonical,
            spec_hash=file.spec_hash,
            path=str(file.path),
            error=None,
            enabled=file.spec.enabled,
            first_seen=previous.first_seen if previous else now,
            updated=now,
            evaluated_until=previous.evaluated_until if previous else now,
        )
    )


def _record_error(
    state: StateStore, file: FileTask, previous: TaskState | None, now: datetime
) -> None:
    if (
        previous is not None
        and previous.error == file.first_error
        and previous.path == str(file.path)
    ):
        return
    state.put_task(
        TaskState(
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
    )


def _replace(task: TaskState, **changes: Any) -> TaskState:
    return dataclasses.replace(task, **changes)


def live_spec(task: TaskState) -> AnyTask | None:
    """The spec a task runs with: its last-known-good one (valid or not, the file now)."""
    if task.spec is None or task.removed:
        return None
    return validate_task(task.spec, task.task_id)
