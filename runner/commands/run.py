"""`runner run TASK`: the manual trigger; `preview` tells the CLI what it is about to do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from runner.clock import Clock
from runner.commands.config import Workspace, open_state_store, open_store
from runner.commands.gitinfo import git_commit
from runner.commands.tasks import load_valid_task
from runner.errors import RunnerError
from runner.runs.engine import CancelToken, Environment, RunOutcome, RunRequest, execute
from runner.runs.notify import Notifier
from runner.spec.config import Config
from runner.spec.task import AnyTask, zone_of

CHANGES_NOTHING = ("search",)
VERBS = {
    "delete_objects": "move to the trash",
    "set_unset_tags": "set/unset tags on",
    "metadata": "re-apply metadata to",
    "search": "search",
}


@dataclass(frozen=True)
class Preview:
    task_id: str
    spec: AnyTask
    matched: int
    dry_run: bool

    @property
    def changes_data(self) -> bool:
        return self.spec.module not in CHANGES_NOTHING and not self.dry_run

    @property
    def question(self) -> str:
        spec = self.spec
        verb = "purge (delete for good)" if self._purges else VERBS[spec.module]
        return f"{verb} {self.matched} objects as '{spec.run_as}' with task '{self.task_id}'?"

    @property
    def _purges(self) -> bool:
        return self.spec.module == "delete_objects" and self.spec.params.mode == "purge"


class TaskDisabled(RunnerError):
    def __init__(self, task_id: str) -> None:
        super().__init__(
            f"task '{task_id}' is disabled (enabled: false); use --force to run it anyway"
        )


def load_for_run(
    workspace: Workspace, task: str, cwd: Path, now: datetime, force: bool
) -> tuple[str, AnyTask]:
    task_id, loaded = load_valid_task(workspace, task, cwd, now)
    spec = loaded.value
    assert spec is not None
    if not spec.enabled and not force:
        raise TaskDisabled(task_id)
    return task_id, spec


def preview(
    workspace: Workspace, task_id: str, spec: AnyTask, *, now: datetime, dry_run: bool
) -> Preview:
    """How many objects the task's search matches now, as its user."""
    store = open_store(workspace.config)
    try:
        timezone = str(zone_of(spec, workspace.config.model.timezone))
        matched = store.count(spec.search, user=spec.run_as, now=now, timezone=timezone)
    finally:
        store.close()
    return Preview(task_id, spec, matched, dry_run or spec.dry_run)


@contextmanager
def environment(config: Config, clock: Clock) -> Iterator[Environment]:
    """What a manual run (or undo) runs with: the configured store, state, logs and email."""
    store = open_store(config)
    try:
        state = open_state_store(config)
    except BaseException:
        store.close()
        raise
    try:
        yield Environment(
            store=store,
            state=state,
            clock=clock,
            logs_dir=config.logs_dir,
            mappings_dir=config.mappings_dir,
            timezone=config.model.timezone,
            retention=config.model.retention,
            lease=config.model.lease,
            notify=Notifier(config, clock),
        )
    finally:
        store.close()
        state.close()


def run_task(
    workspace: Workspace,
    task_id: str,
    spec: AnyTask,
    *,
    clock: Clock,
    dry_run: bool,
    cancel: CancelToken,
    progress: Callable[[int, int], None] | None = None,
) -> RunOutcome:
    config = workspace.config
    request = RunRequest(
        task_id, spec, "manual", dry_run=dry_run, git_commit=git_commit(config.tasks_dir)
    )
    with environment(config, clock) as env:
        return execute(request, env, cancel=cancel, progress=progress)
