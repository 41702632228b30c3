"""Rendering a named email template: `NAME.subject.j2`, `NAME.txt.j2` and `NAME.html.j2`.

Each file is looked up in the repository's templates directory first, then among the defaults
that ship inside the package, so a repository may override any one of them. Only the HTML part
is autoescaped (by its file name: Jinja's `select_autoescape` would not match `.html.j2`).
A template that fails, for any reason, raises RenderError naming its file and line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, TemplateNotFound, TemplateSyntaxError
from jinja2.exceptions import SecurityError, UndefinedError

from runner.errors import RunnerError
from runner.runs.sandbox import (
    MAX_WIDTH,
    Limits,
    SafeEnvironment,
    TemplateLimit,
    guarded_filter,
    render_limited,
)
from runner.spec.templates import TEMPLATE_PARTS

PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
PARTS = TEMPLATE_PARTS
HTML_SUFFIXES = (".html.j2", ".htm.j2", ".html", ".htm")


class RenderError(RunnerError):
    """A template failed: at `path`:`line` when known."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        where = f"{path}:{line}: " if path and line else f"{path}: " if path else ""
        super().__init__(f"template {where}{message}")
        self.message = message
        self.path = path
        self.line = line


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def autoescape(name: str | None) -> bool:
    return name is not None and name.endswith(HTML_SUFFIXES)


def template_environment(templates_dir: Path) -> SafeEnvironment:
    loader = ChoiceLoader(
        [FileSystemLoader(str(templates_dir)), FileSystemLoader(str(PACKAGE_TEMPLATES))]
    )
    env = SafeEnvironment(loader, autoescape)
    env.filters["fit"] = guarded_filter("fit", fit)
    env.filters["columns"] = guarded_filter("columns", columns)
    return env


def fit(value: Any, width: int) -> str:
    """`cell|fit(12)`: exactly `width` characters, padded or cut with an ellipsis, for the
    columns of plain-text tables."""
    text, width = str(value), max(min(int(width), MAX_WIDTH), 1)
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


def columns(cells: Sequence[Any], widths: Sequence[int]) -> str:
    """`cells|columns(search.widths)`: one line of a plain-text table, each cell fitted to its
    column's width and two spaces apart (the last one neither padded nor cut)."""
    fitted = [fit(cell, width) for cell, width in zip(cells[:-1], widths, strict=False)]
    return "  ".join([*fitted, str(cells[-1])] if cells else [])


def part_name(name: str, part: str) -> str:
    return f"{name}.{part}.j2"


def render_mail(env: SafeEnvironment, name: str, context: dict[str, Any]) -> Rendered:
    subject, text, html = (render_part(env, part_name(name, part), context) for part in PARTS)
    return Rendered(subject, text, html)


def render_part(
    env: SafeEnvironment, template_name: str, context: dict[str, Any], limits: Limits | None = None
) -> str:
    try:
        template = env.get_template(template_name)
        return render_limited(lambda: template.generate(context), limits or Limits())
    except TemplateSyntaxError as exc:
        raise RenderError(exc.message or "syntax error", exc.filename, exc.lineno) from None
    except TemplateNotFound as exc:  # the part itself (no position), or what it includes
        path, line = template_position(exc.__traceback__, env)
        raise RenderError(f"no template {exc.name}", path, line) from None
    except Exception as exc:  # anything a template raises is the template's failure
        path, line = template_position(exc.__traceback__, env)
        raise RenderError(describe_failure(exc), path, line) from None


def describe_failure(exc: BaseException) -> str:
    if isinstance(exc, UndefinedError):
        return f"undefined: {exc.message}"
    if isinstance(exc, TemplateLimit):
        return f"over a limit: {exc}"
    if isinstance(exc, SecurityError):
        return f"not allowed in templates: {exc}"
    if isinstance(exc, RecursionError):
        return "recursion too deep"
    return f"{type(exc).__name__}: {exc}"


def template_position(
    trace: TracebackType | None, env: SafeEnvironment
) -> tuple[str | None, int | None]:
    """The innermost template line in a traceback (Jinja rewrites its frames to point at the
    template files); (None, None) when no template frame is in it."""
    roots = tuple(os.path.join(os.path.normpath(p), "") for p in _search_paths(env))
    found: tuple[str | None, int | None] = (None, None)
    while trace is not None:
        filename = trace.tb_frame.f_code.co_filename
        if filename.startswith(roots):
            found = (filename, trace.tb_lineno)
        trace = trace.tb_next
    return found


def _search_paths(env: SafeEnvironment) -> list[str]:
    loader = env.loader
    loaders = loader.loaders if isinstance(loader, ChoiceLoader) else [loader]
    return [
        path for each in loaders if isinstance(each, FileSystemLoader) for path in each.searchpath
    ]
