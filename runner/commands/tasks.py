"""Finding a task by id or path, and loading it valid or not at all."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from runner.commands.check import task_id_for
from runner.commands.config import Workspace
from runner.errors import InvalidFile, TaskNotFound, UsageError
from runner.spec.files import Loaded
from runner.spec.semantic import load_task_file
from runner.spec.task import AnyTask

SUFFIXES = (".yaml", ".yml")


def resolve_task(workspace: Workspace, task: str, cwd: Path) -> tuple[Path, str]:
    """TASK is a path to a task file or an id under the tasks directory."""
    as_path = Path(task) if Path(task).is_absolute() else cwd / task
    if task.endswith(SUFFIXES) or as_path.is_file():
        if not as_path.is_file():
            raise UsageError(f"task file {task} does not exist")
        return as_path, task_id_for(as_path, workspace.config.tasks_dir)
    tasks_dir = workspace.config.tasks_dir
    found = [tasks_dir / f"{task}{suffix}" for suffix in SUFFIXES]
    existing = [p for p in found if p.is_file()]
    if not existing:
        raise TaskNotFound(task, workspace.config.model.tasks_dir)
    if len(existing) > 1:
        raise InvalidFile(str(existing[1]), [f"task id '{task}' is defined by both .yaml and .yml"])
    return existing[0], task


def load_valid_task(
    workspace: Workspace, task: str, cwd: Path, now: datetime
) -> tuple[str, Loaded[AnyTask]]:
    """The task's validated spec; an invalid file raises InvalidFile with every diagnostic."""
    path, task_id = resolve_task(workspace, task, cwd)
    loaded = load_task_file(path, task_id, workspace.check_context(now))
    if not loaded.ok:
        raise InvalidFile(str(path), [str(d) for d in loaded.errors])
    return task_id, loaded
