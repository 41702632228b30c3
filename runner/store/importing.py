"""Validating imported record lines: one pydantic model per objecttype, built from the data model.

A line is parsed and validated in one pass (`validate_json`) by a union of record models
discriminated by `_objecttype`, each with its objecttype's fields typed as the data model says
(`text`/`string` strings, `number` finite numbers, `boolean`, `date` ISO 8601 strings, `file`
objects `{path, sha256, size, mime}`, `multiple` fields lists). What a model cannot say (pools,
users and tags that exist, one tag per `choice` group) is checked after it. Every problem of a
line is reported, with the key it concerns.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Annotated, Any, Literal, NotRequired, Union, cast

import pydantic_core
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from runner.spec.datamodel import DataModel, FieldDef, ObjectType
from runner.spec.diagnostics import suggest
from runner.store.base import ImportProblem, ImportReport
from runner.store.catalog import MAX_VALUES
from runner.store.dates import stored_instant
from runner.store.records import (
    SHA256,
    UUID_NAMESPACE,
    ChangelogEntry,
    ObjectState,
    tag_problems,
    value_problem,
)

PositiveInt = Annotated[StrictInt, Field(ge=1)]
UUID_PATTERN = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
BODY_KEYS = ("_id", "_version", "_pool")
Parsed = tuple[ObjectState, tuple[ChangelogEntry, ...]]
# Typed dicts, not model classes: validated in one pass in Rust without building an object
# per record, which is most of the cost of a million-line import.
STRICT = ConfigDict(extra="forbid", strict=True)


class RecordInvalid(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ImportDefaults:
    """What a record may leave out: the import's time (microseconds), user and run."""

    now: int
    user_id: int
    run_id: str | None


def _check_date(value: str) -> str:
    stored_instant(value)  # ValueError when not ISO 8601
    return value


def _check_path(value: str) -> str:
    if not value or value.startswith("/") or ".." in value.split("/"):
        raise ValueError("a file path is relative to the asset directory, without '..'")
    return value


@with_config(STRICT)
class Ref(TypedDict):
    _id: StrictInt


@with_config(STRICT)
class UserRef(TypedDict):
    user: Ref


@with_config(STRICT)
class PoolRef(TypedDict):
    pool: Ref


@with_config(STRICT)
class FileValue(TypedDict):
    path: Annotated[StrictStr, AfterValidator(_check_path)]
    sha256: NotRequired[Annotated[StrictStr, Field(pattern=SHA256.pattern)] | None]
    size: NotRequired[Annotated[StrictInt, Field(ge=0)] | None]
    mime: NotRequired[StrictStr | None]


@with_config(STRICT)
class ChangelogIn(TypedDict):
    _version: PositiveInt
    date_created: StrictStr
    operation: Literal["insert", "update", "delete", "restore"]
    user: NotRequired[UserRef | None]
    run: NotRequired[StrictStr | None]
    comment: NotRequired[StrictStr | None]


SYSTEM_KEYS: dict[str, Any] = {
    "_system_object_id": PositiveInt,
    "_global_object_id": NotRequired[Annotated[StrictStr, Field(min_length=1)] | None],
    "_uuid": NotRequired[Annotated[StrictStr, Field(pattern=UUID_PATTERN)] | None],
    "_tags": NotRequired[list[Ref] | None],
    "_created": NotRequired[StrictStr | None],
    "_last_modified": NotRequired[StrictStr | None],
    "_owner": NotRequired[UserRef | None],
    "_changelog": NotRequired[list[ChangelogIn] | None],
    "_latest_version_deleted_at": NotRequired[StrictStr | None],
}
_SCALARS: dict[str, Any] = {
    "text": StrictStr,
    "string": StrictStr,
    "number": Union[StrictInt, Annotated[StrictFloat, Field(allow_inf_nan=False)]],  # noqa: UP007
    "boolean": StrictBool,
    "date": Annotated[StrictStr, AfterValidator(_check_date)],
    "file": FileValue,
}


def _value_type(field: FieldDef) -> Any:
    scalar = _SCALARS[field.type]
    listed = cast(Any, list)[scalar]
    return Annotated[listed, Field(max_length=MAX_VALUES)] if field.multiple else scalar


def record_schema(objecttype: ObjectType) -> Any:
    """The validated shape of one objecttype's records, from the data model."""
    body: dict[str, Any] = {
        "_id": PositiveInt,
        "_version": NotRequired[PositiveInt],
        "_pool": PoolRef,
    }
    body |= {f.name: NotRequired[_value_type(f) | None] for f in objecttype.fields}
    body_type = with_config(STRICT)(TypedDict(f"{objecttype.name}_body", body))  # type: ignore[operator]
    keys = {
        "_objecttype": cast(Any, Literal)[objecttype.name],
        **SYSTEM_KEYS,
        objecttype.name: body_type,
    }
    return with_config(STRICT)(TypedDict(f"{objecttype.name}_record", keys))  # type: ignore[operator]


