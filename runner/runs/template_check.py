"""`runner check` of email templates: every problem at its template file and line.

Each template file is parsed. Each template set (`NAME.subject.j2`, `.txt.j2`, `.html.j2`) is
rendered in the sandbox with sample runs, a successful and a failed one, of every task that
names it, or of a sample search task when none does: a syntax error, a template variable that
does not exist, or an attribute the context lacks is an error. Names that are not template
variables are also found in branches that the samples do not take.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from jinja2 import TemplateSyntaxError, meta, nodes

from runner.runs.render import PARTS, RenderError, part_name, render_part, template_environment
from runner.runs.sandbox import SafeEnvironment
from runner.runs.summary import CONTEXT_KEYS, sample_summary, sample_task, template_context
from runner.spec.diagnostics import Diagnostic, Severity
from runner.spec.task import AnyTask
from runner.spec.templates import PACKAGED, template_part

SAMPLE_ID = "notify-test"


@dataclass(frozen=True)
class TemplateUse:
    """A task whose notify names a template."""

    task_id: str
    spec: AnyTask


@dataclass
class TemplateProblems:
    """Diagnostics by template file (absolute, normalised path), each problem once."""

    by_file: dict[str, dict[tuple[int, str], Diagnostic]] = field(default_factory=dict)

    def add(
        self, path: str, line: int, message: str, *, note: str = "", warning: bool = False
    ) -> None:
        found = self.by_file.setdefault(normal(Path(path)), {})
        severity = Severity.WARNING if warning else Severity.ERROR
        text = f"{message} ({note})" if note else message
        found.setdefault((line, message), Diagnostic(line, 1, "", text, severity))

    def of(self, path: Path) -> list[Diagnostic]:
        return sorted(self.by_file.get(normal(path), {}).values())

    def has_errors(self, path: Path) -> bool:
        return any(d.severity is Severity.ERROR for d in self.of(path))


def normal(path: Path) -> str:
    return os.path.normpath(os.path.abspath(path))


def check_templates(
    templates_dir: Path,
    files: Sequence[Path],
    tasks: Mapping[str, AnyTask],
    *,
    now: datetime,
    timezone: str,
) -> TemplateProblems:
    """`files` are checked and rendered; so is each template of `tasks` (by task id) that the
    repository has. Problems may be found in other files: what those templates include."""
    problems = TemplateProblems()
    uses = [TemplateUse(task_id, spec) for task_id, spec in tasks.items()]
    envs = {templates_dir: template_environment(templates_dir)}
    for path in files:
        _check_file(envs[templates_dir], path, problems)
    for root, name, use in _renders(templates_dir, files, uses):
        env = envs.get(root) or envs.setdefault(root, template_environment(root))
        for part in PARTS:
            if not problems.has_errors(root / part_name(name, part)):  # else reported already
                _render(env, part_name(name, part), use, problems, now, timezone)
    return problems


def _renders(
    templates_dir: Path, files: Sequence[Path], uses: Sequence[TemplateUse]
) -> list[tuple[Path, str, TemplateUse]]:
    """What to render: each task's template that the repository has, once per kind of task
    (the context's shape depends on the module, the schedule and dry_run only); every other
    set among `files` as a sample search task's."""
    jobs, seen = [], set()
    for use in uses:
        if use.spec.notify is None:
            continue
        spec, name = use.spec, use.spec.notify.email.template
        key = (templates_dir, name, spec.module, spec.schedule is None, spec.dry_run)
        if key not in seen and _in_repository(templates_dir, name):
            seen.add(key)
            jobs.append((templates_dir, name, use))
    rendered = {(root, name) for root, name, _ in jobs}
    for path in files:
        parts = template_part(path)
        root = templates_dir if _under(path, templates_dir) else path.parent
        if parts is not None and (root, parts[0]) not in rendered:
            rendered.add((root, parts[0]))
            jobs.append((root, parts[0], TemplateUse(SAMPLE_ID, sample_task())))
    return jobs


def _in_repository(templates_dir: Path, name: str) -> bool:
    """Whether the set has a file in the repository (the packaged defaults are tested)."""
    return any((templates_dir / part_name(name, part)).is_file() for part in PARTS)


def _under(path: Path, directory: Path) -> bool:
    return normal(path).startswith(os.path.join(normal(directory), ""))


def _check_file(env: SafeEnvironment, path: Path, problems: TemplateProblems) -> None:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(str(path), 1, f"cannot read the template: {exc}")
        return
    try:
        tree = env.parse(source, path.name, str(path))
    except TemplateSyntaxError as exc:
        problems.add(str(path), exc.lineno, f"syntax error: {exc.message}")
        return
    parts = template_part(path)
    if parts is not None:
        _unknown_names(env, tree, path, problems)
        _incomplete_set(path, parts[0], problems)


def _unknown_names(
    env: SafeEnvironment, tree: nodes.Template, path: Path, problems: TemplateProblems
) -> None:
    known = set(CONTEXT_KEYS) | set(env.globals)
    unknown = meta.find_undeclared_variables(tree) - known
    for node in tree.find_all(nodes.Name):
        if node.name in unknown and node.ctx == "load":
            variables = ", ".join(CONTEXT_KEYS)
            message = f"undefined: '{node.name}' is not a template variable (they are {variables})"
            problems.add(str(path), node.lineno, message)


def _incomplete_set(path: Path, name: str, problems: TemplateProblems) -> None:
    if name in PACKAGED:
        return  # the missing parts come from the package
    parts = [part_name(name, part) for part in PARTS]
    missing = [part for part in parts if not (path.parent / part).is_file()]
    if missing:
        problems.add(
            str(path),
            1,
            f"template '{name}' lacks {', '.join(missing)}: tasks cannot use it",
            warning=True,
        )


def _render(
    env: SafeEnvironment,
    template_name: str,
    use: TemplateUse,
    problems: TemplateProblems,
    now: datetime,
    timezone: str,
) -> None:
    for failed in (False, True):
        summary = sample_summary(
            use.task_id, use.spec, now=now, default_timezone=timezone, failed=failed
        )
        try:
            render_part(env, template_name, template_context(summary))
        except RenderError as exc:
            if exc.path is None:  # a part that does not exist: reported with the set
                return
            kind = "failed" if failed else "successful"
            task = "a search task" if use.task_id == SAMPLE_ID else f"task {use.task_id}"
            note = f"with a sample {kind} run of {task}"
            problems.add(exc.path, exc.line or 1, exc.message, note=note)
            return
