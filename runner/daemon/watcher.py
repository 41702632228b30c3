"""Watching the files the schedule comes from (watchdog), to wake the scheduler.

The watcher names the files that changed; the scheduler debounces, then re-reads just those
(comparing each file's stat with the last scan), so an edit costs the work of that file.
Directory events (a checkout creating or removing directories), a symlinked directory
swapped atomically (Kubernetes ConfigMap style) and changes outside the tasks directory (the
configuration, templates, mappings) are passed as "rescan everything" instead. Bursts such as
an editor's atomic rename or `git checkout` rewriting many files end in one reconcile of what
is on disk. The parent of a symlinked tasks directory is watched too, since a swap replaces
the link there, not a file inside the old target; after a swap the new target is watched.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from runner.spec.config import Config

RELEVANT_SUFFIXES = (".yaml", ".yml", ".j2")
# the files that changed; None when only a rescan of everything can tell what did
Notify = Callable[[tuple[str, ...] | None], None]


class _Handler(FileSystemEventHandler):
    """Wakes the scheduler for changes that can shape the schedule, and nothing else (the
    daemon's own logs and state, or an editor's swap files, must not wake it)."""

    def __init__(self, root: str, watcher: Watcher) -> None:
        self.root = root
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type == "modified":
            return  # comes with the event on the file created, deleted or moved in it
        paths = [str(event.src_path), str(getattr(event, "dest_path", "") or "")]
        links = self.watcher.links
        relevant = tuple(
            path for path in paths if path and _relevant(path, self.root, event.is_directory, links)
        )
        if not relevant:
            return
        if any(path in links for path in relevant):
            self.watcher.refresh()
        self.watcher.notify(None if event.is_directory else relevant)


def _relevant(path: str, root: str, is_directory: bool, links: set[str]) -> bool:
    if path in links:
        return True
    below = path.removeprefix(root + os.sep) if path.startswith(root + os.sep) else ""
    if any(_hidden(part) for part in below.split(os.sep)):
        return False  # the scan skips hidden files and directories
    return path.endswith(RELEVANT_SUFFIXES) or is_directory


def _hidden(name: str) -> bool:
    return name.startswith(".") and not name.startswith("..data")


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
    def __init__(self, config: Config, notify: Notify) -> None:
        self.config = config
        self.notify = notify
        self.observer = Observer()
        self.links = {
            str(config.tasks_dir.absolute()),
            str(config.tasks_dir.absolute().parent / "..data"),
        }
        self.watches: dict[tuple[Path, bool], ObservedWatch] = {}
        self.refresh()

    def refresh(self) -> None:
        """Watch what the configuration names now (a swapped link points elsewhere)."""
        wanted = set(watched_directories(self.config))
        for key in set(self.watches) - wanted:
            self.observer.unschedule(self.watches.pop(key))
        for directory, recursive in sorted(wanted - set(self.watches)):
            handler = _Handler(str(directory), self)
            self.watches[(directory, recursive)] = self.observer.schedule(
                handler, str(directory), recursive=recursive
            )

    def start(self) -> None:
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)
