"""Metadata mapping profiles (`mappings/<name>.yaml`): which embedded metadata fills which field.

A rule reads the first of its `from` keys (exiv2 names: `Xmp.dc.title`,
`Iptc.Application2.Keywords`, `Exif.Photo.DateTimeOriginal`) that the file has, and writes it to
the field `to` of the object's objecttype:

- `replace` (default): the field takes the file's value; with the task's `overwrite: false` a
  field that already has a value is left alone.
- `append`: for `multiple` fields: the file's values are added to the field's, without
  duplicates, in order.
- `skip_if_present`: the field is only filled when empty, whatever `overwrite` says.

XMP language alternatives (`Xmp.dc.title`) give the rule's `lang` (default `x-default`), else
the `x-default` entry, else the first. Lists become text joined with `join` (default ", ") for
text and string fields.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StrictStr, WithJsonSchema

from runner.spec.datamodel import DataModel
from runner.spec.diagnostics import Collector, suggest
from runner.spec.types import STRICT_FROZEN, OneLine, Version

METADATA_KEY = r"^(Xmp|Iptc|Exif)\.[A-Za-z0-9]+\.[A-Za-z0-9_]+$"
Strategy = Literal["replace", "append", "skip_if_present"]


def _check_key(value: str) -> str:
    if not re.match(METADATA_KEY, value):
        raise ValueError(
            f"{value!r} is not a metadata key: write an exiv2 key such as Xmp.dc.title, "
            "Iptc.Application2.Keywords or Exif.Photo.DateTimeOriginal"
        )
    return value


MetadataKey = Annotated[
    StrictStr,
    AfterValidator(_check_key),
    WithJsonSchema({"type": "string", "pattern": METADATA_KEY}),
]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Rule(BaseModel):
    model_config = STRICT_FROZEN
    to: Annotated[StrictStr, Field(min_length=1)]
    from_: Annotated[
        list[MetadataKey],
        BeforeValidator(_as_list),
        Field(min_length=1, alias="from"),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "pattern": METADATA_KEY},
                    {"type": "array", "items": {"type": "string", "pattern": METADATA_KEY}},
                ]
            }
        ),
    ]
    strategy: Strategy = "replace"
    lang: Annotated[StrictStr, Field(pattern=r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")] = "x-default"
    join: StrictStr = ", "


class Mapping(BaseModel):
    model_config = STRICT_FROZEN
    version: Version
    description: OneLine | None = None
    objecttypes: list[Annotated[StrictStr, Field(min_length=1)]] = Field(min_length=1)
    rules: list[Rule] = Field(min_length=1)


def mapping_name_problem(name: str) -> str | None:
    if re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", name):
        return None
    return f"mapping name '{name}' (from the file name) may only use letters, digits, '-', '_'"


def check_mapping(mapping: Mapping, model: DataModel | None, out: Collector) -> None:
    """Targets exist in every objecttype of the profile and fit their strategy."""
    seen: set[str] = set()
    for i, rule in enumerate(mapping.rules):
        if rule.to in seen:
            out.error(("rules", i, "to"), f"field '{rule.to}' is the target of an earlier rule")
        seen.add(rule.to)
    if model is None:
        return
    for j, name in enumerate(mapping.objecttypes):
        objecttype = model.objecttype_names.get(name)
        if objecttype is None:
            hint = suggest(name, model.objecttype_names)
            out.error(("objecttypes", j), f"unknown objecttype '{name}'{hint}")
            continue
        for i, rule in enumerate(mapping.rules):
            field = objecttype.field(rule.to)
            if field is None:
                names = [f.name for f in objecttype.fields]
                hint = suggest(rule.to, names)
                out.error(("rules", i, "to"), f"objecttype '{name}' has no field '{rule.to}'{hint}")
            elif field.type == "file":
                out.error(("rules", i, "to"), f"'{rule.to}' is a file field; map to data fields")
            elif rule.strategy == "append" and not field.multiple:
                out.error(
                    ("rules", i, "strategy"),
                    f"'append' needs a multiple field; '{name}.{rule.to}' holds one value",
                )
