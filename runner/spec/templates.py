"""Which email templates exist: a name is available when its three files are there.

A template NAME is `NAME.subject.j2`, `NAME.txt.j2` and `NAME.html.j2` in the repository's
templates directory; `default` also ships inside the package and is always available.
"""

from __future__ import annotations

import os
from pathlib import Path

TEMPLATE_PARTS = ("subject", "txt", "html")
TEMPLATE_SUFFIX = ".j2"
PACKAGED = frozenset({"default"})


def template_names(directory: Path) -> set[str]:
    names = set(PACKAGED)
    if directory.is_dir():
        stems = {p.name.removesuffix(".subject.j2") for p in directory.glob("*.subject.j2")}
        names |= {
            s
            for s in stems
            if all((directory / f"{s}.{part}.j2").is_file() for part in TEMPLATE_PARTS)
        }
    return names


def template_files(directory: Path) -> list[Path]:
    """The `.j2` files under a directory, sorted; hidden files and directories left out."""
    if not directory.is_dir():
        return []
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            Path(root) / f for f in files if f.endswith(TEMPLATE_SUFFIX) and not f.startswith(".")
        ]
    return sorted(found)


def template_part(path: Path) -> tuple[str, str] | None:
    """`weekly.html.j2` -> ("weekly", "html"); None for a file that is no template's part."""
    name, _, part = path.name.removesuffix(TEMPLATE_SUFFIX).rpartition(".")
    return (name, part) if name and part in TEMPLATE_PARTS else None
