"""`runner schema`: the JSON Schemas of every file runner reads, for editors and CI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from runner.spec.config import RunnerConfig
from runner.spec.datamodel import DataModel
from runner.spec.mapping import Mapping
from runner.spec.task import task_json_schema

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema, generated from the models (the single source of truth)."""
    generated = {
        "task.schema.json": ("runner task file", task_json_schema()),
        "runner.schema.json": ("runner.yaml", TypeAdapter(RunnerConfig).json_schema(by_alias=True)),
        "mapping.schema.json": (
            "metadata mapping profile",
            TypeAdapter(Mapping).json_schema(by_alias=True),
        ),
        "datamodel.schema.json": (
            "datamodel.yaml",
            TypeAdapter(DataModel).json_schema(by_alias=True),
        ),
    }
    return {
        name: {"$schema": DIALECT, "title": title, **body}
        for name, (title, body) in generated.items()
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class SchemaResult:
    written: list[Path]
    unchanged: list[Path]


def write_schemas(directory: Path) -> SchemaResult:
    directory.mkdir(parents=True, exist_ok=True)
    written, unchanged = [], []
    for name, schema in schemas().items():
        path = directory / name
        text = render(schema)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            unchanged.append(path)
            continue
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return SchemaResult(written, unchanged)
