from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow (each 15-55 s) go first, so that with several workers they run
    side by side from the start instead of finishing alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
    """The real CLI in a subprocess, as a user runs it."""
    environment = {**os.environ, "NO_COLOR": "1", **(env or {})}
    environment.pop("RUNNER_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=cwd or ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def cli():
    return run_cli


from tests.pg_server import pg_dsn, pg_server  # noqa: E402, F401 (fixtures for every test)
