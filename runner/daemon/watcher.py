"""Watching the files the schedule comes from (watchdog), to wake the scheduler.

The watcher only says "something changed"; the scheduler debounces and rescans, comparing
each file's stat with the last scan, so editors' atomic renames, `git checkout` rewriting many
files and a symlinked directory swapped atomically (Kubernetes ConfigMap style) all end in one
reconcile of what is on disk. The parent of a symlinked tasks directory is watched too, since
a swap replaces the link there, not a file inside the old target.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from runner.spec.config import Config

RELEVANT_SUFFIXES = (".yaml", ".yml", ".j2")


class _Handler(FileSystemEventHandler):
    """Wakes the scheduler for changes that can shape the schedule, and nothing else (the
    daemon's own logs and state, or an editor's swap files, must not wake it)."""

    def __init__(self, notify: Callable[[], None], links: set[str]) -> None:
        self.notify = notify
        self.links = links

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [str(event.src_path), str(getattr(event, "dest_path", "") or "")]
        if any(_relevant(path, event.is_directory, self.links) for path in paths if path):
            self.notify()


def _relevant(path: str, is_directory: bool, links: set[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    if name.startswith(".") and name not in (".", "..") and not name.startswith("..data"):
        return path in links
    return path.endswith(RELEVANT_SUFFIXES) or is_directory or path in links


def watched_directories(config: Config) -> list[tuple[Path, bool]]:
    """(directory, recursive) for everything that shapes the schedule."""
    found: list[tuple[Path, bool]] = [(config.tasks_dir.resolve(), True)]
    found.append((config.tasks_dir.absolute().parent, False))
    for directory in (config.templates_dir, config.mappings_dir):
        found.append((directory.resolve(), True))
    if config.path is not None:
        found.append((config.path.parent.resolve(), False))
    if config.datamodel_path is not None:
        found.append((config.datamodel_path.parent.resolve(), False))
    unique: dict[Path, bool] = {}
    for directory, recursive in found:
        if directory.is_dir():
            unique[directory] = unique.get(directory, False) or recursive
    return sorted(unique.items())


class Watcher:
    def __init__(self, config: Config, notify: Callable[[], None]) -> None:
        self.observer = Observer()
        links = {
            str(config.tasks_dir.absolute()),
            str(config.tasks_dir.absolute().parent / "..data"),
        }
        handler = _Handler(notify, links)
        for directory, recursive in watched_directories(config):
            self.observer.schedule(handler, str(directory), recursive=recursive)

    def start(self) -> None:
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)
