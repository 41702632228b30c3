"""The rows that make an object searchable, derived from its field values.

- values: one row per distinct value of a string, number, date, boolean or file field
  (dates as instants, booleans as 0/1, files by path), so `in` and `range` use an index;
- texts: one full-text row per value of a text or string field;
- terms: the vocabulary of those texts, which wildcard patterns are matched against;
- assets: one row per file value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner.store.catalog import Catalog, FieldInfo, text_rowid
from runner.store.dates import stored_instant
from runner.store.text import vocabulary

ValueRow = tuple[int, Any, int]
TextRow = tuple[int, str]
AssetRow = tuple[int, int, int, str, int | None, str | None, str | None]


def _path(value: Any) -> Any:
    return value["path"]


INDEX_VALUE: dict[str, Callable[[Any], Any] | None] = {
    "date": stored_instant,
    "boolean": int,
    "file": _path,
    "string": None,  # stored as is
    "number": None,
}


@dataclass(frozen=True)
class _Plan:
    """What to do with one field's values, worked out once per batch (imports are hot)."""

    id: int
    multiple: bool
    indexed: bool
    convert: Callable[[Any], Any] | None
    text: bool
    file: bool

    @classmethod
    def of(cls, info: FieldInfo) -> _Plan:
        convert = INDEX_VALUE.get(info.type)
        return cls(
            info.id,
            info.multiple,
            info.indexed_value,
            convert,
            info.searchable_text,
            info.type == "file",
        )


class IndexRows:
    """Rows of a batch of objects, to be written with one executemany per table."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.values: list[ValueRow] = []
        self.texts: list[TextRow] = []
        self.assets: list[AssetRow] = []
        self._plans: dict[str, dict[str, _Plan]] = {}

    def terms(self) -> set[str]:
        # One pass over the batch's text: far faster than tokenizing value by value.
        return vocabulary("\n".join(text for _, text in self.texts))

    def add(self, objecttype: str, object_id: int, data: dict[str, Any]) -> None:
        plans = self._plans.get(objecttype)
        if plans is None:
            fields = self.catalog.fields_of(objecttype)
            plans = self._plans[objecttype] = {name: _Plan.of(f) for name, f in fields.items()}
        for name, value in data.items():
            plan = plans.get(name)
            if plan is None:
                continue
            if plan.multiple:
                self._add(plan, object_id, value)
            else:
                self._add_one(plan, object_id, value)

    def _add_one(self, plan: _Plan, object_id: int, value: Any) -> None:
        """`_add` for a single value, without the set and generators (the common case)."""
        if plan.indexed:
            convert = plan.convert
            self.values.append((plan.id, value if convert is None else convert(value), object_id))
        if plan.text:
            self.texts.append((text_rowid(object_id, plan.id, 0), value))
        elif plan.file:
            self._add(plan, object_id, (value,))

    def _add(self, plan: _Plan, object_id: int, values: Any) -> None:
        if plan.indexed:
            convert = plan.convert
            distinct = set(values) if convert is None else {convert(v) for v in values}
            self.values.extend((plan.id, v, object_id) for v in distinct)
        if plan.text:
            base = text_rowid(object_id, plan.id, 0)
            self.texts.extend((base | index, text) for index, text in enumerate(values))
        elif plan.file:
            self.assets.extend(
                (object_id, plan.id, i, v["path"], v.get("size"), v.get("sha256"), v.get("mime"))
                for i, v in enumerate(values)
            )
