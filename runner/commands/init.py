"""`runner init [DIR]`: scaffold a task repository; existing files are never overwritten."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from runner.commands.schema import write_schemas


@dataclass(frozen=True)
class InitResult:
    directory: Path
    created: list[Path]
    kept: list[Path]


def init(directory: Path) -> InitResult:
    directory.mkdir(parents=True, exist_ok=True)
    created: list[Path] = []
    kept: list[Path] = []
    for relative, source in _scaffold(files("runner") / "scaffold", ""):
        target = directory / relative
        if target.exists():
            kept.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        created.append(target)
    schemas = write_schemas(directory / "schemas")
    created += schemas.written
    kept += schemas.unchanged
    return InitResult(directory, created, kept)


def _scaffold(node: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    """Scaffold files with their target paths; `dot-x` ships as `.x` (wheels drop dotfiles)."""
    found: list[tuple[str, Traversable]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name.startswith(("__", ".")):
            continue
        name = (
            "." + child.name.removeprefix("dot-") if child.name.startswith("dot-") else child.name
        )
        if child.is_dir():
            found += _scaffold(child, f"{prefix}{name}/")
        else:
            found.append((f"{prefix}{name}", child))
    return found
