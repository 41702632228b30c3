"""runner check [PATH...] [--format text|json|github|sarif] [--strict]"""

from __future__ import annotations

import os
import sys

import click

from runner.cli.main import cli, config_option, env_of


@cli.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["github", "json", "sarif", "text"]),
    default="text",
    show_default=True,
)
@click.option("--strict", is_flag=True, help="Warnings fail the check too.")
@config_option
@click.pass_context
def check_command(ctx: click.Context, paths: tuple[str, ...], fmt: str, strict: bool) -> None:
    """Validate task files, runner.yaml and datamodel.yaml; report every problem.

    Without PATH: the configured tasks directory, runner.yaml, the data model, the mapping
    profiles and the email templates.
    """
    from runner.cli.reporters import CHECK_REPORTERS, render_text
    from runner.commands.check import check

    env = env_of(ctx)
    result = check(
        env.workspace(require_valid=False), list(paths), now=env.now(), cwd=env.cwd, strict=strict
    )
    if fmt == "text":
        output = render_text(result, color=sys.stdout.isatty() and "NO_COLOR" not in os.environ)
    else:
        output = CHECK_REPORTERS[fmt](result)
    click.echo(output, nl=False)
    ctx.exit(0 if result.valid else 1)