class RecordParser:
    """Parses JSON lines against one data model; building it takes milliseconds, so a
    store keeps one per data model."""

    def __init__(self, model: DataModel) -> None:
        self.model = model
        self.pool_ids = frozenset(pool.id for pool, _, _ in model.pool_entries())
        self.user_ids = frozenset(user.id for user in model.users)
        shapes = [record_schema(ot) for ot in model.objecttypes]
        shape: Any = shapes[0]
        if len(shapes) > 1:
            shape = Annotated[Union[tuple(shapes)], Field(discriminator="_objecttype")]  # noqa: UP007
        self.adapter: TypeAdapter[Any] = TypeAdapter(shape)

    def parse(self, text: str, defaults: ImportDefaults) -> Parsed:
        """One JSON line as a stored object; RecordInvalid lists every problem found."""
        try:
            record = self.adapter.validate_json(text)
        except ValidationError as exc:
            raise RecordInvalid(_Explainer(self.model, text).problems(exc)) from None
        return _Builder(self, defaults, record).build()


class _Builder:
    """Turns a validated record into stored state, checking what the schema cannot."""

    def __init__(
        self, parser: RecordParser, defaults: ImportDefaults, record: dict[str, Any]
    ) -> None:
        self.parser = parser
        self.defaults = defaults
        self.record = record
        self.problems: list[str] = []

    def build(self) -> Parsed:
        head = self.record
        objecttype = self.parser.model.objecttype_names[head["_objecttype"]]
        body = head[objecttype.name]
        sid = head["_system_object_id"]
        global_id = head.get("_global_object_id") or f"{sid}@local"
        created = self._instant(head.get("_created"), "_created") or self.defaults.now
        owner = head.get("_owner")
        state = ObjectState(
            id=sid,
            uuid=head.get("_uuid") or str(uuid.uuid5(UUID_NAMESPACE, global_id)),
            global_id=global_id,
            objecttype=objecttype.name,
            ot_id=body["_id"],
            version=body.get("_version", 1),
            pool_id=self._pool(body["_pool"]["pool"]["_id"], objecttype.name),
            owner_id=self._user(owner["user"]["_id"], "_owner.user._id") if owner else None,
            created=created,
            last_modified=self._instant(head.get("_last_modified"), "_last_modified") or created,
            deleted_at=self._instant(
                head.get("_latest_version_deleted_at"), "_latest_version_deleted_at"
            ),
            deleted_by_run=None,
            data={k: v for k, v in body.items() if v is not None and k not in BODY_KEYS},
            tags=self._tags(objecttype, [t["_id"] for t in head.get("_tags") or ()]),
        )
        changelog = self._changelog(state)
        if self.problems:
            raise RecordInvalid(self.problems)
        return state, changelog

    def _instant(self, value: str | None, key: str) -> int | None:
        if value is None:
            return None
        try:
            return stored_instant(value)
        except ValueError:
            self.problems.append(f"{key}: {value!r} is not an ISO 8601 date-time")
            return None

    def _pool(self, pool_id: int, objecttype: str) -> int:
        if pool_id not in self.parser.pool_ids:
            self.problems.append(f"{objecttype}._pool.pool._id: no pool with _id {pool_id}")
        return pool_id

    def _user(self, user_id: int, key: str) -> int:
        if user_id not in self.parser.user_ids:
            self.problems.append(f"{key}: no user with _id {user_id}")
        return user_id

    def _tags(self, objecttype: ObjectType, tags: list[int]) -> tuple[int, ...]:
        if tags and not objecttype.has_tags:
            self.problems.append(f"_tags: objecttype '{objecttype.name}' has no tags")
        self.problems += [f"_tags: {p}" for p in tag_problems(self.parser.model, tags)]
        return tuple(sorted(set(tags)))

    def _changelog(self, state: ObjectState) -> tuple[ChangelogEntry, ...]:
        given = self.record.get("_changelog")
        if given is None:
            d = self.defaults
            return (
                ChangelogEntry(state.version, "insert", d.user_id, state.created, d.run_id, None),
            )
        return tuple(self._entry(i, raw) for i, raw in enumerate(given))

    def _entry(self, i: int, raw: dict[str, Any]) -> ChangelogEntry:
        time = self._instant(raw["date_created"], f"_changelog.{i}.date_created") or 0
        user = raw.get("user")
        who = self._user(user["user"]["_id"], f"_changelog.{i}.user.user._id") if user else None
        return ChangelogEntry(
            raw["_version"], raw["operation"], who, time, raw.get("run"), raw.get("comment")
        )


