"""Fixtures shared by the unit tests' modules."""

from store_support import pg_store_dsn  # noqa: F401 (the PostgreSQL store tests' database)
