"""Importing this module registers every verb on the `runner` group."""

from runner.cli import check, init, logs, next, run, schema, store  # noqa: F401
