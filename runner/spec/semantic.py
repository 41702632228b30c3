"""Checks of a task beyond its shape: names against the data model, and warnings.

Every check appends to the file's Collector; none stops the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runner.spec.datamodel import DataModel
from runner.spec.diagnostics import Collector, suggest
from runner.spec.files import Loaded, load_file
from runner.spec.mapping import Mapping
from runner.spec.messages import add_validation_errors
from runner.spec.search import (
    IGNORED_FYLR_KEYS,
    ChangelogRangeElement,
    ComplexElement,
    InElement,
    MatchElement,
    RangeElement,
    SearchRequest,
)
from runner.spec.task import (
    TASK_ADAPTER,
    TASK_ID,
    AnyTask,
    GenericTask,
    MetadataTask,
    SearchTask,
    TagChange,
    TaskSpec,
    zone_of,
)
from runner.spec.yamlsafe import Path as KeyPath

TEXT_TYPES = ("text", "string")
RANGE_TYPES = ("number", "date")


@dataclass(frozen=True)
class CheckContext:
    """What a task is checked against; unknown parts (None) skip their checks."""

    now: datetime
    timezone: str = "UTC"
    datamodel: DataModel | None = None
    templates: frozenset[str] | None = None
    mappings: dict[str, Mapping | None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def task_id_problem(task_id: str) -> str | None:
    if TASK_ID.match(task_id):
        return None
    return (
        f"task id '{task_id}' (from the file name) may only contain lowercase letters, digits, "
        "'-', '_' and '/'; rename the file"
    )


def load_task_file(
    path: Path, task_id: str, ctx: CheckContext, *, text: str | None = None
) -> Loaded[AnyTask]:
    def validate(data: Any, out: Collector) -> AnyTask | None:
        problem = task_id_problem(task_id)
        if problem:
            out.at(1, 1, problem)
        spec = validate_task_data(data, task_id, out)
        if spec is not None:
            check_task(spec, task_id, ctx, out)
        elif isinstance(data, dict) and ctx.datamodel is not None:
            _check_valid_parts(data, ctx.datamodel, out)
        return spec

    return load_file(path, validate, text=text)


def validate_task_data(data: Any, task_id: str, out: Collector) -> AnyTask | None:
    if not isinstance(data, dict):
        out.error((), "expected a mapping of keys at the top of the task file")
        return None
    context = {"task_id": task_id}
    try:
        spec: AnyTask = TASK_ADAPTER.validate_python(data, context=context)
        return spec
    except ValidationError as exc:
        add_validation_errors(out, exc, data, TaskSpec)
        if any(e["type"] == "module" for e in exc.errors()):
            _validate_generic(data, context, out)
    return None


def _validate_generic(data: dict[str, Any], context: dict[str, str], out: Collector) -> None:
    """With the module unknown, still report every problem of the keys all tasks share."""
    try:
        GenericTask.model_validate(data, context=context)
    except ValidationError as exc:
        errors = [e for e in exc.errors() if e["loc"][:1] not in (("module",), ("params",))]
        if errors:
            partial = ValidationError.from_exception_data(exc.title, errors)  # type: ignore[arg-type]
            add_validation_errors(out, partial, data, GenericTask)


def _check_valid_parts(data: dict[str, Any], model: DataModel, out: Collector) -> None:
    """The task is invalid, but its valid parts can still be checked against the data model."""
    run_as = data.get("run_as")
    if isinstance(run_as, str) and run_as not in model.user_names:
        hint = suggest(run_as, model.user_names)
        out.error(("run_as",), f"unknown user '{run_as}' in the data model{hint}")
    try:
        request = SearchRequest.model_validate(data.get("search"))
    except ValidationError:
        pass
    else:
        _check_search(request, model, out)
    params = data.get("params")
    tags = params.get("tags") if isinstance(params, dict) else None
    for i, raw in enumerate(tags if isinstance(tags, list) else []):
        try:
            change = TagChange.model_validate(raw)
        except ValidationError:
            continue
        _check_tag(change, ("params", "tags", i), model, out)


def check_task(spec: AnyTask, task_id: str, ctx: CheckContext, out: Collector) -> None:
    _check_warnings(spec, ctx, out)
    _check_search(spec.search, ctx.datamodel, out)
    if ctx.datamodel is not None:
        _check_against_datamodel(spec, ctx.datamodel, out)
    if spec.notify is not None and ctx.templates is not None:
        template = spec.notify.email.template
        if template not in ctx.templates:
            out.error(
                ("notify", "email", "template"),
                f"no email template '{template}' (looked for {template}.subject.j2, "
                f".txt.j2 and .html.j2)" + suggest(template, ctx.templates),
            )
    if isinstance(spec, MetadataTask) and ctx.mappings is not None:
        _check_mapping_reference(spec, ctx.mappings, out)


def _check_mapping_reference(
    spec: MetadataTask, mappings: dict[str, Mapping | None], out: Collector
) -> None:
    name = spec.params.mapping
    if name not in mappings:
        hint = suggest(name, mappings)
        out.error(
            ("params", "mapping"), f"no mapping profile '{name}' in the mappings directory{hint}"
        )
        return
    mapping = mappings[name]
    if mapping is None:
        return  # its own errors are reported on the mapping file
    uncovered = [ot for ot in spec.search.objecttypes if ot not in mapping.objecttypes]
    if uncovered or not spec.search.objecttypes:
        which = (
            ", ".join(uncovered)
            if uncovered
            else "objecttypes other than " + ", ".join(mapping.objecttypes)
        )
        out.warning(
            ("params", "mapping"),
            f"mapping '{name}' does not cover {which}: such objects will be skipped (no_mapping)",
        )


def _check_warnings(spec: AnyTask, ctx: CheckContext, out: Collector) -> None:
    schedule = spec.schedule
    if schedule is not None and isinstance(schedule.at, datetime):
        at = schedule.at
        instant = at if at.tzinfo else at.replace(tzinfo=zone_of(spec, ctx.timezone))
        if instant <= ctx.now:
            out.warning(
                ("schedule", "at"),
                f"'at' {schedule.at.isoformat()} is in the past: the task will not fire "
                "(run it with 'runner run')",
            )
    if spec.module == "delete_objects" and spec.limits.max_objects is None:
        out.warning(
            ("module",),
            "a delete_objects task without limits.max_objects can delete everything its search "
            "matches; set a limit",
        )
    for key in IGNORED_FYLR_KEYS:
        if getattr(spec.search, key) is not None:
            out.warning(("search", key), f"fylr's '{key}' is accepted and ignored by runner")


def _elements(elements: list[Any], path: KeyPath) -> Iterator[tuple[Any, KeyPath]]:
    for index, element in enumerate(elements):
        here = (*path, index)
        yield element, here
        if isinstance(element, ComplexElement):
            yield from _elements(element.search, (*here, "search"))


def _check_search(request: SearchRequest, model: DataModel | None, out: Collector) -> None:
    root: KeyPath = ("search", "search")
    for element, path in _elements(request.search, root):
        if isinstance(element, ComplexElement) and not element.search:
            out.warning(path, "an empty 'complex' element matches every object")
    if model is None:
        return
    for i, name in enumerate(request.objecttypes):
        if name not in model.objecttype_names:
            known = model.objecttype_names
            out.error(
                ("search", "objecttypes", i), f"unknown objecttype '{name}'" + suggest(name, known)
            )
    for element, path in _elements(request.search, root):
        _check_element(element, path, model, out)
    for i, item in enumerate(request.sort):
        _check_field(item.field, ("search", "sort", i, "field"), model, out, None)


def _check_element(element: Any, path: KeyPath, model: DataModel, out: Collector) -> None:
    if isinstance(element, InElement):
        for i, name in enumerate(element.fields):
            _check_field(name, (*path, "fields", i), model, out, None)
        # Only a list of tag ids alone: with other fields, a value may be meant for those.
        if element.fields == ["_tags._id"]:
            for i, value in enumerate(element.in_):
                if value is not None and value not in model.tags_by_id:
                    out.error((*path, "in", i), f"no tag with _id {value!r} in the data model")
    elif isinstance(element, MatchElement):
        for i, name in enumerate(element.fields or []):
            _check_field(name, (*path, "fields", i), model, out, TEXT_TYPES)
    elif isinstance(element, RangeElement):
        kind = _check_field(element.field, (*path, "field"), model, out, RANGE_TYPES)
        for key, bound in (("from", element.from_), ("to", element.to)):
            if bound is not None and kind is not None and _bound_mismatch(kind, bound):
                out.error((*path, key), f"a {kind} field needs a {kind} bound, found {bound!r}")
    elif isinstance(element, ChangelogRangeElement):
        user = element.user
        if user is not None and user not in model.user_names:
            hint = suggest(user, model.user_names)
            out.error((*path, "user"), f"unknown user '{user}'{hint}")


def _bound_mismatch(kind: str, bound: Any) -> bool:
    return (kind == "number") != isinstance(bound, int | float)


def _check_field(
    name: str, path: KeyPath, model: DataModel, out: Collector, types: tuple[str, ...] | None
) -> str | None:
    kind = model.field_type(name)
    if kind is None:
        out.error(path, f"unknown field '{name}'" + suggest(name, model.field_names()))
        return None
    if types is not None and kind not in types:
        out.error(
            path, f"field '{name}' is a {kind} field; this element needs {' or '.join(types)}"
        )
        return None
    return kind


def _check_against_datamodel(spec: AnyTask, model: DataModel, out: Collector) -> None:
    _check_run_as(spec, model, out)
    tags = getattr(spec.params, "tags", [])
    for i, change in enumerate(tags):
        _check_tag(change, ("params", "tags", i), model, out)
    if isinstance(spec, MetadataTask):
        _check_file_field(spec, model, out)
    if isinstance(spec, SearchTask):
        for i, name in enumerate(spec.params.fields or []):
            _check_field(name, ("params", "fields", i), model, out, None)


def _check_run_as(spec: AnyTask, model: DataModel, out: Collector) -> None:
    if spec.run_as not in model.user_names:
        hint = suggest(spec.run_as, model.user_names)
        out.error(("run_as",), f"unknown user '{spec.run_as}' in the data model{hint}")
        return
    rights = model.system_rights(spec.run_as)
    if not rights & {"system.task", "system.root"}:
        out.error(("run_as",), f"user '{spec.run_as}' holds neither system.task nor system.root")
    purge = spec.module == "delete_objects" and spec.params.mode == "purge"
    if purge and not rights & {"system.purge", "system.root"}:
        out.error(("params", "mode"), f"purge needs system.purge, which '{spec.run_as}' lacks")


def _check_tag(change: TagChange, path: KeyPath, model: DataModel, out: Collector) -> None:
    if change.id is not None and change.id not in model.tags_by_id:
        out.error((*path, "_id"), f"no tag with _id {change.id} in the data model")
    if change.reference is not None and change.reference not in model.tags_by_reference:
        hint = suggest(change.reference, model.tags_by_reference)
        out.error((*path, "reference"), f"no tag with reference '{change.reference}'{hint}")


def _check_file_field(spec: MetadataTask, model: DataModel, out: Collector) -> None:
    """`file_field` is `<ot>.<field>` or a bare field name found in the searched objecttypes."""
    name = spec.params.file_field
    names = spec.search.objecttypes or list(model.objecttype_names)
    qualified = [name] if "." in name else [f"{ot}.{name}" for ot in names]
    if not any(model.field_type(q) == "file" for q in qualified):
        files = [n for n in model.field_names() if model.field_type(n) == "file"]
        out.error(("params", "file_field"), f"'{name}' is not a file field" + suggest(name, files))
