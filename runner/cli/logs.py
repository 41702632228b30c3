"""runner logs [TASK] [--run ID] [--follow] [--level L] [--format text|json]"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from runner.cli.main import cli, config_option, env_of
from runner.runs.log import LEVELS, read_lines


@cli.command("logs")
@click.argument("task", required=False)
@click.option("--run", "run_id", metavar="ID", help="Show this run's events.")
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="With --run (or TASK's latest run): follow it until it finishes.",
)
@click.option("--level", type=click.Choice(LEVELS), help="Only events of this level and above.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@config_option
@click.pass_context
def logs_command(
    ctx: click.Context,
    task: str | None,
    run_id: str | None,
    follow: bool,
    level: str | None,
    fmt: str,
) -> None:
    """A task's runs (all tasks' without TASK), or one run's events."""
    from runner.commands import logs

    env = env_of(ctx)
    workspace = env.workspace()
    task_id = _task_id(task, workspace, env.cwd)
    if run_id is None and follow:
        runs = logs.list_runs(workspace, task_id)
        if not runs:
            raise click.UsageError("no runs to follow")
        run_id = runs[-1].run
    if run_id is None:
        _runs(logs.list_runs(workspace, task_id), task_id, fmt)
        return
    path = logs.find_log(workspace, run_id)
    keep = logs.at_least(level)
    lines = logs.follow(path) if follow else iter(read_lines(path))
    for line in lines:
        if keep(line):
            click.echo(json.dumps(line, ensure_ascii=False) if fmt == "json" else _line(line))


def _task_id(task: str | None, workspace: Any, cwd: Any) -> str | None:
    if task is None:
        return None
    if task.endswith((".yaml", ".yml")):
        from runner.commands.tasks import resolve_task

        return resolve_task(workspace, task, cwd)[1]
    return task


def _line(line: dict[str, Any]) -> str:
    base = {"ts", "run", "task", "seq", "level", "event", "msg"}
    extra = {k: v for k, v in line.items() if k not in base and v is not None}
    shown = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in extra.items())
    head = f"{line.get('ts')} {line.get('level', ''):<7} {line.get('event', ''):<14}"
    tail = f"  {shown}" if shown and line.get("event") != "run_started" else ""
    return f"{head} {line.get('msg', '')}{tail}"


def _runs(runs: list[Any], task_id: str | None, fmt: str) -> None:
    if fmt == "json":
        entries = [r.as_json() | ({"task": r.task} if task_id is None else {}) for r in runs]
        click.echo(json.dumps({"task": task_id, "runs": entries}, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    columns = ["run", "trigger", "started", "duration", "status", "matched", "changed", "problems"]
    if task_id is None:
        columns.insert(0, "task")
    for column in columns:
        table.add_column(column, no_wrap=column in ("task", "run", "started"))
    for r in runs:
        counts = r.counts or {}
        problems = (counts.get("denied", 0) + counts.get("failed", 0)) if counts else 0
        status = r.status + (f" ({r.reason})" if r.reason else "")
        row = [
            r.run,
            r.trigger or "",
            (r.started or "").replace("T", " ")[:19],
            f"{r.duration_s:.1f} s" if r.duration_s is not None else "",
            status,
            str(counts.get("matched", "")),
            str(counts.get("changed", "")),
            str(problems or ""),
        ]
        table.add_row(*([r.task] if task_id is None else []), *row)
    console = Console(width=None if sys.stdout.isatty() else 1000)
    console.print(table)
    if not runs:
        console.print("no runs yet")