class _Explainer:
    """Messages for a line that failed validation, in the words of the data model."""

    def __init__(self, model: DataModel, text: str) -> None:
        self.model = model
        try:
            self.raw: Any = pydantic_core.from_json(text)
        except ValueError:
            self.raw = None

    def problems(self, exc: ValidationError) -> list[str]:
        found: list[str] = []
        for error in exc.errors():
            message = self.explain(error)
            if message not in found:
                found.append(message)
        return found

    def explain(self, error: Any) -> str:
        kind, loc = error["type"], tuple(error["loc"])
        if kind == "json_invalid":
            return f"invalid JSON: {error['ctx']['error']}"
        if kind in ("dict_type", "model_type") and not loc:
            return "a record is a JSON object"
        if kind in ("union_tag_invalid", "union_tag_not_found", "literal_error") and len(loc) <= 1:
            return self.objecttype_problem()
        objecttype = loc[0] if loc and loc[0] in self.model.objecttype_names else None
        path = loc[1:] if objecttype else loc
        if objecttype and len(path) >= 2 and path[0] == objecttype and path[1] not in BODY_KEYS:
            return self.field_problem(objecttype, str(path[1]), kind)
        where = ".".join(str(part) for part in path)
        if kind == "extra_forbidden":
            known = [*SYSTEM_KEYS, "_objecttype", *([objecttype] if objecttype else [])]
            return f"{where}: unknown key" + suggest(str(path[-1]), known)
        return f"{where}: {'missing' if kind == 'missing' else error['msg']}"

    def objecttype_problem(self) -> str:
        name = self.raw.get("_objecttype") if isinstance(self.raw, dict) else None
        known = self.model.objecttype_names
        if name is None:
            return "_objecttype: missing (one of: " + ", ".join(known) + ")"
        return f"_objecttype: unknown objecttype {name!r}" + suggest(str(name), known)

    def field_problem(self, objecttype: str, name: str, kind: str) -> str:
        definition = self.model.objecttype_names[objecttype].field(name)
        if definition is None or kind == "extra_forbidden":
            known = [f.name for f in self.model.objecttype_names[objecttype].fields]
            return f"{objecttype}.{name}: unknown field of objecttype '{objecttype}'" + suggest(
                name, known
            )
        value = self.raw[objecttype][name] if isinstance(self.raw, dict) else None
        return f"{objecttype}.{name}: {value_problem(definition, value) or 'invalid value'}"


ParsedLine = tuple[int, Parsed]


def parse_batch(
    parser: RecordParser, batch: list[tuple[int, str]], defaults: ImportDefaults
) -> tuple[list[ParsedLine], list[ImportProblem]]:
    """The parsed non-blank lines of a batch, and the problems of the others."""
    parsed: list[ParsedLine] = []
    problems: list[ImportProblem] = []
    for line, text in batch:
        if not text.strip():
            continue
        try:
            parsed.append((line, parser.parse(text, defaults)))
        except RecordInvalid as exc:
            problems += [ImportProblem(line, problem) for problem in exc.problems]
    return parsed, problems


def batch_duplicates(parsed: list[ParsedLine]) -> list[ImportProblem]:
    """Identifiers given twice in one batch: one message per line, naming the first line."""
    problems = []
    seen: dict[tuple[str, object], int] = {}
    for line, (state, _) in parsed:
        keys = [
            ("_system_object_id", state.id),
            ("_uuid", state.uuid),
            ("_global_object_id", state.global_id),
            (f"{state.objecttype}._id", state.ot_id),
        ]
        repeated = [key for key in keys if key in seen]
        if repeated:  # the others usually follow from the first
            name, value = repeated[0]
            problems.append(
                ImportProblem(line, f"{name} {value!r} is also on line {seen[repeated[0]]}")
            )
        for key in keys:
            seen.setdefault(key, line)
    return problems


@dataclass(frozen=True)
class BatchWriter:
    """What a backend does with the batches of an import: `store` writes a valid batch in one
    transaction, or rolls it back and says why (returning how many objects it replaced);
    `taken` lists the batch's identifiers that other stored objects hold."""

    store: Callable[[list[ParsedLine]], tuple[list[ImportProblem], int]]
    taken: Callable[[list[ParsedLine]], list[ImportProblem]]


def import_batches(
    lines: Iterable[str],
    parser: RecordParser,
    defaults: ImportDefaults,
    writer: BatchWriter,
    batch_size: int,
) -> ImportReport:
    """`Store.import_records`: each batch of lines is stored whole or, with any problem in it
    (also identifiers taken by other objects), not at all; every problem is reported."""
    imported = replaced = rejected = 0
    problems: list[ImportProblem] = []
    numbered = enumerate(lines, start=1)
    while batch := list(islice(numbered, batch_size)):
        parsed, found = parse_batch(parser, batch, defaults)
        found += batch_duplicates(parsed)
        count = 0
        if found:
            found += writer.taken(parsed)
        else:
            found, count = writer.store(parsed)
        if found:
            rejected += sum(1 for _, text in batch if text.strip())
            problems += sorted(found, key=lambda p: p.line)
        else:
            imported, replaced = imported + len(parsed), replaced + count
    return ImportReport(imported, replaced, rejected, tuple(problems))
