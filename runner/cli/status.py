"""runner status [--format text|json]"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import click

from runner.cli.main import cli, config_option, env_of

if TYPE_CHECKING:
    from rich.console import Console

    from runner.commands.status import StatusResult, TaskStatus


@cli.command("status")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@config_option
@click.pass_context
def status_command(ctx: click.Context, fmt: str) -> None:
    """Show the tasks, their runs and file errors, and the live daemons.

    Exits 1 when a task file has an error or when daemons have run here but none is live, so
    it serves as a health check.
    """
    from runner.commands.status import status

    env = env_of(ctx)
    result = status(env.workspace(), now=env.now())
    if fmt == "json":
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        click.echo(render_text(result))
    ctx.exit(0 if result.healthy else 1)


def render_text(result: StatusResult) -> str:
    from rich.console import Console

    # without a terminal, wide enough that nothing is cut or wrapped; no markup: an error's
    # "[loc]" and a description's ":name:" are text
    width = None if sys.stdout.isatty() else 10_000
    console = Console(width=width, highlight=False, markup=False, emoji=False)
    with console.capture() as captured:
        _tasks(console, result.tasks)
        console.print()
        _daemons(console, result)
        if result.errors:
            console.print(
                f"{len(result.errors)} task file(s) have errors: "
                "see 'runner check' and 'runner plan'"
            )
    return "\n".join(line.rstrip() for line in captured.get().splitlines())


def _tasks(console: Console, tasks: list[TaskStatus]) -> None:
    from rich.table import Table

    if not tasks:
        console.print("No tasks.")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("task", "module", "description", "enabled", "schedule", "status"):
        table.add_column(column.upper(), no_wrap=column in ("task", "module", "enabled"))
    for column in ("last run", "next run"):
        table.add_column(column.upper(), no_wrap=True)
    errors = any(task.error for task in tasks)
    if errors:
        table.add_column("ERROR")
    for task in tasks:
        table.add_row(
            task.task,
            task.module or "",
            task.description or "",
            "yes" if task.enabled else "no",
            task.schedule or "",
            _state(task),
            _when(task.last_run.finished) if task.last_run else "",
            _when(task.next_run) if task.next_run else "",
            *([task.error or ""] if errors else []),
        )
    console.print(table)


def _state(task: TaskStatus) -> str:
    if task.running:
        return "in progress"
    last = task.last_run
    if last is None:
        return "never run"
    return f"{last.status} ({last.reason})" if last.reason else last.status


def _when(value: datetime) -> str:
    offset = value.strftime("%z")
    return f"{value:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"


def _daemons(console: Console, result: StatusResult) -> None:
    from rich.table import Table

    if not result.daemons:
        console.print(_no_daemon(result))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("daemon", "host", "pid", "started", "heartbeat", "commit"):
        table.add_column(column.upper(), no_wrap=True)
    for daemon in result.daemons:
        table.add_row(
            daemon.id,
            daemon.host,
            str(daemon.pid),
            _when(daemon.started),
            f"{_age(daemon.heartbeat_age)} ago",
            (daemon.git_commit or "")[:12],
        )
    console.print(table)


def _no_daemon(result: StatusResult) -> str:
    last = result.last_daemon
    if last is None:
        return "No daemon has run here yet: tasks run only with 'runner run'."
    if last.stopped:
        return f"No daemon is running: the last one ({last.id}) stopped {_age(last.age)} ago."
    return (
        f"No daemon is running: the last one ({last.id}) sent its last heartbeat "
        f"{_age(last.age)} ago, without stopping cleanly."
    )


def _age(age: timedelta) -> str:
    seconds = max(int(age.total_seconds()), 0)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
