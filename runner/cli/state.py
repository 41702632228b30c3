"""runner state migrate"""

from __future__ import annotations

import click

from runner.cli.main import cli, config_option, env_of


@cli.group("state")
@config_option
def state_group() -> None:
    """The runner's own bookkeeping: runs, leases, fires, daemons."""


@state_group.command("migrate")
@config_option
@click.pass_context
def migrate_command(ctx: click.Context) -> None:
    """Create or upgrade the state's schema (the only way a PostgreSQL state is upgraded)."""
    from runner.commands.state import migrate

    done = migrate(env_of(ctx).workspace())
    if done.changed:
        click.echo(
            f"state {done.location}: schema migrated from version {done.found} to {done.version}"
        )
    else:
        click.echo(f"state {done.location}: schema is up to date (version {done.version})")
