"""Which email templates exist: a name is available when its three files are there.

A template NAME is `NAME.subject.j2`, `NAME.txt.j2` and `NAME.html.j2` in the repository's
templates directory; `default` also ships inside the package and is always available.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE_PARTS = ("subject", "txt", "html")
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
