"""`runner plan`: what reconcile would do now, the daemon's own `plan()` on the files vs the state.

It reads the task files and the state and writes nothing: without a state file (no daemon has
run yet) every valid task is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runner.commands.config import Workspace
from runner.daemon.reconcile import DiffEntry, FileTask, Plan, Scanner, live_spec, plan
from runner.schedule import next_fires
from runner.spec.diagnostics import Diagnostic
from runner.spec.task import AnyTask
from runner.state.backends import open_existing_state
from runner.state.base import StateStore, TaskState

NEXT_RUNS = 3


@dataclass(frozen=True)
class Changed:
    """A task whose spec changes (`diff`), or, with an empty diff, whose file is valid again
    with the spec that kept running (its recorded error is cleared)."""

    task: str
    diff: list[DiffEntry]


@dataclass(frozen=True)
class Invalid:
    task: str
    path: str
    errors: list[Diagnostic]
    keeps_last_known_good: bool
    recorded: bool  # the state has this error already: applying changes nothing for it


@dataclass(frozen=True)
class PlanResult:
    changes: bool
    added: list[str]
    changed: list[Changed]
    removed: list[str]
    invalid: list[Invalid]
    next_runs: dict[str, list[datetime]]
    pruning_blocked: bool = False
    kept: list[str] = field(default_factory=list)  # not removed because pruning is blocked
    at_now: list[str] = field(default_factory=list)  # `at: now` tasks that fire when applied

    def as_json(self) -> dict[str, Any]:
        return {
            "changes": self.changes,
            "added": self.added,
            "changed": [
                {
                    "task": c.task,
                    "diff": [{"path": d.path, "old": d.old, "new": d.new} for d in c.diff],
                }
                for c in self.changed
            ],
            "removed": self.removed,
            "invalid": [
                {
                    "task": i.task,
                    "errors": [
                        {"line": e.line, "column": e.column, "loc": e.loc, "message": e.message}
                        for e in i.errors
                    ],
                    "keeps_last_known_good": i.keeps_last_known_good,
                }
                for i in self.invalid
            ],
            "next_runs": {
                task: [t.isoformat(timespec="seconds") for t in fires]
                for task, fires in self.next_runs.items()
            },
        }


def plan_now(workspace: Workspace, *, now: datetime) -> PlanResult:
    files = Scanner().scan(workspace, now)
    config = workspace.config
    state = open_existing_state(config.model.state, config.base)
    try:
        known = state.tasks(include_removed=True) if state else []
        result = plan(files, known, allow_empty=config.model.allow_empty)
        specs = _scheduled_specs(result, known)
        return PlanResult(
            changes=result.changes,
            added=[file.task_id for file in result.added],
            changed=_changed(result),
            removed=[task.task_id for task in result.removed],
            invalid=[_invalid(file, before) for file, before in result.invalid],
            next_runs=_next_runs(specs, state, now, config.model.timezone),
            pruning_blocked=result.pruning_blocked,
            kept=_kept(result, known),
            at_now=_at_now(specs, state),
        )
    finally:
        if state:
            state.close()


def _changed(result: Plan) -> list[Changed]:
    changed = [Changed(file.task_id, entries) for file, _, entries in result.changed]
    cleared = [Changed(file.task_id, []) for file, known in result.unchanged if known.error]
    return sorted(changed + cleared, key=lambda c: c.task)


def _invalid(file: FileTask, before: TaskState | None) -> Invalid:
    return Invalid(
        task=file.task_id,
        path=str(file.path),
        errors=list(file.errors),
        keeps_last_known_good=before is not None and before.spec is not None,
        recorded=before is not None and before.error == file.first_error,
    )


def _kept(result: Plan, known: list[TaskState]) -> list[str]:
    if not result.pruning_blocked:
        return []
    on_disk = {file.task_id for file in _files(result)}
    return [task.task_id for task in known if not task.removed and task.task_id not in on_disk]


def _files(result: Plan) -> list[FileTask]:
    return (
        result.added
        + [file for file, _, _ in result.changed]
        + [file for file, _ in result.invalid]
        + [file for file, _ in result.unchanged]
    )


def _scheduled_specs(result: Plan, known: list[TaskState]) -> dict[str, AnyTask]:
    """The spec of every task scheduled once the plan is applied: the valid file's, else the
    last-known-good one (an invalid file, or a deleted one while pruning is blocked)."""
    specs: dict[str, AnyTask] = {}
    for file in _files(result):
        if file.spec is not None:
            specs[file.task_id] = file.spec
    for task in _kept_states(result, known):
        spec = live_spec(task)
        if spec is not None:
            specs[task.task_id] = spec
    return dict(sorted(specs.items()))


def _kept_states(result: Plan, known: list[TaskState]) -> list[TaskState]:
    """Tasks that keep their last-known-good spec: invalid files, and deleted ones not pruned."""
    keeping = set(_kept(result, known)) | {file.task_id for file, _ in result.invalid}
    return [task for task in known if task.task_id in keeping and not task.removed]


def upcoming_fires(
    spec: AnyTask,
    task_id: str,
    state: StateStore | None,
    *,
    after: datetime,
    count: int,
    default_timezone: str,
) -> list[datetime]:
    """The next fires of a scheduled task: none when disabled or manual, none for an `at`
    that fired already (once per task id, ever), and none for `at: now`, whose time is when
    a daemon first sees it."""
    schedule = spec.schedule
    if schedule is None or not spec.enabled or at_fired(spec, task_id, state):
        return []
    return next_fires(
        schedule, task_id, after=after, count=count, default_timezone=default_timezone
    )


def _next_runs(
    specs: dict[str, AnyTask], state: StateStore | None, now: datetime, default_timezone: str
) -> dict[str, list[datetime]]:
    return {
        task_id: upcoming_fires(
            spec, task_id, state, after=now, count=NEXT_RUNS, default_timezone=default_timezone
        )
        for task_id, spec in specs.items()
    }


def at_fired(spec: AnyTask, task_id: str, state: StateStore | None) -> bool:
    """Whether the task is an `at` task that has fired already."""
    is_at = spec.schedule is not None and spec.schedule.at is not None
    return is_at and state is not None and state.has_at_fire(task_id)


def _at_now(specs: dict[str, AnyTask], state: StateStore | None) -> list[str]:
    return [
        task_id
        for task_id, spec in specs.items()
        if spec.enabled
        and spec.schedule is not None
        and spec.schedule.at == "now"
        and not at_fired(spec, task_id, state)
    ]
