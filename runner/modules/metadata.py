"""metadata: re-apply a mapping profile from each object's file (XMP, IPTC, EXIF).

Per batch: the records are read, the objects the user may not write are `object_denied`, an
object whose objecttype the profile does not cover is skipped (`no_mapping`), one without a
file is skipped (`no_file`); each file is read with pyexiv2 (one at a time: it is not
thread-safe), the profile gives the new values, and all changed objects are written in one
store call, each as a new version. The task's tags are then set/unset on the updated objects
only. A file that cannot be read fails that object (`unreadable_file`), not the run.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from runner.modules.base import BATCH_SIZE, BatchOutcome, Failure, ModuleError, RunContext
from runner.modules.set_unset_tags import resolve_tags
from runner.spec.datamodel import FieldDef, ObjectType
from runner.spec.files import load_mapping_file
from runner.spec.mapping import Mapping, Rule
from runner.spec.task import MetadataTask
from runner.store.base import Record, Skipped

_EXIV2 = threading.Lock()  # pyexiv2 is not thread-safe: one file at a time, process-wide
_EXIF_DATE = re.compile(r"^(\d{4}):(\d{2}):(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2}))?")
_LANG = re.compile(r'^lang="([^"]+)"$')


def read_metadata(path: Path) -> dict[str, Any]:
    """XMP, IPTC and EXIF of one file as exiv2 key -> value (str, list or language dict)."""
    import pyexiv2  # type: ignore[import-untyped]

    with _EXIV2, pyexiv2.Image(str(path)) as image:
        found: dict[str, Any] = {}
        found.update(image.read_exif())
        found.update(image.read_iptc())
        found.update(image.read_xmp())
        return found


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def pick_language(value: dict[str, Any], lang: str) -> Any:
    """An XMP language alternative: the rule's language, else x-default, else the first."""
    by_lang = {_language(key): text for key, text in value.items()}
    for wanted in (lang, "x-default"):
        if wanted in by_lang:
            return by_lang[wanted]
    return next(iter(by_lang.values()), None)


def _language(key: str) -> str:
    """pyexiv2 names an alternative 'lang="de-DE"'."""
    found = _LANG.match(key)
    return found.group(1) if found else key


def convert(raw: Any, field: FieldDef, rule: Rule) -> Any:
    """The file's value in the field's type; ValueError when it does not fit."""
    if isinstance(raw, dict):
        raw = pick_language(raw, rule.lang)
    items = [str(v) for v in raw] if isinstance(raw, list) else [str(raw)]
    items = [item.strip() for item in items if item.strip()]
    if not items:
        return None
    if field.multiple:
        return [_scalar(item, field) for item in items]
    if field.type in ("text", "string"):
        return rule.join.join(items)
    return _scalar(items[0], field)


def _scalar(text: str, field: FieldDef) -> Any:
    if field.type == "number":
        number = Fraction(text) if "/" in text else Fraction(text.replace(",", "."))
        return int(number) if number.denominator == 1 else float(number)
    if field.type == "date":
        return _date(text)
    if field.type == "boolean":
        return text.lower() in ("true", "1", "yes", "on")
    return text


def _date(text: str) -> str:
    exif = _EXIF_DATE.match(text)
    if exif:
        day = "-".join(exif.groups()[:3])
        return f"{day}T{':'.join(exif.groups()[3:])}" if exif.group(4) else day
    datetime.fromisoformat(text)  # raises ValueError for what is not a date
    return text


def decide(rule: Rule, old: Any, new: Any, overwrite: bool) -> Any:
    """The field's value after the rule: the strategies of the module docstring."""
    if new is None:
        return old
    if rule.strategy == "append":
        kept = list(old) if isinstance(old, list) else ([] if old is None else [old])
        return kept + [item for item in new if item not in kept]
    if _present(old) and (rule.strategy == "skip_if_present" or not overwrite):
        return old
    return new


