"""Importing this module registers every verb on the `runner` group."""

from runner.cli import (  # noqa: F401
    check,
    daemon,
    init,
    logs,
    next,
    notify,
    plan,
    run,
    schema,
    state,
    status,
    store,
)
