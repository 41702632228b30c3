"""`runner store init|import|export|search|restore|seed`: the embedded object store."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.commands.config import Workspace, open_store
from runner.errors import ConfigError, InvalidFile, RunnerError
from runner.spec.datamodel import DataModel
from runner.spec.diagnostics import Collector
from runner.spec.files import validate_model
from runner.spec.search import SearchRequest
from runner.spec.yamlsafe import YamlSyntaxError, load
from runner.store.base import ImportReport, InitReport, SearchResult, Store, WriteResult
from runner.store.errors import SearchError
from runner.store.seed import SeedPlan, default_file_count, generate


def _model(workspace: Workspace) -> DataModel:
    model = workspace.datamodel
    if model is None:
        where = workspace.config.datamodel_path or workspace.config.base / "datamodel.yaml"
        raise ConfigError(f"no data model: {where} does not exist (runner init writes one)")
    return model


def init_store(workspace: Workspace) -> InitReport:
    store = open_store(workspace.config, upgrade=True)
    try:
        return store.init(_model(workspace))
    finally:
        store.close()


def default_importer(store: Store, requested: str | None) -> str:
    """Imports are attributed to `--as`, else to the first user holding system.root."""
    model = store.model
    if requested is not None:
        return requested
    roots = [u.name for u in model.users if "system.root" in model.system_rights(u.name)]
    if not roots:
        raise RunnerError("no user holds system.root in the data model; name one with --as")
    return roots[0]


def import_lines(
    workspace: Workspace, lines: Iterable[str], *, user: str | None, now: datetime
) -> ImportReport:
    store = open_store(workspace.config)
    try:
        return store.import_records(lines, user=default_importer(store, user), now=now)
    finally:
        store.close()


def export_lines(workspace: Workspace) -> Iterator[str]:
    store = open_store(workspace.config)
    try:
        yield from store.export()
    finally:
        store.close()


def parse_request(text: str, source: str) -> SearchRequest:
    """A search request file (YAML or JSON); errors carry line and column like `runner check`."""
    out = Collector()
    try:
        data, _ = load(text)
    except YamlSyntaxError as exc:
        raise InvalidFile(source, [f"{exc.line}:{exc.column}: {exc.message}"]) from None
    request = validate_model(SearchRequest, data, out)
    if request is None:
        positions = load(text, positions=True)[1]
        raise InvalidFile(source, [str(d) for d in out.resolve(positions)])
    result: SearchRequest = request
    return result


def search(
    workspace: Workspace,
    text: str,
    source: str,
    *,
    user: str,
    limit: int,
    now: datetime,
) -> SearchResult:
    request = parse_request(text, source)
    store = open_store(workspace.config)
    try:
        return store.search(request, user=user, now=now, timezone="UTC", limit=limit)
    except SearchError as exc:
        raise InvalidFile(source, [_placed(text, exc)]) from None
    finally:
        store.close()


def _placed(text: str, exc: SearchError) -> str:
    _, positions = load(text, positions=True)
    assert positions is not None
    line, column = positions.of_value(exc.path)
    return f"{line}:{column}: {exc.detail} [{'.'.join(str(p) for p in exc.path)}]"


def restore_run(
    workspace: Workspace, run_id: str, *, user: str | None, now: datetime
) -> WriteResult:
    store = open_store(workspace.config)
    try:
        return store.restore_run(run_id, user=default_importer(store, user), now=now)
    finally:
        store.close()


@dataclass(frozen=True)
class SeedReport:
    init: InitReport
    imported: ImportReport
    files: int
    assets_dir: Path


def seed(
    workspace: Workspace, *, objects: int, seed_value: int, files: int | None, now: datetime
) -> SeedReport:
    """Create (or update) the store from the data model and fill it with seeded objects."""
    model = _model(workspace)
    store = open_store(workspace.config, upgrade=True)
    try:
        init = store.init(model)
        assets_dir = Path(getattr(store, "assets_dir", workspace.config.base / ".runner/assets"))
        plan = SeedPlan(
            objects,
            seed_value,
            now,
            default_file_count(objects) if files is None else files,
            assets_dir,
        )
        with_files = 0

        def lines() -> Iterator[str]:
            nonlocal with_files
            for record in generate(model, plan):
                with_files += any(
                    "sha256" in str(v) for v in record[record["_objecttype"]].values()
                )
                yield json.dumps(record, ensure_ascii=False)

        imported = store.import_records(lines(), user=default_importer(store, None), now=now)
    finally:
        store.close()
    return SeedReport(init, imported, with_files, assets_dir)


def record_row(record: dict[str, Any], model: DataModel | None) -> dict[str, str]:
    """One line of `runner store search`'s text table."""
    from runner.modules.search import cell, title_of

    objecttype = record.get("_objecttype", "")
    body = record.get(objecttype, {})
    pool = body.get("_pool", {}).get("pool", {}).get("_id")
    title = title_of(record, model) if model else None
    return {
        "id": str(record.get("_system_object_id")),
        "objecttype": objecttype,
        "title": cell(title),
        "pool": cell(pool),
        "tags": cell([t["_id"] for t in record.get("_tags", [])]),
        "trashed": "yes" if record.get("_latest_version_deleted_at") else "",
    }
