"""`runner state migrate`: create or upgrade the schema of the state runner.yaml names."""

from __future__ import annotations

from runner.commands.config import Workspace
from runner.state.backends import migrate_state
from runner.state.base import Migration


def migrate(workspace: Workspace) -> Migration:
    """An SQLite file is upgraded (as opening it would); a PostgreSQL database only here."""
    config = workspace.config
    return migrate_state(config.model.state, config.base)
