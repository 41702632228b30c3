"""fylr record JSON: an object's stored state, the record built from it, and value checks.

A record (DESIGN section 5)::

    {"_objecttype": "images", "_system_object_id": 7, "_global_object_id": "7@local",
     "_uuid": "...", "_tags": [{"_id": 15}], "_created": "...", "_last_modified": "...",
     "_owner": {"user": {"_id": 3}},
     "_changelog": [{"_version": 1, "comment": null, "date_created": "...",
                     "operation": "insert", "run": null, "user": {"user": {"_id": 3}}}],
     "images": {"_id": 3, "_version": 2, "_pool": {"pool": {"_id": 1}}, "title": "...",
                "file": {"path": "assets/3.jpg", "sha256": "..."}}}

Trashed records carry `_latest_version_deleted_at`. `_tags` appears on objecttypes with tags.
System timestamps are written in UTC with `Z` (milliseconds, or microseconds when present);
field values are kept as given, except that a null value is no value and is left out.
Changelog operations: `insert`, `update`, `delete` (into the trash) and `restore`. On import
(`runner.store.importing`), `_global_object_id` defaults to `<id>@local`, `_uuid` to a UUID
derived from it, `_created`/`_last_modified` to the import's time, `<ot>._version` to 1 and
`_changelog` to one `insert` entry by the importing user.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import pydantic_core

from runner.spec.datamodel import DataModel, FieldDef
from runner.spec.diagnostics import suggest
from runner.store.catalog import MAX_VALUES
from runner.store.dates import format_instant, stored_instant
from runner.store.errors import InvalidChange

Record = dict[str, Any]
SHA256 = re.compile(r"^[0-9a-f]{64}$")
FILE_KEYS = ("path", "sha256", "size", "mime")
UUID_NAMESPACE = uuid.UUID("6f0d4b52-7f53-4a39-9a4e-4f1c3e0a8b21")


def stored_json(value: Any) -> str:
    """Compact JSON for the store's own columns: fast (Rust), key order as given."""
    return pydantic_core.to_json(value).decode()


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is: the byte-stable form of export and hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class ChangelogEntry(NamedTuple):
    version: int
    operation: str
    user_id: int | None
    time: int
    run_id: str | None
    comment: str | None

    def to_json(self) -> Record:
        return {
            "_version": self.version,
            "comment": self.comment,
            "date_created": format_instant(self.time),
            "operation": self.operation,
            "run": self.run_id,
            "user": None if self.user_id is None else {"user": {"_id": self.user_id}},
        }


class ObjectState(NamedTuple):
    """One object (or one kept version of it) as the store holds it; times in microseconds.

    Tuples, not dataclasses: an import builds a million of them."""

    id: int
    uuid: str
    global_id: str
    objecttype: str
    ot_id: int
    version: int
    pool_id: int
    owner_id: int | None
    created: int
    last_modified: int
    deleted_at: int | None
    deleted_by_run: str | None
    data: dict[str, Any]
    tags: tuple[int, ...]


def to_record(
    state: ObjectState, has_tags: bool, changelog: Sequence[ChangelogEntry] | None
) -> Record:
    body: Record = {
        "_id": state.ot_id,
        "_version": state.version,
        "_pool": {"pool": {"_id": state.pool_id}},
    }
    body.update(state.data)
    record: Record = {
        "_objecttype": state.objecttype,
        "_system_object_id": state.id,
        "_global_object_id": state.global_id,
        "_uuid": state.uuid,
        "_created": format_instant(state.created),
        "_last_modified": format_instant(state.last_modified),
        state.objecttype: body,
    }
    if has_tags:
        record["_tags"] = [{"_id": tag} for tag in sorted(state.tags)]
    if state.owner_id is not None:
        record["_owner"] = {"user": {"_id": state.owner_id}}
    if state.deleted_at is not None:
        record["_latest_version_deleted_at"] = format_instant(state.deleted_at)
    if changelog is not None:
        record["_changelog"] = [entry.to_json() for entry in changelog]
    return record


