"""Importing this module registers every verb on the `runner` group."""

from runner.cli import check, init, next, run, schema  # noqa: F401
