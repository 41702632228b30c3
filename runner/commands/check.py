"""`runner check`: validate task files, runner.yaml, the data model, mapping profiles and email
templates; collect every problem."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.commands.config import Workspace
from runner.errors import UsageError
from runner.spec.diagnostics import Diagnostic, Severity
from runner.spec.files import (
    Loaded,
    load_config_file,
    load_datamodel_file,
    load_mapping_file,
)
from runner.spec.semantic import CheckContext, load_task_file
from runner.spec.task import AnyTask
from runner.spec.templates import TEMPLATE_SUFFIX, template_files

if TYPE_CHECKING:
    from runner.runs.template_check import TemplateProblems

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
    """The files to check, in order, each with its kind and (for tasks) its id."""

    entries: list[tuple[Path, str, str | None]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def add(self, path: Path, kind: str, task_id: str | None = None) -> None:
        key = _normal(path)
        if key not in self.seen:
            self.seen.add(key)
            self.entries.append((path, kind, task_id))


def check(
    workspace: Workspace, paths: list[str], *, now: datetime, cwd: Path, strict: bool = False
) -> CheckResult:
    plan = _plan(workspace, paths, cwd)
    ctx = workspace.check_context(now)
    ids: dict[str, Path] = {}
    specs: dict[str, AnyTask] = {}
    reports = {
        index: _check_one(workspace, path, kind, task_id, ctx, ids, cwd, specs)
        for index, (path, kind, task_id) in enumerate(plan.entries)
        if kind != "template"
    }
    problems = _check_templates(workspace, plan, specs, now)
    for index, (path, kind, _) in enumerate(plan.entries):
        if kind == "template":
            reports[index] = _template_report(path, problems, cwd)
    return CheckResult([reports[index] for index in range(len(plan.entries))], strict)


def _check_templates(
    workspace: Workspace, plan: _Plan, specs: dict[str, AnyTask], now: datetime
) -> TemplateProblems | None:
    """Templates are checked after the tasks that use them. A template file that was not
    named but has errors for a named task is added to the plan, as a broken config is.
    None when there is no template of the repository's to check."""
    config = workspace.config
    files = [path for path, kind, _ in plan.entries if kind == "template"]
    repository = template_files(config.templates_dir)
    if not files and not repository:
        return None  # Jinja is not even imported: `runner check` starts fast
    from runner.runs.template_check import check_templates

    problems = check_templates(
        config.templates_dir, files, specs, now=now, timezone=config.model.timezone
    )
    for path in repository:
        if problems.has_errors(path):
            plan.add(path, "template")
    return problems


def _template_report(path: Path, problems: TemplateProblems | None, cwd: Path) -> FileReport:
    try:
        source: str | None = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        source = None
    found = problems.of(path) if problems is not None else []
    return FileReport(display_path(path, cwd), None, found, source)


def _plan(workspace: Workspace, paths: list[str], cwd: Path) -> _Plan:
    plan = _Plan()
    config = workspace.config
    if not paths:
        for path, task_id in _task_files(config.tasks_dir, ""):
            plan.add(path, "task", task_id)
        if config.path is not None:
            plan.add(config.path, "config")
        if config.datamodel_path is not None:
            plan.add(config.datamodel_path, "datamodel")
        for path in workspace.mapping_files:
            plan.add(path, "mapping")
        for path in template_files(config.templates_dir):
            plan.add(path, "template")
        return plan
    kinds = _Kinds(workspace)
    for raw in paths:
        path = Path(raw) if Path(raw).is_absolute() else cwd / raw
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"path {raw} does not exist")
        if path.is_dir() and path.suffix not in TASK_SUFFIXES:
            prefix = _id_prefix(path, config.tasks_dir)
            for item, task_id in _task_files(path, prefix or ""):
                kind = kinds.of(item)
                plan.add(
                    item,
                    kind,
                    (task_id if prefix is not None else item.stem) if kind == "task" else None,
                )
            for template in template_files(path):
                plan.add(template, "template")
        else:
            kind = kinds.of(path)
            plan.add(path, kind, task_id_for(path, config.tasks_dir) if kind == "task" else None)
    _add_broken_dependencies(workspace, plan)
    return plan


def _add_broken_dependencies(workspace: Workspace, plan: _Plan) -> None:
    """An invalid runner.yaml or data model affects every task: always report it."""
    for loaded, kind in (
        (workspace.config_file, "config"),
        (workspace.datamodel_file, "datamodel"),
    ):
        if loaded is not None and loaded.errors:
            plan.add(loaded.path, kind)


