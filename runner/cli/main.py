"""The `runner` command: parse arguments, call a command function, render its result.

Exit codes (DESIGN section 9): 0 success, 1 the thing asked for failed, 2 usage error,
130 interrupted. A RunnerError prints its message; a bug prints one line and where the
traceback was saved; no traceback reaches a user.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from runner import __version__
from runner.clock import SystemClock
from runner.errors import InvalidFile, RunnerError

F = TypeVar("F", bound=Callable[..., Any])


class Env:
    """What every command gets from the CLI: config path, working directory, clock."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self.cwd = Path.cwd()
        self.clock = SystemClock()

    def now(self) -> datetime:
        return self.clock.now()

    def workspace(self, *, require_valid: bool = True) -> Any:
        from runner.commands.config import load_workspace
        from runner.commands.config import require_valid as check_valid

        workspace = load_workspace(self.config, self.cwd)
        return check_valid(workspace) if require_valid else workspace


def config_option(func: F) -> F:
    """`--config PATH` on every command (and on the group)."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            ctx.ensure_object(dict)["config"] = value
        return value

    decorator = click.option(
        "--config",
        "config_path",
        metavar="PATH",
        expose_value=False,
        callback=remember,
        is_eager=True,
        help="runner.yaml to use (default: $RUNNER_CONFIG, else the nearest runner.yaml).",
    )
    return decorator(func)


def env_of(ctx: click.Context) -> Env:
    return Env(ctx.ensure_object(dict).get("config"))


class RunnerGroup(click.Group):
    """Maps RunnerError to its exit code and hides tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RunnerError as exc:
            _print_error(exc)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # the reader went away (`runner store export | head`): stop quietly, as cat does
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(141)
        except (click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug: one line, traceback saved for the report
            where = _save_traceback()
            click.echo(
                f"internal error: {type(exc).__name__}: {exc} (traceback: {where})", err=True
            )
            ctx.exit(1)


def _print_error(exc: RunnerError) -> None:
    click.echo(f"error: {exc}", err=True)
    if isinstance(exc, InvalidFile):
        for diagnostic in exc.diagnostics[1:]:
            click.echo(f"  {exc.path}:{diagnostic}", err=True)


def _save_traceback() -> str:
    handle, name = tempfile.mkstemp(prefix="runner-crash-", suffix=".txt")
    with os.fdopen(handle, "w") as out:
        traceback.print_exc(file=out)
    return name


@click.group(cls=RunnerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runner")
@config_option
def cli() -> None:
    """Background tasks of a digital-asset-management system, as code."""


def main() -> None:
    from runner.cli import commands  # noqa: F401  (registers the verbs)

    try:
        cli.main(prog_name="runner", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
