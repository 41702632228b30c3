"""Which StateStore runner.yaml's `state:` names: `sqlite:PATH` or a `postgresql://` URL.

The PostgreSQL module (and its driver) is imported only for a PostgreSQL state.
"""

from __future__ import annotations

from pathlib import Path

from runner.state import sqlite
from runner.state.base import Migration, StateStore

POSTGRES_SCHEMES = ("postgres://", "postgresql://")


def is_postgres(spec: str) -> bool:
    return spec.startswith(POSTGRES_SCHEMES)


def open_state(spec: str, base: Path) -> StateStore:
    """The state named by `spec`: an SQLite file is created (or upgraded) when opened; a
    PostgreSQL database must have been migrated (`runner state migrate`)."""
    if is_postgres(spec):
        from runner.state import postgres

        return postgres.open_state(spec, base)
    return sqlite.open_state(spec, base)


def open_existing_state(spec: str, base: Path) -> StateStore | None:
    """For readers (`runner status`, `runner plan`): None when there is no SQLite file yet.
    A PostgreSQL database is always there; an unmigrated one is refused like on open."""
    if is_postgres(spec):
        return open_state(spec, base)
    return sqlite.open_existing_state(spec, base)


def migrate_state(spec: str, base: Path) -> Migration:
    """`runner state migrate`: create or upgrade the state's schema."""
    if is_postgres(spec):
        from runner.state import postgres

        return postgres.migrate_state(spec, base)
    return sqlite.migrate_state(spec, base)
