"""The task file (DESIGN section 4): one model per module, joined in a union on `module`."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from runner.spec.cron import CronEntry, parse_cron
from runner.spec.search import FieldName, SearchRequest
from runner.spec.types import (
    STRICT_FROZEN,
    DateTime,
    Duration,
    EmailAddress,
    Name,
    OneLine,
    Timezone,
    Version,
    parse_datetime,
    zone,
)

MODULE_NAMES = ("delete_objects", "metadata", "search", "set_unset_tags")
TASK_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TEMPLATE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"


def _check_cron(value: str, info: ValidationInfo) -> str:
    task_id = (info.context or {}).get("task_id")
    parse_cron(value, task_id)
    return value


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


CronExpression = Annotated[
    StrictStr,
    AfterValidator(_check_cron),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "examples": ["0 6 * * 1-5", "@daily", "H 2 * * *"]}
    ),
]
CronList = Annotated[
    list[CronExpression],
    BeforeValidator(_as_list),
    Field(min_length=1),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
            ],
            "description": "one cron expression or a list of them",
        }
    ),
]


def _parse_at(value: Any) -> Any:
    return value if value == "now" else parse_datetime(value)


AtTime = Annotated[
    Literal["now"] | datetime,
    BeforeValidator(_parse_at),
    PlainSerializer(lambda v: v if v == "now" else v.isoformat(), return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"const": "now"},
                {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}"},
            ]
        }
    ),
]


class Every(BaseModel):
    """A fylr schedule object: every given key must match (weekday AND day of month)."""

    model_config = STRICT_FROZEN
    weekdays: list[Literal[WEEKDAYS]] | None = Field(None, min_length=1)  # type: ignore[valid-type]
    days_of_month: list[Annotated[StrictInt, Field(ge=1, le=31)]] | None = Field(None, min_length=1)
    hours: list[Annotated[StrictInt, Field(ge=0, le=23)]] | None = Field(None, min_length=1)
    minutes: list[Annotated[StrictInt, Field(ge=0, le=59)]] = Field([0], min_length=1)


class Schedule(BaseModel):
    model_config = STRICT_FROZEN
    at: AtTime | None = None
    cron: CronList | None = None
    every: list[Every] | None = Field(None, min_length=1)
    timezone: Timezone | None = None
    missed: Literal["skip", "once", "all"] = "once"
    max_lateness: Duration | None = None
    max_catchup: StrictInt = Field(10, ge=1, le=10000)
    concurrency: Literal["forbid", "allow", "replace"] = "forbid"

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Schedule:
        given = [k for k in ("at", "cron", "every") if getattr(self, k) is not None]
        if len(given) != 1:
            found = f"found {' and '.join(given)}" if given else "found none"
            raise ValueError(f"a schedule needs exactly one of 'at', 'cron' or 'every' ({found})")
        return self

    @property
    def kind(self) -> str:
        return "at" if self.at is not None else "cron" if self.cron is not None else "every"

    def cron_entries(self, task_id: str) -> list[CronEntry]:
        return [parse_cron(expression, task_id) for expression in self.cron or []]


class Limits(BaseModel):
    model_config = STRICT_FROZEN
    max_objects: StrictInt | None = Field(None, ge=1)
    # objects per batch (one transaction and checkpoint each); None: the module's own size
    batch_size: StrictInt | None = Field(None, ge=1, le=100_000)


class Email(BaseModel):
    model_config = STRICT_FROZEN
    to: list[EmailAddress] = Field(min_length=1)
    problems_only: StrictBool = False
    template: Annotated[StrictStr, Field(pattern=TEMPLATE_NAME)] = "default"


class Notify(BaseModel):
    model_config = STRICT_FROZEN
    email: Email


class TagChange(BaseModel):
    """Set or unset one tag, named by `_id` or by `reference`."""

    model_config = STRICT_FROZEN
    id: StrictInt | None = Field(None, alias="_id", ge=1)
    reference: Annotated[StrictStr, Field(min_length=1)] | None = None
    set: StrictBool

    @model_validator(mode="after")
    def _one_name(self) -> TagChange:
        if (self.id is None) == (self.reference is None):
            raise ValueError("name the tag with exactly one of '_id' or 'reference'")
        return self


class DeleteObjectsParams(BaseModel):
    model_config = STRICT_FROZEN
    mode: Literal["trash", "purge"] = "trash"


class SetUnsetTagsParams(BaseModel):
    model_config = STRICT_FROZEN
    tags: list[TagChange] = Field(min_length=1)


class MetadataParams(BaseModel):
    model_config = STRICT_FROZEN
    mapping: Name
    file_field: FieldName
    overwrite: StrictBool = False
    tags: list[TagChange] = Field(default_factory=list)


class SearchParams(BaseModel):
    model_config = STRICT_FROZEN
    fields: list[FieldName] | None = Field(None, min_length=1)
    max_rows: StrictInt = Field(100, ge=1, le=10000)
    attach: Literal["csv", "none"] = "csv"


class _Task(BaseModel):
    model_config = STRICT_FROZEN
    version: Version
    description: OneLine
    run_as: Name
    enabled: StrictBool = True
    schedule: Schedule | None = None
    timeout: Duration | None = None
    search: SearchRequest
    limits: Limits = Field(default_factory=Limits)
    dry_run: StrictBool = False
    notify: Notify | None = None

    def spec_hash(self) -> str:
        """sha256 of the canonical JSON of the validated spec (defaults applied)."""
        return canonical_hash(self.model_dump(mode="json", by_alias=True))


def canonical_hash(data: dict[str, Any]) -> str:
    """The spec hash of a spec already dumped as JSON values (`model_dump(mode="json")`)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class DeleteObjectsTask(_Task):
    module: Literal["delete_objects"]
    params: DeleteObjectsParams = Field(default_factory=DeleteObjectsParams)