def updated_data(model: DataModel, state: ObjectState, change: Mapping[str, Any]) -> Record:
    """The object's field values after `update_fields`'s change (None removes a value);
    InvalidChange names the object and the field that does not take the value."""
    objecttype = model.objecttype_names[state.objecttype]
    data = dict(state.data)
    for name, value in change.items():
        definition = objecttype.field(name)
        if definition is None:
            raise InvalidChange(f"object {state.id} ({objecttype.name}) has no field '{name}'")
        problem = None if value is None else value_problem(definition, value)
        if problem:
            raise InvalidChange(f"object {state.id}: {objecttype.name}.{name}: {problem}")
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def trashing_run(state: ObjectState, changelog: Sequence[ChangelogEntry]) -> str | None:
    """The run of the latest `delete` entry of a trashed object, for `restore_run`."""
    if state.deleted_at is None:
        return None
    deletes = [entry for entry in changelog if entry.operation == "delete"]
    return deletes[-1].run_id if deletes else None


def tag_problems(model: DataModel, tags: Sequence[int]) -> list[str]:
    """Unknown tags, repeated tags, and two tags of one `choice` group."""
    repeated = sorted({tag for tag in tags if tags.count(tag) > 1})
    twice = [f"tag {tag} is listed twice" for tag in repeated]
    return unknown_tags(model, tags) + twice + choice_conflicts(model, tags)


def unknown_tags(model: DataModel, tags: Iterable[int]) -> list[str]:
    return [f"no tag with _id {tag}" for tag in sorted(set(tags)) if tag not in model.tags_by_id]


def choice_conflicts(model: DataModel, tags: Iterable[int]) -> list[str]:
    """A `choice` group holds one tag at most."""
    first: dict[str, int] = {}
    problems = []
    for tag in sorted(set(tags)):
        found = model.tags_by_id.get(tag)
        if found is None or found[0].type != "choice":
            continue
        group = found[0].name
        if group in first:
            problems.append(
                f"tags {first[group]} and {tag} are both in choice group '{group}', "
                "which holds one tag at most"
            )
        first.setdefault(group, tag)
    return problems


def value_problem(field: FieldDef, value: Any) -> str | None:
    """Why `value` cannot be stored in `field`, or None (null values are checked by callers)."""
    if not field.multiple:
        return _scalar_problem(field.type, value)
    if not isinstance(value, list):
        return f"field is multiple: expected a list of values, found {_show(value)}"
    if len(value) > MAX_VALUES:
        return f"at most {MAX_VALUES} values, found {len(value)}"
    for i, item in enumerate(value):
        problem = _scalar_problem(field.type, item)
        if problem:
            return f"value {i}: {problem}"
    return None


def _scalar_problem(kind: str, value: Any) -> str | None:
    if kind in ("text", "string"):
        return None if isinstance(value, str) else f"expected a string, found {_show(value)}"
    if kind == "number":
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and math.isfinite(value):
            return None
        return f"expected a number, found {_show(value)}"
    if kind == "boolean":
        return None if isinstance(value, bool) else f"expected true or false, found {_show(value)}"
    if kind == "date":
        return _date_problem(value)
    return _file_problem(value)


def _date_problem(value: Any) -> str | None:
    if isinstance(value, str):
        try:
            stored_instant(value)
            return None
        except ValueError:
            pass
    return f"expected an ISO 8601 date or date-time, found {_show(value)}"


def _file_problem(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"expected a file object {{path, sha256, size, mime}}, found {_show(value)}"
    unknown = sorted(set(value) - set(FILE_KEYS))
    if unknown:
        return f"unknown key '{unknown[0]}' in a file value" + suggest(unknown[0], FILE_KEYS)
    path = value.get("path")
    if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
        return "a file value needs 'path', relative to the asset directory, without '..'"
    sha = value.get("sha256")
    if sha is not None and not (isinstance(sha, str) and SHA256.match(sha)):
        return "'sha256' must be 64 lowercase hex digits"
    size = value.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        return "'size' must be a byte count"
    mime = value.get("mime")
    if mime is not None and not isinstance(mime, str):
        return "'mime' must be a string"
    return None


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."
