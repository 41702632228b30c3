"""`runner check`: validate task files, runner.yaml and the data model; collect every problem."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from runner.commands.config import Workspace
from runner.errors import UsageError
from runner.spec.diagnostics import Diagnostic, Severity
from runner.spec.files import Loaded
from runner.spec.semantic import CheckContext, load_task_file
from runner.spec.templates import template_names

TASK_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class FileReport:
    path: str
    task: str | None
    diagnostics: list[Diagnostic]
    source: str | None = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]


@dataclass(frozen=True)
class CheckResult:
    files: list[FileReport]
    strict: bool = False

    @property
    def error_count(self) -> int:
        return sum(len(f.errors) for f in self.files)

    @property
    def warning_count(self) -> int:
        return sum(len(f.warnings) for f in self.files)

    @property
    def valid(self) -> bool:
        return self.error_count == 0 and not (self.strict and self.warning_count)


@dataclass
class _Plan:
    """The files to check, in order, each with its kind."""

    entries: list[tuple[Path, str]] = field(default_factory=list)
    seen: set[Path] = field(default_factory=set)

    def add(self, path: Path, kind: str) -> None:
        key = path.resolve() if path.exists() else path
        if key not in self.seen:
            self.seen.add(key)
            self.entries.append((path, kind))


def check(
    workspace: Workspace, paths: list[str], *, now: datetime, cwd: Path, strict: bool = False
) -> CheckResult:
    plan = _plan(workspace, paths, cwd)
    ctx = CheckContext(
        now=now,
        timezone=workspace.config.model.timezone,
        datamodel=workspace.datamodel,
        templates=frozenset(template_names(workspace.config.templates_dir)),
    )
    ids: dict[str, Path] = {}
    reports = [_check_one(workspace, path, kind, ctx, ids, cwd) for path, kind in plan.entries]
    return CheckResult(reports, strict)


def _plan(workspace: Workspace, paths: list[str], cwd: Path) -> _Plan:
    plan = _Plan()
    config = workspace.config
    if not paths:
        for path in _yaml_files(config.tasks_dir):
            plan.add(path, "task")
        if config.path is not None:
            plan.add(config.path, "config")
        if config.datamodel_path is not None:
            plan.add(config.datamodel_path, "datamodel")
        return plan
    for raw in paths:
        path = Path(raw) if Path(raw).is_absolute() else cwd / raw
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"path {raw} does not exist")
        is_tree = path.is_dir() and path.suffix not in TASK_SUFFIXES
        for item in _yaml_files(path) if is_tree else [path]:
            plan.add(item, _kind(workspace, item))
    _add_broken_dependencies(workspace, plan)
    return plan


def _add_broken_dependencies(workspace: Workspace, plan: _Plan) -> None:
    """An invalid runner.yaml or data model affects every task: always report it."""
    for loaded, kind in ((workspace.config_file, "config"), (workspace.datamodel_file, "datamodel")):
        if loaded is not None and loaded.errors:
            plan.add(loaded.path, kind)


def _kind(workspace: Workspace, path: Path) -> str:
    config = workspace.config
    resolved = path.resolve()
    if config.path is not None and resolved == config.path.resolve():
        return "config"
    if path.name == "runner.yaml":
        return "config"
    datamodel = config.datamodel_path
    if (datamodel is not None and resolved == datamodel.resolve()) or path.name == "datamodel.yaml":
        return "datamodel"
    return "task"


def _yaml_files(directory: Path) -> Iterator[Path]:
    """Task files under a directory, sorted, following symlinked directories once."""
    if not directory.is_dir():
        return
    found: list[Path] = []
    for root, dirs, files in os.walk(directory, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        base = Path(root)
        found += [base / f for f in files if f.endswith(TASK_SUFFIXES) and not f.startswith(".")]
        found += [base / d for d in dirs if d.endswith(TASK_SUFFIXES)]
    yield from sorted(found)


def task_id_for(path: Path, tasks_dir: Path) -> str:
    """The path under tasks_dir without its suffix; a file elsewhere has its stem as id."""
    try:
        relative = path.resolve().relative_to(tasks_dir.resolve())
    except ValueError:
        return path.stem
    return relative.with_suffix("").as_posix()


def _check_one(
    workspace: Workspace,
    path: Path,
    kind: str,
    ctx: CheckContext,
    ids: dict[str, Path],
    cwd: Path,
) -> FileReport:
    shown = display_path(path, cwd)
    if kind == "config":
        loaded = workspace.config_file if _same(workspace.config_file, path) else None
        return _report(shown, None, loaded or _load_config(path))
    if kind == "datamodel":
        loaded_dm = workspace.datamodel_file if _same(workspace.datamodel_file, path) else None
        return _report(shown, None, loaded_dm or _load_datamodel(path))
    task_id = task_id_for(path, workspace.config.tasks_dir)
    loaded_task = load_task_file(path, task_id, ctx)
    diagnostics = list(loaded_task.diagnostics)
    if task_id in ids:
        other = display_path(ids[task_id], cwd)
        diagnostics.append(Diagnostic(1, 1, "", f"task id '{task_id}' is also defined by {other}"))
    ids.setdefault(task_id, path)
    return FileReport(shown, task_id, sorted(diagnostics), loaded_task.source)


def _same(loaded: Loaded[object] | None, path: Path) -> bool:
    return loaded is not None and loaded.path.resolve() == path.resolve()


def _load_config(path: Path) -> Loaded[object]:
    from runner.spec.files import load_config_file

    return load_config_file(path)  # type: ignore[return-value]


def _load_datamodel(path: Path) -> Loaded[object]:
    from runner.spec.files import load_datamodel_file

    return load_datamodel_file(path)  # type: ignore[return-value]


def _report(shown: str, task: str | None, loaded: Loaded[object] | Loaded[object]) -> FileReport:
    return FileReport(shown, task, list(loaded.diagnostics), loaded.source)


def display_path(path: Path, cwd: Path) -> str:
    try:
        return path.absolute().relative_to(cwd.absolute()).as_posix()
    except ValueError:
        return str(path)


def files_checked(result: CheckResult) -> Iterable[str]:
    return (f.path for f in result.files)
