"""runner daemon [--for DURATION]"""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from runner.cli.main import cli, config_option, env_of


@cli.command("daemon")
@click.option(
    "--for",
    "duration",
    metavar="DURATION",
    help="Stop by itself after this long (e.g. 90s, 1h), as on SIGTERM.",
)
@config_option
@click.pass_context
def daemon_command(ctx: click.Context, duration: str | None) -> None:
    """Watch tasks.d/ and run the tasks on their schedules, in the foreground.

    Writes one JSON object per line about itself on stderr. SIGTERM and SIGINT stop claiming
    fires, let running batches finish and exit 0; SIGHUP re-reconciles everything.
    """
    from runner.daemon.scheduler import Daemon, DaemonOptions
    from runner.daemon.watcher import Watcher
    from runner.spec.types import parse_duration

    env = env_of(ctx)
    limit = parse_duration(duration).total_seconds() if duration else None
    daemon = Daemon(DaemonOptions(env.config, env.cwd), env.clock)
    previous = _install_signals(daemon)
    # watching before the first scan: an edit made while it runs is not lost
    watcher = Watcher(
        daemon.workspace.config, lambda paths: daemon.notice_change(env.clock.monotonic(), paths)
    )
    watcher.start()
    try:
        daemon.start()
        timer = threading.Timer(limit, daemon.stop) if limit else None
        if timer:
            timer.daemon = True
            timer.start()
        daemon.run_forever()
    finally:
        watcher.stop()
        daemon.wait_for_runs()
        daemon.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _install_signals(daemon: Any) -> dict[int, Any]:
    def stop(_signum: int, _frame: Any) -> None:
        daemon.stop("shutdown")

    def reload(_signum: int, _frame: Any) -> None:
        daemon.request_full_reconcile()

    handlers = {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: reload}
    return {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
