"""Diagnostics: one problem in one file, with its position and key path.

Validation never stops at the first problem: every layer that checks a file appends
Diagnostics to a list, and reporters render the list.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from runner.spec.yamlsafe import Path, Positions


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Diagnostic:
    line: int
    column: int
    loc: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f" [{self.loc}]" if self.loc else ""
        return f"{self.line}:{self.column}: {self.message}{where}"


def dotted(path: Iterable[str | int]) -> str:
    return ".".join(str(part) for part in path)


def suggest(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class Collector:
    """Collects the diagnostics of one file; positions are looked up lazily by path."""

    def __init__(self, positions: Positions | None = None) -> None:
        self.positions = positions
        self.items: list[Diagnostic] = []
        self._pending: list[_Pending] = []

    def error(
        self, path: Path, message: str, *, key: bool = False, loc: Path | None = None
    ) -> None:
        """A problem at the value (or, with `key`, the key) at `path`; `loc` names it if other."""
        self._pending.append(_Pending(path, loc or path, message, Severity.ERROR, key))

    def warning(self, path: Path, message: str, *, key: bool = False) -> None:
        self._pending.append(_Pending(path, path, message, Severity.WARNING, key))

    def at(self, line: int, column: int, message: str, loc: str = "") -> None:
        self.items.append(Diagnostic(line, column, loc, message))

    @property
    def has_errors(self) -> bool:
        pending = any(p.severity is Severity.ERROR for p in self._pending)
        return pending or any(d.severity is Severity.ERROR for d in self.items)

    @property
    def needs_positions(self) -> bool:
        return bool(self._pending) and self.positions is None

    def resolve(self, positions: Positions | None) -> list[Diagnostic]:
        """Place every pending problem (positions from a second, position-recording parse)."""
        where = positions or self.positions or Positions()
        for p in self._pending:
            line, column = where.of_key(p.path) if p.key else where.of_value(p.path)
            self.items.append(Diagnostic(line, column, dotted(p.loc), p.message, p.severity))
        self._pending.clear()
        return sorted(set(self.items))


@dataclass(frozen=True)
class _Pending:
    path: Path
    loc: Path
    message: str
    severity: Severity
    key: bool
