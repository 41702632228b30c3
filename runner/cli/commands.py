"""Importing this module registers every verb on the `runner` group."""

from runner.cli import check, daemon, init, logs, next, plan, run, schema, status, store  # noqa: F401
