"""runner init [DIR]"""

from __future__ import annotations

from pathlib import Path

import click

from runner.cli.main import cli, config_option, env_of


@cli.command("init")
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False))
@config_option
@click.pass_context
def init_command(ctx: click.Context, directory: str) -> None:
    """Scaffold a task repository in DIR (default: here); existing files are kept."""
    from runner.commands.init import init

    env = env_of(ctx)
    target = Path(directory) if Path(directory).is_absolute() else env.cwd / directory
    result = init(target)
    for path in result.created:
        click.echo(f"created {path.relative_to(target)}")
    for path in result.kept:
        click.echo(f"kept    {path.relative_to(target)} (exists)")
    click.echo(f"next: cd {directory} && runner check && runner next example")
