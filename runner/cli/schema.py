"""runner schema [--output DIR]"""

from __future__ import annotations

from pathlib import Path

import click

from runner.cli.main import cli, config_option, env_of


@cli.command("schema")
@click.option(
    "--output",
    "output",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Default: schemas/ beside runner.yaml.",
)
@config_option
@click.pass_context
def schema_command(ctx: click.Context, output: str | None) -> None:
    """Write the JSON Schemas of task files, runner.yaml and datamodel.yaml."""
    from runner.commands.schema import write_schemas

    env = env_of(ctx)
    if output is None:
        workspace = env.workspace(require_valid=False)
        directory = workspace.config.base / "schemas"
    else:
        directory = Path(output) if Path(output).is_absolute() else env.cwd / output
    result = write_schemas(directory)
    for path in result.written:
        click.echo(f"wrote {path}")
    for path in result.unchanged:
        click.echo(f"unchanged {path}")
