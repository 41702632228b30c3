"""runner run TASK [--dry-run] [--yes] [--force]"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from runner.cli.main import cli, config_option, env_of
from runner.errors import RunnerError


class Declined(RunnerError):
    pass


@cli.command("run")
@click.argument("task")
@click.option(
    "--dry-run", is_flag=True, help="Search and plan; log what would change, write nothing."
)
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed without a terminal)."
)
@click.option("--force", is_flag=True, help="Run a disabled task.")
@config_option
@click.pass_context
def run_command(ctx: click.Context, task: str, dry_run: bool, yes: bool, force: bool) -> None:
    """Run TASK (an id or a path) once, now."""
    from runner.commands.run import load_for_run, preview, run_task

    env = env_of(ctx)
    workspace = env.workspace()
    task_id, spec = load_for_run(workspace, task, env.cwd, env.now(), force)
    planned = preview(workspace, task_id, spec, now=env.now(), dry_run=dry_run)
    if planned.changes_data and not yes:
        _confirm(planned.question)
    _execute(
        ctx,
        lambda cancel, progress: run_task(
            workspace,
            task_id,
            spec,
            clock=env.clock,
            dry_run=dry_run,
            cancel=cancel,
            progress=progress,
        ),
    )


def _execute(ctx: click.Context, start: Callable[[Any, Callable[[int, int], None]], Any]) -> None:
    """Run with Ctrl-C/SIGTERM handling and progress, print the summary, exit as DESIGN 9 says:
    0 success, 130 canceled by the user, 1 otherwise."""
    from runner.runs.engine import CancelToken

    cancel = CancelToken()
    with _signals(cancel), _progress() as progress:
        outcome = start(cancel, progress)
    _summary(outcome, env_of(ctx).cwd)
    if cancel.canceled and cancel.reason == "canceled":
        ctx.exit(130)
    ctx.exit(0 if outcome.run.status == "success" else 1)


def _confirm(question: str) -> None:
    if not sys.stdin.isatty():
        raise Declined(
            f"refusing to {question[:-1]} without confirmation: no terminal to ask; pass --yes"
        )
    if not click.confirm(question.capitalize(), default=False):
        raise Declined("declined; nothing was changed")


@contextmanager
def _signals(cancel: Any) -> Iterator[None]:
    """First Ctrl-C or SIGTERM: finish the current batch, then stop. A second Ctrl-C: now."""

    def on_interrupt(_signum: int, _frame: Any) -> None:
        if cancel.canceled:
            raise KeyboardInterrupt
        click.echo("\nstopping after the current batch (Ctrl-C again to stop now)", err=True)
        cancel.cancel("canceled")

    def on_term(_signum: int, _frame: Any) -> None:
        cancel.cancel("shutdown")

    previous = signal.signal(signal.SIGINT, on_interrupt), signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


@contextmanager
def _progress() -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on a terminal, plain progress lines otherwise."""
    if not sys.stderr.isatty():

        def plain(done: int, total: int) -> None:
            percent = 100 * done / total if total else 100.0
            click.echo(f"progress: {done}/{total} objects ({percent:.1f}%)", err=True)

        yield plain
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        handle = bar.add_task("objects", total=None)

        def update(done: int, total: int) -> None:
            bar.update(handle, completed=done, total=total)

        yield update


def _summary(outcome: Any, cwd: Any) -> None:
    from runner.commands.check import display_path

    run = outcome.run
    counts = run.counts
    verdict = run.status + (f" ({run.reason})" if run.reason else "")
    click.echo(
        f"run {run.run_id} of {run.task_id}: {verdict}" + (" [dry run]" if run.dry_run else "")
    )
    if outcome.closed:
        for closed in outcome.closed:
            click.echo(f"  closed crashed run {closed.run_id} as failed (interrupted)")
    if run.resumed_from:
        click.echo(f"  resumed run {run.resumed_from} from its checkpoint")
    changed = "would change" if run.dry_run else "changed"
    click.echo(
        f"  matched {counts.matched}, {changed} {counts.changed}, unchanged {counts.unchanged}, "
        f"skipped {counts.skipped}, denied {counts.denied}, failed {counts.failed}"
    )
    if run.error:
        click.echo(f"  error: {run.error}")
    if outcome.problems and run.status == "success":
        click.echo("  problems: some objects were denied or failed; see the log")
    duration = (run.finished - run.started).total_seconds() if run.finished else 0.0
    click.echo(f"  duration {duration:.1f} s")
    click.echo(f"  log: {display_path(outcome.log_path, cwd)}")
    if outcome.extra.get("csv"):
        from pathlib import Path

        click.echo(f"  hits: {display_path(Path(outcome.extra['csv']), cwd)}")


@cli.command("undo")
@click.argument("run_id")
@click.option("--dry-run", is_flag=True, help="Count what would be reverted; change nothing.")
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed without a terminal)."
)
@config_option
@click.pass_context
def undo_command(ctx: click.Context, run_id: str, dry_run: bool, yes: bool) -> None:
    """Revert what RUN_ID did: restore trashed objects, previous versions and tags.

    An object changed again since the run is left alone (object_skipped, changed_since_run).
    """
    from runner.commands.undo import preview_undo, undo

    env = env_of(ctx)
    workspace = env.workspace()
    planned = preview_undo(workspace, run_id)
    if not dry_run and not yes:
        _confirm(planned.question)
    _execute(
        ctx,
        lambda cancel, progress: undo(
            workspace,
            planned.target,
            clock=env.clock,
            dry_run=dry_run,
            cancel=cancel,
            progress=progress,
        ),
    )
