"""runner plan [--format text|json] [--detailed-exitcode]"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from runner.cli.main import cli, config_option, env_of

if TYPE_CHECKING:
    from runner.commands.plan import Invalid, PlanResult

NO_CHANGES, FAILED, CHANGES = 0, 1, 2


class _UsageFailed(click.UsageError):
    exit_code = FAILED


class PlanCommand(click.Command):
    """With --detailed-exitcode, 2 means "changes": a usage error exits 1 instead."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        detailed = "--detailed-exitcode" in args
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if not detailed:
                raise
            raise _UsageFailed(exc.format_message(), exc.ctx) from None


@cli.command("plan", cls=PlanCommand)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@config_option
@click.pass_context
def plan_command(ctx: click.Context, fmt: str, detailed_exitcode: bool) -> None:
    """Show what reconcile would do now; writes nothing.

    Compares the task files with the state, as the daemon does: tasks added, changed (with
    the key-level diff), removed and invalid, and the next runs once applied.
    """
    from runner.commands.plan import plan_now

    env = env_of(ctx)
    workspace = env.workspace()
    result = plan_now(workspace, now=env.now())
    if fmt == "json":
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        click.echo(render_text(result, workspace.config.model.tasks_dir, env.cwd))
    if detailed_exitcode:
        ctx.exit(CHANGES if result.changes else NO_CHANGES)


def render_text(result: PlanResult, tasks_dir: str, cwd: Path) -> str:
    lines: list[str] = []
    runs = result.next_runs
    for task in result.added:
        lines += [f"  + {task}", *_next(runs.get(task), task in result.at_now)]
    for changed in result.changed:
        lines.append(f"  ~ {changed.task}")
        lines += [f"      {d.path}: {_value(d.old)} -> {_value(d.new)}" for d in changed.diff]
        if not changed.diff:
            lines.append("      valid again with the spec that kept running: its error is cleared")
        lines += _next(runs.get(changed.task), changed.task in result.at_now)
    lines += [f"  - {task}  (unscheduled; a running run finishes)" for task in result.removed]
    for invalid in result.invalid:
        lines += _invalid(invalid, cwd)
    return "\n".join(_header(result, tasks_dir) + lines + _footer(result, tasks_dir))


def _header(result: PlanResult, tasks_dir: str) -> list[str]:
    if not result.changes:
        return [f"No changes: the live schedule matches {tasks_dir}/."]
    return [f"Reconcile would change the live schedule to match {tasks_dir}/:", ""]


def _next(fires: list[datetime] | None, at_now: bool) -> list[str]:
    if at_now:
        return ["      fires once, when the daemon applies this"]
    if not fires:
        return []
    return ["      next: " + ", ".join(f"{t:%Y-%m-%d %H:%M} {_offset(t)}" for t in fires)]


def _offset(value: datetime) -> str:
    text = value.strftime("%z")
    return f"{text[:3]}:{text[3:]}" if text else ""


def _value(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _invalid(invalid: Invalid, cwd: Path) -> list[str]:
    keeps = (
        "keeps its last-known-good spec running"
        if invalid.keeps_last_known_good
        else "schedules nothing"
    )
    recorded = "; error already recorded" if invalid.recorded else ""
    head = f"  ! {invalid.task}  (invalid: {keeps}{recorded})"
    path = _shown(Path(invalid.path), cwd)
    return [head, *(f"      {path}:{error}" for error in invalid.errors)]


def _shown(path: Path, cwd: Path) -> str:
    """Relative to the working directory when the file is under it."""
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)


def _footer(result: PlanResult, tasks_dir: str) -> list[str]:
    lines = [""]
    if result.pruning_blocked:
        lines += [
            f"Note: {tasks_dir}/ has no valid task, so nothing is removed; "
            f"{len(result.kept)} task(s) keep running: {', '.join(result.kept)}.",
            "Set allow_empty: true in runner.yaml to let an empty tasks directory unschedule them.",
            "",
        ]
    counts = (
        f"{len(result.added)} to add, {len(result.changed)} to change, "
        f"{len(result.removed)} to remove, {len(result.invalid)} invalid."
    )
    return [*lines, f"Plan: {counts}"]
