"""runner next TASK [--after ISO] [--count N] [--format text|json]"""

from __future__ import annotations

import json

import click

from runner.cli.main import cli, config_option, env_of


@cli.command("next")
@click.argument("task")
@click.option(
    "--after",
    metavar="ISO",
    help="Start after this time (default: now); without an offset, in the task's timezone.",
)
@click.option("--count", type=click.IntRange(min=1, max=10000), default=5, show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@config_option
@click.pass_context
def next_command(ctx: click.Context, task: str, after: str | None, count: int, fmt: str) -> None:
    """Show when TASK (an id or a path) fires next."""
    from runner.commands.next import next_runs

    env = env_of(ctx)
    result = next_runs(env.workspace(), task, now=env.now(), after=after, count=count, cwd=env.cwd)
    runs = [t.isoformat(timespec="seconds") for t in result.next_runs]
    if fmt == "json":
        click.echo(
            json.dumps({"task": result.task, "timezone": result.timezone, "next_runs": runs})
        )
        return
    click.echo(f"{result.task} ({result.timezone})" + (f": {result.note}" if result.note else ""))
    for run in runs:
        click.echo(f"  {run}")
