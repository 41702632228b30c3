"""search: run the search and keep the hit list: a CSV of every hit next to the run's log
(`<run id>.csv`) and the first `max_rows` rows for the email summary. Changes nothing."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, Any

from runner.modules.base import BATCH_SIZE, BatchOutcome, RunContext
from runner.spec.datamodel import DataModel
from runner.spec.task import SearchTask
from runner.store.base import Record

DEFAULT_FIELDS = ("_system_object_id", "_objecttype", "title")
TITLE_NAMES = ("title", "name", "doc_number")


def record_value(record: Record, name: str) -> Any:
    """A field's value in a fylr record: system fields, `<ot>._id`, pools, `<ot>.<field>`."""
    if name == "_tags._id":
        return [tag["_id"] for tag in record.get("_tags", [])]
    if name == "_owner.user._id":
        return record.get("_owner", {}).get("user", {}).get("_id")
    if name == "_changelog.date_created":
        return [entry.get("date_created") for entry in record.get("_changelog", [])]
    if name.startswith("_"):
        return record.get(name)
    objecttype, _, rest = name.partition(".")
    body = record.get(objecttype)
    if not isinstance(body, dict):
        return None
    if rest in ("_pool.pool._id", "_pool._path.pool._id"):
        return body.get("_pool", {}).get("pool", {}).get("_id")
    return body.get(rest)


def title_of(record: Record, model: DataModel) -> Any:
    """A title-like field of the record's objecttype: title, name, else the first text field."""
    objecttype = model.objecttype_names.get(record.get("_objecttype", ""))
    if objecttype is None:
        return None
    names = [f.name for f in objecttype.fields if f.name in TITLE_NAMES]
    names += [f.name for f in objecttype.fields if f.type == "text"]
    body = record.get(objecttype.name, {})
    return next((body[n] for n in names if body.get(n) not in (None, "")), None)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return str(value.get("path", value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Search:
    batch_size = BATCH_SIZE  # it renders each hit's record

    def __init__(self) -> None:
        self.fields: list[str] = []
        self.rows: list[dict[str, str]] = []
        self.hits = 0
        self.csv_path: Path | None = None
        self._file: IO[str] | None = None
        self._writer: Any = None

    def start(self, ctx: RunContext) -> None:
        assert isinstance(ctx.spec, SearchTask)
        self.fields = list(ctx.spec.params.fields or DEFAULT_FIELDS)
        self.csv_path = ctx.run_dir / f"{ctx.run_id}.csv"
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.csv_path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(self.fields)

    def apply(self, ctx: RunContext, ids: list[int]) -> BatchOutcome:
        assert isinstance(ctx.spec, SearchTask)
        model = ctx.store.model
        for record in ctx.store.get(ids):
            row = {name: cell(self._value(record, name, model)) for name in self.fields}
            self._writer.writerow([row[name] for name in self.fields])
            if len(self.rows) < ctx.spec.params.max_rows:
                self.rows.append(row)
        self.hits += len(ids)
        return BatchOutcome(unchanged=list(ids))

    def _value(self, record: Record, name: str, model: DataModel) -> Any:
        if name == "title" and "title" not in record:
            return title_of(record, model)
        return record_value(record, name)

    def finish(self, ctx: RunContext) -> dict[str, Any]:
        if self._file is not None:
            self._file.close()
        return {
            "csv": str(self.csv_path),
            "fields": self.fields,
            "rows": self.rows,
            "hits": self.hits,
        }