class SetUnsetTagsTask(_Task):
    module: Literal["set_unset_tags"]
    params: SetUnsetTagsParams


class MetadataTask(_Task):
    module: Literal["metadata"]
    params: MetadataParams


class SearchTask(_Task):
    module: Literal["search"]
    params: SearchParams = Field(default_factory=SearchParams)


class GenericTask(_Task):
    """The keys every task has, to report their problems when `module` itself is wrong."""

    module: StrictStr
    params: Any = None


def zone_of(spec: _Task, default: str) -> ZoneInfo:
    """The task's timezone: its schedule's, else the configured default."""
    name = spec.schedule.timezone if spec.schedule and spec.schedule.timezone else default
    return zone(name)


def _module_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        module = value.get("module")
        return f"module={module}" if isinstance(module, str) else None
    return f"module={getattr(value, 'module', None)}"


TaskSpec = Annotated[
    Annotated[DeleteObjectsTask, Tag("module=delete_objects")]
    | Annotated[MetadataTask, Tag("module=metadata")]
    | Annotated[SearchTask, Tag("module=search")]
    | Annotated[SetUnsetTagsTask, Tag("module=set_unset_tags")],
    Discriminator(
        _module_tag,
        custom_error_type="module",
        custom_error_message="unknown module",
    ),
]
TASK_ADAPTER: TypeAdapter[Any] = TypeAdapter(TaskSpec)
TASK_MODELS: dict[str, type[_Task]] = {
    "delete_objects": DeleteObjectsTask,
    "metadata": MetadataTask,
    "search": SearchTask,
    "set_unset_tags": SetUnsetTagsTask,
}
AnyTask = DeleteObjectsTask | MetadataTask | SearchTask | SetUnsetTagsTask


def validate_task(data: Any, task_id: str) -> AnyTask:
    """Validate a task file's data; raises pydantic.ValidationError."""
    result: AnyTask = TASK_ADAPTER.validate_python(data, context={"task_id": task_id})
    return result


def task_json_schema() -> dict[str, Any]:
    schema: dict[str, Any] = TASK_ADAPTER.json_schema(by_alias=True)
    return schema


__all__ = [
    "MODULE_NAMES",
    "TASK_ID",
    "AnyTask",
    "DateTime",
    "DeleteObjectsTask",
    "MetadataTask",
    "Schedule",
    "SearchTask",
    "SetUnsetTagsTask",
    "TagChange",
    "validate_task",
]