def mapped_changes(
    mapping: Mapping,
    objecttype: ObjectType,
    current: dict[str, Any],
    metadata: dict[str, Any],
    overwrite: bool,
) -> dict[str, Any]:
    """The fields whose value the profile changes, with their new values."""
    changes: dict[str, Any] = {}
    for rule in mapping.rules:
        field = objecttype.field(rule.to)
        raw = next((metadata[key] for key in rule.from_ if _present(metadata.get(key))), None)
        if field is None or raw is None:
            continue
        try:
            new = convert(raw, field, rule)
        except (ValueError, ZeroDivisionError, ArithmeticError):
            continue  # a value that does not fit the field is not mapped
        value = decide(rule, current.get(rule.to), new, overwrite)
        if value != current.get(rule.to):
            changes[rule.to] = value
    return changes


class Metadata:
    batch_size = BATCH_SIZE  # it reads each object's file

    def __init__(self) -> None:
        self.mapping: Mapping | None = None
        self.to_set: list[int] = []
        self.to_unset: list[int] = []

    def start(self, ctx: RunContext) -> None:
        assert isinstance(ctx.spec, MetadataTask)
        params = ctx.spec.params
        path = next(
            (
                p
                for p in (ctx.mappings_dir / f"{params.mapping}{s}" for s in (".yaml", ".yml"))
                if p.is_file()
            ),
            None,
        )
        if path is None:
            raise ModuleError(f"no mapping profile '{params.mapping}' in {ctx.mappings_dir}")
        loaded = load_mapping_file(path, ctx.store.model)
        if loaded.value is None:
            first = loaded.errors[0] if loaded.errors else "invalid"
            raise ModuleError(f"mapping profile {path} is invalid: {first}")
        self.mapping = loaded.value
        self.to_set, self.to_unset = resolve_tags(ctx.store.model, params.tags)

    def apply(self, ctx: RunContext, ids: list[int]) -> BatchOutcome:
        rights = ctx.store.allowed(ids, ctx.user, "write")
        outcome = BatchOutcome(denied=list(rights.denied))
        changes: dict[int, dict[str, Any]] = {}
        for record in ctx.store.get(rights.allowed):
            self._plan(ctx, record, outcome, changes)
        if changes:
            written = ctx.store.update_fields(changes, **_write_args(ctx))
            outcome = outcome.merge(BatchOutcome.of(written))
            self._tag(ctx, list(written.changed))
        return outcome

    def _plan(
        self,
        ctx: RunContext,
        record: Record,
        outcome: BatchOutcome,
        changes: dict[int, dict[str, Any]],
    ) -> None:
        assert self.mapping is not None and isinstance(ctx.spec, MetadataTask)
        object_id = record["_system_object_id"]
        name = record["_objecttype"]
        objecttype = ctx.store.model.objecttype_names[name]
        if name not in self.mapping.objecttypes:
            outcome.skipped.append(Skipped(object_id, "no_mapping"))
            return
        field = _file_field(ctx.spec.params.file_field, name)
        asset = ctx.store.asset(object_id, field) if field else None
        if asset is None:
            outcome.skipped.append(Skipped(object_id, "no_file"))
            return
        try:
            metadata = read_metadata(asset.path)
        except Exception as exc:  # pyexiv2 raises RuntimeError and OSError variants alike
            outcome.failed.append(
                Failure(object_id, "unreadable_file", f"{asset.path.name}: {exc}")
            )
            return
        current = record.get(name, {})
        found = mapped_changes(
            self.mapping, objecttype, current, metadata, ctx.spec.params.overwrite
        )
        if found:
            changes[object_id] = found
        else:
            outcome.unchanged.append(object_id)

    def _tag(self, ctx: RunContext, ids: list[int]) -> None:
        if ids and (self.to_set or self.to_unset):
            ctx.store.set_tags(ids, self.to_set, self.to_unset, **_write_args(ctx))

    def finish(self, ctx: RunContext) -> dict[str, Any]:
        return {}


def _file_field(file_field: str, objecttype: str) -> str | None:
    """`images.file` applies to images only; a bare `file` to every objecttype."""
    owner, _, name = file_field.rpartition(".")
    if owner and owner != objecttype:
        return None
    return name


def _write_args(ctx: RunContext) -> dict[str, Any]:
    return {"user": ctx.user, "now": ctx.now(), "run_id": ctx.run_id, "dry_run": ctx.dry_run}
