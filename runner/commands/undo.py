"""`runner undo RUN_ID`: revert what a run did, as a new run of its task (trigger `undo`).

An undo mails as its task's file says now (`notify`), when that file exists and is valid: the
people told about a run hear about its undo too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from runner.clock import Clock
from runner.commands.config import Workspace, open_state_store, open_store
from runner.commands.gitinfo import git_commit
from runner.commands.run import environment
from runner.commands.tasks import load_valid_task
from runner.errors import RunnerError
from runner.runs.engine import CancelToken, RunOutcome, UndoRequest, execute_undo
from runner.spec.task import AnyTask
from runner.state.base import RunRecord


class RunNotFound(RunnerError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run '{run_id}' in the state; 'runner logs TASK' lists a task's runs")


class NotUndoable(RunnerError):
    pass


@dataclass(frozen=True)
class UndoPreview:
    target: RunRecord
    objects: int

    @property
    def question(self) -> str:
        return (
            f"revert {self.objects} objects changed by run {self.target.run_id} "
            f"of task '{self.target.task_id}'?"
        )


def find_run(workspace: Workspace, run_id: str) -> RunRecord:
    state = open_state_store(workspace.config)
    try:
        run = state.get(run_id)
    finally:
        state.close()
    if run is None:
        raise RunNotFound(run_id)
    if run.status == "running":
        raise NotUndoable(f"run {run_id} is still running; undo it when it has finished")
    if run.dry_run:
        raise NotUndoable(f"run {run_id} was a dry run: it changed nothing")
    return run


def preview_undo(workspace: Workspace, run_id: str) -> UndoPreview:
    target = find_run(workspace, run_id)
    store = open_store(workspace.config)
    try:
        changes = store.changes_by_run(run_id)
    finally:
        store.close()
    return UndoPreview(target, len(changes))


def current_spec(workspace: Workspace, task_id: str, now: datetime) -> AnyTask | None:
    """The task's file as it is now; None when it was deleted or is invalid."""
    try:
        _, loaded = load_valid_task(workspace, task_id, workspace.config.base, now)
    except RunnerError:
        return None
    return loaded.value


def undo(
    workspace: Workspace,
    target: RunRecord,
    *,
    clock: Clock,
    dry_run: bool,
    cancel: CancelToken,
    progress: Callable[[int, int], None] | None = None,
) -> RunOutcome:
    config = workspace.config
    request = UndoRequest(
        target,
        dry_run=dry_run,
        git_commit=git_commit(config.tasks_dir),
        spec=current_spec(workspace, target.task_id, clock.now()),
    )
    with environment(config, clock) as env:
        return execute_undo(request, env, cancel=cancel, progress=progress)
