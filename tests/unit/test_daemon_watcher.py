"""The watcher on a real directory: it names the task files that changed, asks for a full
rescan on directory changes, ignores hidden files, and follows a swapped tasks directory."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.commands.config import load_workspace
from runner.daemon.watcher import Watcher

Seen = list[tuple[str, ...] | None]


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the watcher")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "runner.yaml").write_text("version: 1\n")
    (tmp_path / "data-1").mkdir()
    (tmp_path / "data-1" / "a.yaml").write_text("a: 1\n")
    os.symlink("data-1", tmp_path / "tasks.d")
    return tmp_path


def watching(repo: Path) -> tuple[Watcher, Seen]:
    seen: Seen = []
    lock = threading.Lock()

    def notify(paths: tuple[str, ...] | None) -> None:
        with lock:
            seen.append(paths)

    watcher = Watcher(load_workspace(None, repo).config, notify)
    watcher.start()
    return watcher, seen


def named(seen: Seen) -> set[str]:
    return {path for paths in list(seen) if paths is not None for path in paths}


def test_the_watcher_names_files_and_follows_a_swap(repo: Path) -> None:
    watcher, seen = watching(repo)
    try:
        (repo / "data-1" / ".a.yaml.swp").write_text("an editor's swap file")
        (repo / "data-1" / "a.yaml").write_text("a: 2\n")
        wait_until(lambda: str(repo / "data-1" / "a.yaml") in named(seen))
        assert not any(".swp" in path for path in named(seen))

        (repo / "data-1" / "sub").mkdir()
        wait_until(lambda: None in seen)

        (repo / "data-2").mkdir()
        (repo / "data-2" / "b.yaml").write_text("b: 1\n")
        os.symlink("data-2", repo / "tasks.d.new")
        os.replace(repo / "tasks.d.new", repo / "tasks.d")
        wait_until(lambda: str(repo / "tasks.d") in named(seen))
        (repo / "data-2" / "b.yaml").write_text("b: 2\n")
        wait_until(lambda: str(repo / "data-2" / "b.yaml") in named(seen))
    finally:
        watcher.stop()
