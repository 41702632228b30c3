"""runner notify test --to ADDRESS [--template NAME]"""

from __future__ import annotations

import click

from runner.cli.main import cli, config_option, env_of


@cli.group("notify")
def notify_group() -> None:
    """Email notifications."""


@notify_group.command("test")
@click.option("--to", "to", metavar="ADDRESS", required=True, help="Where the sample mail goes.")
@click.option(
    "--template", metavar="NAME", default="default", show_default=True, help="Template to render."
)
@config_option
@click.pass_context
def test_command(ctx: click.Context, to: str, template: str) -> None:
    """Send a sample summary through the configured transport (SMTP, or the outbox)."""
    from runner.commands.notify import send_test

    env = env_of(ctx)
    sent = send_test(env.workspace(), to, template=template, clock=env.clock)
    click.echo(f"sent a sample summary to {sent.to} via {sent.where}")
    click.echo(f"  subject: {sent.subject}")