class _Kinds:
    """Tells runner.yaml and the data model from task files, resolving paths only by name."""

    def __init__(self, workspace: Workspace) -> None:
        config = workspace.config
        self.special = {
            path.resolve(): kind
            for path, kind in ((config.path, "config"), (config.datamodel_path, "datamodel"))
            if path is not None
        }
        self.names = {p.name for p in self.special} | {"runner.yaml", "datamodel.yaml"}
        self.mappings_dir = _normal(config.mappings_dir)

    def of(self, path: Path) -> str:
        if path.name.endswith(TEMPLATE_SUFFIX):
            return "template"
        if _normal(path.parent) == self.mappings_dir:
            return "mapping"
        if path.name not in self.names:
            return "task"
        kind = self.special.get(path.resolve())
        if kind:
            return kind
        return {"runner.yaml": "config", "datamodel.yaml": "datamodel"}.get(path.name, "task")


def _normal(path: Path) -> str:
    return os.path.normpath(os.path.abspath(path))


def _id_prefix(directory: Path, tasks_dir: Path) -> str | None:
    """The task id prefix of files under `directory`; None when it is outside tasks_dir."""
    try:
        relative = directory.resolve().relative_to(tasks_dir.resolve())
    except ValueError:
        return None
    return "" if relative == Path(".") else relative.as_posix() + "/"


def _task_files(directory: Path, prefix: str) -> Iterator[tuple[Path, str]]:
    """YAML files under a directory, sorted, with their task ids; symlinked dirs followed."""
    if not directory.is_dir():
        return
    found: list[tuple[Path, str]] = []
    for root, dirs, files in os.walk(directory, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        relative = os.path.relpath(root, directory)
        base = "" if relative == "." else relative.replace(os.sep, "/") + "/"
        names = [f for f in files if f.endswith(TASK_SUFFIXES) and not f.startswith(".")]
        names += [d for d in dirs if d.endswith(TASK_SUFFIXES)]
        found += [(Path(root) / n, prefix + base + _strip_suffix(n)) for n in names]
    yield from sorted(found)


def _strip_suffix(name: str) -> str:
    return name.rsplit(".", 1)[0]


def task_id_for(path: Path, tasks_dir: Path) -> str:
    """The path under tasks_dir without its suffix; a file elsewhere has its stem as id."""
    try:
        relative = path.resolve().relative_to(tasks_dir.resolve())
    except (ValueError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return path.stem
    return relative.with_suffix("").as_posix()


def _check_one(
    workspace: Workspace,
    path: Path,
    kind: str,
    task_id: str | None,
    ctx: CheckContext,
    ids: dict[str, Path],
    cwd: Path,
    specs: dict[str, AnyTask],
) -> FileReport:
    shown = display_path(path, cwd)
    if kind == "config":
        loaded = workspace.config_file if _same(workspace.config_file, path) else None
        return _report(shown, None, loaded or _load_config(path))
    if kind == "datamodel":
        loaded_dm = workspace.datamodel_file if _same(workspace.datamodel_file, path) else None
        return _report(shown, None, loaded_dm or _load_datamodel(path))
    if kind == "mapping":
        known = workspace.mapping_files.get(path)
        return _report(shown, None, known or load_mapping_file(path, workspace.datamodel))
    task_id = task_id if task_id is not None else task_id_for(path, workspace.config.tasks_dir)
    loaded_task = load_task_file(path, task_id, ctx)
    diagnostics = list(loaded_task.diagnostics)
    if task_id in ids:
        other = display_path(ids[task_id], cwd)
        diagnostics.append(Diagnostic(1, 1, "", f"task id '{task_id}' is also defined by {other}"))
    ids.setdefault(task_id, path)
    if loaded_task.value is not None:
        specs.setdefault(task_id, loaded_task.value)
    return FileReport(shown, task_id, sorted(diagnostics), loaded_task.source)


def _same(loaded: Loaded[Any] | None, path: Path) -> bool:
    return loaded is not None and loaded.path.resolve() == path.resolve()


def _load_config(path: Path) -> Loaded[Any]:
    return load_config_file(path)


def _load_datamodel(path: Path) -> Loaded[Any]:
    return load_datamodel_file(path)


def _report(shown: str, task: str | None, loaded: Loaded[Any]) -> FileReport:
    return FileReport(shown, task, list(loaded.diagnostics), loaded.source)


def display_path(path: Path, cwd: Path) -> str:
    try:
        return path.absolute().relative_to(cwd.absolute()).as_posix()
    except ValueError:
        return str(path)


def files_checked(result: CheckResult) -> Iterable[str]:
    return (f.path for f in result.files)
