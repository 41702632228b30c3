"""pydantic's validation errors as user-facing diagnostics.

pydantic reports `loc` in model terms (with union tags and validator names in it); users need
the key path in *their* file, the position of the offending node, and a message that says what
to write instead. This module does that translation.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from runner.spec.diagnostics import Collector, suggest
from runner.spec.yamlsafe import Path

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "tuple_type": "a list",
    "datetime_type": "a date-time",
}


def describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


MAX_ERRORS = 200  # per file: past that, more messages help nobody and cost seconds


def add_validation_errors(out: Collector, exc: ValidationError, data: Any, root: Any) -> None:
    """Append one diagnostic per pydantic error; `root` is the validated type (for key hints)."""
    seen: set[tuple[Path, str]] = set()
    errors = exc.errors(include_url=False)
    for error in errors[:MAX_ERRORS]:
        path, missing = file_path(data, error["loc"])
        message, on_key = _message(error, data, path, missing, root)
        path = _at_tag_key(error, path)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        # A missing key is reported at the mapping that lacks it, with the key in the loc.
        loc = path if missing is None else (*path, missing)
        out.error(path, message, key=on_key, loc=loc)
    if len(errors) > MAX_ERRORS:
        out.error((), f"{len(errors) - MAX_ERRORS} more problems not shown; fix these first")


_TAG_KEYS = {"module": "module", "element_type": "type", "store_type": "type"}


def _at_tag_key(error: ErrorDetails, path: Path) -> Path:
    """An unknown module or element type is reported at its `module:`/`type:` value."""
    key = _TAG_KEYS.get(error["type"])
    value = error.get("input")
    if key and isinstance(value, dict) and key in value:
        return (*path, key)
    return path


def file_path(data: Any, loc: tuple[int | str, ...]) -> tuple[Path, str | None]:
    """Walk `loc` through the user's data; drop union tags and validator names.

    Returns the path that exists in the data and, for a missing key, that key.
    """
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        if isinstance(current, dict) and isinstance(part, str) and part in current:
            path.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
        elif isinstance(part, str) and _synthetic(part):
            continue
        elif isinstance(current, dict) and isinstance(part, str) and index == len(loc) - 1:
            return tuple(path), part
    return tuple(path), None


def _synthetic(part: str) -> bool:
    """Union tags ('type=in') and pydantic's validator names ('function-after[...]')."""
    return "=" in part or "[" in part or part in ("str", "int", "float", "bool", "list")


def _message(
    error: ErrorDetails, data: Any, path: Path, missing: str | None, root: Any
) -> tuple[str, bool]:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if missing is not None:
        return f"missing required key '{missing}'", False
    if kind == "extra_forbidden":
        key = str(path[-1])
        allowed = keys_at(root, data, path[:-1])
        return f"unknown key '{key}'" + suggest(key, allowed), True
    if kind == "missing":
        return f"missing required key '{path[-1] if path else ''}'", False
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        hint = suggest(
            str(value), [e.strip(" '") for e in expected.replace(" or ", ",").split(",")]
        )
        if hint == f"; did you mean '{value}'?":  # the right text, quoted: `version: "1"`
            hint = "; write it without quotes"
        return f"{describe(value)} is not allowed here; expected {expected}{hint}", False
    if kind in ("module", "element_type", "store_type"):
        return _tag_message(kind, value), False
    if kind in _TYPE_NAMES:
        return f"expected {_TYPE_NAMES[kind]}, found {describe(value)}", False
    if kind == "too_short":
        needed = ctx.get("min_length", 1)
        return f"needs at least {needed} item{'s' if needed != 1 else ''}", False
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{describe(value)} is out of range: {error['msg'].removeprefix('Input ')}", False
    if kind == "string_pattern_mismatch":
        return f"{describe(value)} does not have the expected form ({ctx.get('pattern')})", False
    if kind == "string_too_short":
        return "must not be empty", False
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return message, False


def _tag_message(kind: str, value: Any) -> str:
    from runner.spec.search import ELEMENT_TYPES
    from runner.spec.task import MODULE_NAMES

    key, what, choices = {
        "module": ("module", "module", MODULE_NAMES),
        "element_type": ("type", "search element type", ELEMENT_TYPES),
        "store_type": ("type", "store type", ("sqlite", "postgres")),
    }[kind]
    if not isinstance(value, dict):
        return f"expected a mapping, found {describe(value)}"
    found = value.get(key)
    if found is None:
        return f"missing required key '{key}' (one of: {', '.join(choices)})"
    if not isinstance(found, str):
        return f"'{key}' must be one of: {', '.join(choices)}; found {describe(found)}"
    hint = suggest(found, choices)
    return f"unknown {what} '{found}'; use one of: {', '.join(choices)}{hint}"


def keys_at(root: Any, data: Any, path: Path) -> list[str]:
    """The keys a mapping at `path` may have, following the data through unions."""
    candidates = _forms(root)
    current = data
    for part in path:
        model = _pick(candidates, current)
        if isinstance(part, int):
            candidates = [arg for c in candidates if _is_list(c) for arg in _forms(get_args(c)[0])]
            current = current[part] if isinstance(current, list) else None
            continue
        if model is None:
            return []
        field = _field_by_alias(model, part)
        if field is None:
            return []
        candidates = _forms(field)
        current = current.get(part) if isinstance(current, dict) else None
    model = _pick(candidates, current)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _forms(tp: Any) -> list[Any]:
    """Unwrap Annotated and unions into models and list types."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _forms(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return [form for arg in get_args(tp) for form in _forms(arg)]
    return [tp]


def _is_list(tp: Any) -> bool:
    return get_origin(tp) in (list, tuple)


def _field_by_alias(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if (field.alias or name) == key:
            return field.annotation
    return None


def _pick(candidates: list[Any], data: Any) -> type[BaseModel] | None:
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    if not models:
        return None
    if isinstance(data, dict):
        for model in models:
            for key in ("module", "type"):
                field = model.model_fields.get(key)
                if field is not None and get_origin(field.annotation) is Literal:
                    wanted = data.get(key)
                    if wanted in get_args(field.annotation):
                        return model
    return models[0]
