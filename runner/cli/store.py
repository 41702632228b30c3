"""runner store init|import|export|search|restore|seed"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

from runner.cli.main import cli, config_option, env_of

if TYPE_CHECKING:
    from runner.spec.datamodel import DataModel
    from runner.store.base import SearchResult


@cli.group("store")
@config_option
def store_group() -> None:
    """The embedded object store the modules act on."""


@store_group.command("init")
@config_option
@click.pass_context
def init_command(ctx: click.Context) -> None:
    """Create the store from datamodel.yaml, or apply a changed data model (keeping data)."""
    from runner.commands.store import init_store

    report = init_store(env_of(ctx).workspace())
    verb = "created" if report.created else "updated"
    click.echo(f"store {verb} (schema version {report.schema_version})")
    for change in report.changes:
        click.echo(f"  {change}")
    if not report.created and not report.changes:
        click.echo("  the data model is unchanged")


@store_group.command("import")
@click.argument("source", metavar="FILE|-")
@click.option(
    "--as", "user", metavar="USER", help="Attribute the import to USER (default: a root user)."
)
@config_option
@click.pass_context
def import_command(ctx: click.Context, source: str, user: str | None) -> None:
    """Import fylr record JSON lines; each batch is stored whole or not at all."""
    from runner.commands.store import import_lines

    env = env_of(ctx)
    with _open_input(source, env.cwd) as handle:
        report = import_lines(env.workspace(), handle, user=user, now=env.now())
    click.echo(f"imported {report.imported} records ({report.replaced} replaced)")
    for problem in report.problems:
        click.echo(f"{source}:{problem}", err=True)
    if report.rejected:
        click.echo(f"rejected {report.rejected} lines: their batches had problems", err=True)
    ctx.exit(0 if report.ok else 1)


@store_group.command("export")
@click.option("--output", "-o", metavar="FILE", help="Write to FILE instead of standard output.")
@config_option
@click.pass_context
def export_command(ctx: click.Context, output: str | None) -> None:
    """Export every record (trashed ones too) as JSON lines, sorted by _system_object_id."""
    from runner.commands.store import export_lines

    env = env_of(ctx)
    lines = export_lines(env.workspace())
    if output is None:
        for line in lines:
            sys.stdout.write(line + "\n")
        return
    target = Path(output) if Path(output).is_absolute() else env.cwd / output
    with target.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")


@store_group.command("search")
@click.argument("request", metavar="REQUEST")
@click.option(
    "--as", "user", metavar="USER", required=True, help="Search as this user (rights apply)."
)
@click.option("--limit", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@config_option
@click.pass_context
def search_command(ctx: click.Context, request: str, user: str, limit: int, fmt: str) -> None:
    """Run a fylr search REQUEST (a YAML/JSON file, or - for standard input) as USER."""
    from runner.commands.store import search

    env = env_of(ctx)
    with _open_input(request, env.cwd) as handle:
        text = handle.read()
    workspace = env.workspace()
    result = search(workspace, text, request, user=user, limit=limit, now=env.now())
    if fmt == "json":
        click.echo(
            json.dumps({"count": result.count, "objects": list(result.records)}, ensure_ascii=False)
        )
        return
    _table(result, workspace.datamodel)


def _table(result: SearchResult, model: DataModel | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from runner.commands.store import record_row

    table = Table(box=None, pad_edge=False)
    for column in ("id", "objecttype", "title", "pool", "tags", "trashed"):
        table.add_column(column, overflow="fold")
    records = result.records
    for record in records:
        table.add_row(*record_row(record, model).values())
    console = Console(width=None if sys.stdout.isatty() else 1000)
    console.print(table)
    count = result.count
    shown = f" (showing {len(records)})" if len(records) < count else ""
    console.print(f"{count} objects match{shown}")


@store_group.command("restore")
@click.option(
    "--run", "run_id", metavar="RUN_ID", required=True, help="Restore what this run trashed."
)
@click.option("--as", "user", metavar="USER", help="Restore as USER (default: a root user).")
@config_option
@click.pass_context
def restore_command(ctx: click.Context, run_id: str, user: str | None) -> None:
    """Take the objects a run moved to the trash out of it again."""
    from runner.commands.store import restore_run

    env = env_of(ctx)
    result = restore_run(env.workspace(), run_id, user=user, now=env.now())
    click.echo(f"restored {len(result.changed)} objects trashed by run {run_id}")
    if result.skipped:
        click.echo(f"  {len(result.skipped)} left alone (no longer in the trash or changed since)")
    if result.denied:
        click.echo(f"  {len(result.denied)} denied: no delete right", err=True)
        ctx.exit(1)


@store_group.command("seed")
@click.option("--objects", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", "seed_value", type=int, default=1, show_default=True)
@click.option(
    "--files",
    type=click.IntRange(min=0),
    help="Objects with a real JPEG (default: a fifth, at most 500).",
)
@config_option
@click.pass_context
def seed_command(ctx: click.Context, objects: int, seed_value: int, files: int | None) -> None:
    """Fill the store with a deterministic, realistic data set for datamodel.yaml."""
    from runner.commands.store import seed

    env = env_of(ctx)
    report = seed(
        env.workspace(), objects=objects, seed_value=seed_value, files=files, now=env.now()
    )
    imported = report.imported.imported
    click.echo(f"seeded {imported} objects, {report.files} with a JPEG file in {report.assets_dir}")
    for problem in report.imported.problems:
        click.echo(f"  {problem}", err=True)
    ctx.exit(0 if report.imported.ok else 1)


class _open_input:
    """FILE or - (standard input) as a text stream."""

    def __init__(self, source: str, cwd: Path) -> None:
        self.source = source
        self.cwd = cwd
        self.handle: IO[str] | None = None

    def __enter__(self) -> IO[str]:
        if self.source == "-":
            return sys.stdin
        path = Path(self.source) if Path(self.source).is_absolute() else self.cwd / self.source
        if not path.is_file():
            raise click.UsageError(f"{self.source} does not exist")
        self.handle = path.open(encoding="utf-8")
        return self.handle

    def __exit__(self, *_: object) -> None:
        if self.handle is not None:
            self.handle.close()
